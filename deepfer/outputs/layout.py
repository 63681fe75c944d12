"""The output folder's layout: every file name DeepFER writes there, in one place, for writers and readers.

    <stem>.csv             one row per (frame, face) of a video   (deepfer.outputs.columns)
    <stem>.summary.json    share of time and segments per face      (deepfer.outputs.summary)
    <stem>.annotated.mp4   the video with boxes and labels drawn
    images.csv             one row per (image, face) of all images
    errors.csv             every input that could not be processed
    skipped.csv            files found in input folders and not analyzed (not media, hidden), with the reason
    manifest.json          which input and settings made each output (``python -m batch --resume`` reads it)
    report.html            with ``--report``: charts and tables of the whole folder, self-contained

While a file is written it has a ``.tmp`` name part (``clip.tmp.csv``); no output stem may contain
one (:func:`reserved_stem`), so finished and unfinished files of different inputs never share a name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGES_CSV = "images.csv"
ERRORS_CSV = "errors.csv"
SKIPPED_CSV = "skipped.csv"
MANIFEST_JSON = "manifest.json"
#: ``--report``: the whole folder as one self-contained HTML page (:mod:`deepfer.outputs.report`).
REPORT_HTML = "report.html"
#: Held by the run writing into the folder (``batch.manifest.FolderLock``).
LOCK_FILE = ".deepfer-run.lock"
#: The run's own files: never inputs, never a video's output names.
RUN_FILES = (IMAGES_CSV, ERRORS_CSV, SKIPPED_CSV, MANIFEST_JSON, LOCK_FILE, REPORT_HTML)
#: Video stems that would collide with the run's own files.
RESERVED_STEMS = frozenset(Path(name).stem for name in RUN_FILES)
#: The name part of files still being written (``deepfer.fileio.tmp_path``).
TMP_PART = "tmp"
CSV_SUFFIX = ".csv"
SUMMARY_SUFFIX = ".summary.json"
ANNOTATED_SUFFIX = ".annotated.mp4"


@dataclass(frozen=True)
class VideoOutputs:
    """The files of one analyzed video (``annotated_path`` is ``None`` when none was asked for)."""

    csv_path: Path
    summary_path: Path
    annotated_path: Path | None = None

    @property
    def stem(self) -> str:
        return self.csv_path.name.removesuffix(CSV_SUFFIX)

    def files(self) -> list[Path]:
        return [p for p in (self.csv_path, self.summary_path, self.annotated_path) if p is not None]


def video_outputs(out_dir: str | Path, stem: str, annotated: bool = True) -> VideoOutputs:
    """Where the video with output stem ``stem`` has (or gets) its files in ``out_dir``."""
    out_dir = Path(out_dir)
    return VideoOutputs(out_dir / f"{stem}{CSV_SUFFIX}", out_dir / f"{stem}{SUMMARY_SUFFIX}",
                        out_dir / f"{stem}{ANNOTATED_SUFFIX}" if annotated else None)


def reserved_stem(stem: str) -> bool:
    """Whether a video may not use output stem ``stem``: a run file's stem (``errors``, ``images``...,
    any case) or a name with a ``.tmp`` part, which an unfinished file of another stem could have."""
    low = stem.lower()
    return low in RESERVED_STEMS or TMP_PART in low.split(".")[1:] or not stem or stem.startswith(".")


def is_run_file(name: str) -> bool:
    """Whether a file name in an output folder is one of the run's own files or an unfinished file."""
    return name in RUN_FILES or TMP_PART in name.lower().split(".")[1:]


def video_stem_of(csv_path: str | Path) -> str | None:
    """The video stem of a per-video CSV in an output folder; ``None`` for the run's own CSVs and temp files."""
    name = Path(csv_path).name
    if is_run_file(name) or not name.endswith(CSV_SUFFIX):
        return None
    return name.removesuffix(CSV_SUFFIX)
