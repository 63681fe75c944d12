"""The columns of every CSV DeepFER writes, and the rows for them, derived from
:class:`~deepfer.faces.Faces` in this one place (readers turn rows back into ``Faces``)."""

from __future__ import annotations

from pathlib import Path

from deepfer.faces import FACE_COLUMNS, Faces, empty_row
from deepfer.labels import EMOTIONS

#: ``DIR/<video-stem>.csv``: one row per (frame, face) and one per analyzed frame with no face.
VIDEO_COLUMNS: tuple[str, ...] = ("frame", "timestamp_s", *FACE_COLUMNS)
#: Extra columns of a video CSV written with ``--smooth K`` (K > 1).
SMOOTH_COLUMNS: tuple[str, ...] = tuple(f"smooth_{e}" for e in EMOTIONS)
#: ``DIR/images.csv``: one row per (image, face) and one per image with no face.
IMAGE_COLUMNS: tuple[str, ...] = ("path", *FACE_COLUMNS)
#: ``DIR/errors.csv``: every input that could not be processed, with a readable reason.
ERROR_COLUMNS: tuple[str, ...] = ("path", "error")
#: ``skipped.csv``: files found in input folders and not analyzed.
SKIPPED_COLUMNS: tuple[str, ...] = ("path", "reason")


def video_columns(smooth: int) -> tuple[str, ...]:
    """The header of a video CSV analyzed with ``smooth`` frames of smoothing."""
    return VIDEO_COLUMNS + (SMOOTH_COLUMNS if smooth > 1 else ())


def video_rows(index: int, timestamp_s: float, faces: Faces, smooth: int) -> list[dict]:
    """The rows of one analyzed frame: one per face (``smooth_*`` columns from ``faces.smoothed`` when
    ``smooth > 1``), or one empty row when the frame has no face."""
    head = {"frame": index, "timestamp_s": round(timestamp_s, 6)}
    extra = SMOOTH_COLUMNS if smooth > 1 else ()
    if len(faces) == 0:
        return [{**head, **empty_row(), **{c: "" for c in extra}}]
    rows = []
    for i, r in enumerate(faces.rows()):
        row = {**head, **r}
        if extra:
            row.update({f"smooth_{e}": round(float(p), 6) for e, p in zip(EMOTIONS, faces.smoothed[i])})
        rows.append(row)
    return rows


def image_rows(path: str | Path, faces: Faces) -> list[dict]:
    """The rows of one image: one per face, or one empty row when it has none."""
    return [{"path": str(path), **r} for r in faces.rows()] or [{"path": str(path), **empty_row()}]


def error_row(path: str | Path, message: str) -> dict:
    return {"path": str(path), "error": message}
