"""Running the ``batch`` module on files uploaded to the Batch explorer."""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deepfer.config import MAX_BATCH_UPLOAD_MB, MAX_UPLOAD_MB, dashboard_workdir
from deepfer.errors import DeepFERError
from deepfer.media import media_kind

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = MAX_BATCH_UPLOAD_MB * 1024 * 1024


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^\w.\-]+", "_", Path(name).name).strip("._") or "upload"
    return stem[:120]


@dataclass(frozen=True)
class UploadRun:
    """A batch run on uploads: its output folder, and the uploads refused before the run with the reason
    (``(name, reason)``: empty, over the size limit); the batch reports unreadable files in ``errors.csv``."""

    out_dir: Path
    refused: list[tuple[str, str]] = field(default_factory=list)


def upload_problem(size: int, name: str = "") -> str | None:
    """Why an upload of ``size`` bytes named ``name`` cannot go into a batch run, or ``None`` when it can:
    an image has the same size limit as everywhere else (:data:`~deepfer.config.MAX_UPLOAD_MB`), a video
    (or a file of another type, which the batch then reports) the Batch explorer's larger one."""
    if size == 0:
        return "empty file (0 bytes)"
    limit = MAX_UPLOAD_MB * 1024 * 1024 if media_kind(name) == "image" else MAX_UPLOAD_BYTES
    if size > limit:
        return f"{size / 1e6:.0f} MB; the limit is {limit / 1e6:.0f} MB"
    return None


def _unique(folder: Path, name: str, taken: set[str]) -> Path:
    """``folder / name``, with ``_2``, ``_3``... before the suffix when an earlier upload already has that name."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, k = name, 1
    while candidate.lower() in taken:
        k += 1
        candidate = f"{stem}_{k}{suffix}"
    taken.add(candidate.lower())
    return folder / candidate


def save_uploads(files, folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Write uploaded files (objects with ``.name`` and ``.getvalue()``) into ``folder``: the paths written, and
    ``(name, reason)`` for each upload refused (:func:`upload_problem`); one bad upload never refuses the others."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, refused, taken = [], [], set()
    for f in files:
        data = f.getvalue()
        problem = upload_problem(len(data), f.name)
        if problem is not None:
            log.info("upload %s refused: %s", f.name, problem)
            refused.append((f.name, problem))
            continue
        p = _unique(folder, _safe_name(f.name), taken)
        p.write_bytes(data)
        paths.append(p)
    return paths, refused


def run_uploads(files, *, stride: int = 1, smooth: int = 0, annotate: bool = True, detector: str | None = None,
                on_progress: Callable[[float, str], None] | None = None, workdir: Path | None = None) -> UploadRun:
    """Save the uploads, run ``batch.engines.local.run_batch`` on them: the output folder and the refused uploads.

    Each run gets a new folder under ``workdir`` (default ``$DEEPFER_DASHBOARD_WORKDIR`` or
    ``<tmp>/deepfer-dashboard``): ``inputs/`` (the uploads) and ``output/`` (the batch results).

    Uploads that are empty or too large are left out and listed in :attr:`UploadRun.refused`; inputs that
    cannot be read end up in the output's ``errors.csv`` (the batch's own handling).  No usable upload at all,
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
    inputs, refused = save_uploads(files, run_dir / "inputs")
    if not inputs:
        raise DeepFERError("no upload could be used: " + "; ".join(f"{name}: {why}" for name, why in refused))
    out_dir = run_dir / "output"
    try:
        run_batch(inputs, out_dir, pipeline=load_pipeline(detector=detector), stride=stride, smooth=smooth, annotate=annotate,
                  progress=False, on_progress=on_progress)
    except DeepFERError:
        raise
    except Exception as exc:  # shown on the page as a message, with the details in the server log
        log.exception("batch run on uploads failed")
        raise DeepFERError(f"the batch run failed ({type(exc).__name__}: {exc})") from None
    return UploadRun(out_dir, refused)
