"""The output folder's layout: every file name DeepFER writes there, in one place, for writers and readers.

    <stem>.csv             one row per (frame, face) of a video   (deepfer.outputs.columns)
    <stem>.summary.json    share of time and segments per face      (deepfer.outputs.summary)
    <stem>.annotated.mp4   the video with boxes and labels drawn
    images.csv             one row per (image, face) of all images
    errors.csv             every input that could not be processed
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGES_CSV = "images.csv"
ERRORS_CSV = "errors.csv"
#: Video stems that would collide with the run's own files.
RESERVED_STEMS = frozenset({Path(IMAGES_CSV).stem, Path(ERRORS_CSV).stem})
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


def video_stem_of(csv_path: str | Path) -> str | None:
    """The video stem of a per-video CSV in an output folder; ``None`` for the run's own CSVs and temp files."""
    name = Path(csv_path).name
    if name in (IMAGES_CSV, ERRORS_CSV) or not name.endswith(CSV_SUFFIX):
        return None
    return name.removesuffix(CSV_SUFFIX)
