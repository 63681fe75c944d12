"""Running the ``batch`` module on files uploaded to the Batch explorer."""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from deepfer.config import MAX_BATCH_UPLOAD_MB, dashboard_workdir
from deepfer.errors import DeepFERError

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = MAX_BATCH_UPLOAD_MB * 1024 * 1024


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^\w.\-]+", "_", Path(name).name).strip("._") or "upload"
    return stem[:120]


def save_uploads(files, folder: Path) -> list[Path]:
    """Write uploaded files (objects with ``.name`` and ``.getvalue()``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in files:
        data = f.getvalue()
        if not data:
            raise DeepFERError(f"{f.name} is empty (0 bytes)")
        if len(data) > MAX_UPLOAD_BYTES:
            raise DeepFERError(f"{f.name} is {len(data) / 1e6:.0f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB")
        p = folder / _safe_name(f.name)
        p.write_bytes(data)
        paths.append(p)
    return paths


def run_uploads(files, *, stride: int = 1, smooth: int = 0, annotate: bool = True, detector: str | None = None,
                on_progress: Callable[[float, str], None] | None = None, workdir: Path | None = None) -> Path:
    """Save the uploads, run ``batch.engines.local.run_batch`` on them and return the output folder.

    Each run gets a new folder under ``workdir`` (default ``$DEEPFER_DASHBOARD_WORKDIR`` or
    ``<tmp>/deepfer-dashboard``): ``inputs/`` (the uploads) and ``output/`` (the batch results).

    Inputs that cannot be read end up in the output's ``errors.csv`` (the batch's own handling);
    a missing ``batch`` module or a failure of the whole run raises :class:`DeepFERError`.
    """
    try:
        from batch.engines.local import run_batch
    except ImportError as exc:
        raise DeepFERError(f"the batch module is not available in this installation ({exc}); "
                           "open an existing batch output folder instead") from None
    from dashboard.views.model import load_pipeline

    root = Path(workdir or dashboard_workdir())
    run_dir = Path(tempfile.mkdtemp(prefix=time.strftime("batch-%Y%m%d-%H%M%S-"), dir=root.mkdir(parents=True, exist_ok=True) or root))
    inputs = save_uploads(files, run_dir / "inputs")
    out_dir = run_dir / "output"
    try:
        run_batch(inputs, out_dir, pipeline=load_pipeline(detector=detector), stride=stride, smooth=smooth, annotate=annotate,
                  progress=False, on_progress=on_progress)
    except DeepFERError:
        raise
    except Exception as exc:  # shown on the page as a message, with the details in the server log
        log.exception("batch run on uploads failed")
        raise DeepFERError(f"the batch run failed ({type(exc).__name__}: {exc})") from None
    return out_dir
