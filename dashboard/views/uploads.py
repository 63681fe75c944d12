"""Running the ``batch`` module on files uploaded to the Batch explorer."""

from __future__ import annotations

import logging
import re
import shutil
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
#: Run folders (``batch-*``) under the dashboard's work folder older than this are deleted when a new run starts.
KEEP_RUNS_S = 24 * 3600
#: The prefix of every run folder :func:`run_uploads` makes (and the only folders it ever deletes).
RUN_PREFIX = "batch-"


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


def prune_runs(root: Path, keep_s: float = KEEP_RUNS_S, now: float | None = None) -> list[Path]:
    """Delete the run folders (``batch-*``, not symbolic links) directly under ``root`` last modified more than
    ``keep_s`` seconds ago: the deleted folders."""
    now = time.time() if now is None else now
    gone = []
    if not root.is_dir():
        return gone
    for run in root.glob(RUN_PREFIX + "*"):
        try:
            if run.is_dir() and not run.is_symlink() and now - run.stat().st_mtime > keep_s:
                shutil.rmtree(run)
                gone.append(run)
        except OSError as exc:
            log.warning("could not delete the old dashboard run %s: %s", run, exc)
    return gone


def run_folder_of(out_dir: str | Path, workdir: Path | None = None) -> Path | None:
    """The run folder (``<workdir>/batch-...``) holding the output folder ``out_dir`` of :func:`run_uploads`, or
    ``None`` when ``out_dir`` is not one (a batch output made elsewhere, which the dashboard never deletes)."""
    root = Path(workdir or dashboard_workdir()).expanduser().resolve()
    given = Path(out_dir).expanduser()
    out = given.resolve()
    run = out.parent
    if out.name == "output" and run.parent == root and run.name.startswith(RUN_PREFIX) and not given.is_symlink():
        return run
    return None


def delete_run(out_dir: str | Path, workdir: Path | None = None) -> Path:
    """Delete the run folder of :func:`run_uploads` holding ``out_dir`` (its outputs, any inputs left): the folder
    deleted.  DeepFERError for a folder that is not a dashboard upload run."""
    run = run_folder_of(out_dir, workdir)
    if run is None:
        raise DeepFERError(f"{out_dir} is not a run of uploads made by this dashboard: it is not deleted")
    shutil.rmtree(run, ignore_errors=True)
    if run.exists():
        raise DeepFERError(f"{run} could not be deleted entirely")
    return run


def run_uploads(files, *, stride: int = 1, smooth_s: float | None = None, annotate: bool = True, detector: str | None = None,
                on_progress: Callable[[float, str], None] | None = None, workdir: Path | None = None) -> UploadRun:
    """Save the uploads, run ``batch.engines.local.run_batch`` on them: the output folder and the refused uploads.

    Each run gets a new folder under ``workdir`` (default ``$DEEPFER_DASHBOARD_WORKDIR`` or
    ``<tmp>/deepfer-dashboard``): ``inputs/`` (the copies of the uploads, deleted when the run ends, whether it
    succeeded or failed) and ``output/`` (the batch results, kept for the explorer until :func:`delete_run` or
    until a run started more than :data:`KEEP_RUNS_S` later deletes them, :func:`prune_runs`).  The outputs
    still name the deleted inputs' paths (``manifest.json``, ``images.csv``); the explorer does without them.

    Uploads that are empty or too large are left out and listed in :attr:`UploadRun.refused`; inputs that
    cannot be read end up in the output's ``errors.csv`` (the batch's own handling).  No usable upload at all,
    a missing ``batch`` module or a failure of the whole run raises :class:`DeepFERError`.
    """
    try:
        import batch.engines.local  # noqa: F401  (present in this installation?)
    except ImportError as exc:
        raise DeepFERError(f"the batch module is not available in this installation ({exc}); "
                           "open an existing batch output folder instead") from None
    root = Path(workdir or dashboard_workdir())
    root.mkdir(parents=True, exist_ok=True)
    prune_runs(root)
    run_dir = Path(tempfile.mkdtemp(prefix=time.strftime(RUN_PREFIX + "%Y%m%d-%H%M%S-"), dir=root))
    try:
        return _run(run_dir, files, stride, smooth_s, annotate, detector, on_progress)
    finally:  # the copies of the uploaded faces go as soon as the run ends, whatever its outcome
        shutil.rmtree(run_dir / "inputs", ignore_errors=True)
        if not (run_dir / "output").exists():
            shutil.rmtree(run_dir, ignore_errors=True)


def _run(run_dir: Path, files, stride, smooth_s, annotate, detector, on_progress) -> UploadRun:
    """The body of :func:`run_uploads` in its run folder."""
    from batch.engines.local import run_batch
    from dashboard.views.model import load_pipeline

    inputs, refused = save_uploads(files, run_dir / "inputs")
    if not inputs:
        raise DeepFERError("no upload could be used: " + "; ".join(f"{name}: {why}" for name, why in refused))
    out_dir = run_dir / "output"
    try:
        run_batch(inputs, out_dir, pipeline=load_pipeline(detector=detector), stride=stride, annotate=annotate,
                  **({} if smooth_s is None else {"smooth_s": smooth_s}),
                  progress=False, on_progress=on_progress)
    except DeepFERError:
        raise
    except Exception as exc:  # shown on the page as a message, with the details in the server log
        log.exception("batch run on uploads failed")
        raise DeepFERError(f"the batch run failed ({type(exc).__name__}: {exc})") from None
    return UploadRun(out_dir, refused)
