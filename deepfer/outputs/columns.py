"""The columns of every CSV DeepFER writes, and the rows for them, derived from
:class:`~deepfer.faces.Faces` in this one place (readers turn rows back into ``Faces``)."""

from __future__ import annotations

from pathlib import Path

from deepfer.faces import FACE_COLUMNS, Faces, empty_row
from deepfer.labels import EMOTIONS

#: The smoothed probabilities of a video face (:mod:`deepfer.analysis.temporal`).
SMOOTH_COLUMNS: tuple[str, ...] = tuple(f"smooth_{e}" for e in EMOTIONS)
#: ``DIR/<video-stem>.csv``: one row per (frame, face) and one per analyzed frame with no face.  The seven
#: emotion columns are the frame's own (raw) probabilities; ``emotion`` and ``confidence`` are the emotion
#: decided over time and its smoothed probability; ``raw_emotion`` is the frame's own argmax.
VIDEO_COLUMNS: tuple[str, ...] = ("frame", "timestamp_s", *FACE_COLUMNS, *SMOOTH_COLUMNS, "raw_emotion")
#: ``DIR/images.csv``: one row per (image, face) and one per image with no face.
IMAGE_COLUMNS: tuple[str, ...] = ("path", *FACE_COLUMNS)
#: ``DIR/errors.csv``: every input that could not be processed, with a readable reason.
ERROR_COLUMNS: tuple[str, ...] = ("path", "error")
#: ``skipped.csv``: files found in input folders and not analyzed.
SKIPPED_COLUMNS: tuple[str, ...] = ("path", "reason")


def video_rows(index: int, timestamp_s: float, faces: Faces) -> list[dict]:
    """The rows of one analyzed frame: one per face, or one empty row when the frame has no face."""
    head = {"frame": index, "timestamp_s": round(timestamp_s, 6)}
    if len(faces) == 0:
        return [{**head, **empty_row(), **{c: "" for c in SMOOTH_COLUMNS}, "raw_emotion": ""}]
    rows = []
    shown, raw = faces.shown_probs, faces.raw_label_ids
    for i, r in enumerate(faces.rows()):
        rows.append({**head, **r, **{f"smooth_{e}": round(float(p), 6) for e, p in zip(EMOTIONS, shown[i])},
                     "raw_emotion": EMOTIONS[int(raw[i])]})
    return rows


def image_rows(path: str | Path, faces: Faces) -> list[dict]:
    """The rows of one image: one per face, or one empty row when it has none.  A face's ``face_id`` is its
    number in the image, ``1``, ``2``, ... in the order of ``faces``: the number drawn on the annotated image
    (:func:`deepfer.analysis.annotate.face_tags`) and shown in the Home page's and Gradio's tables."""
    rows = [{"path": str(path), **r} for r in faces.rows()] or [{"path": str(path), **empty_row()}]
    for number, row in enumerate(rows[: len(faces)], start=1):
        if row["face_id"] == "":
            row["face_id"] = number
    return rows


def error_row(path: str | Path, message: str) -> dict:
    return {"path": str(path), "error": message}
