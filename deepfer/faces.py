"""The one result type: faces found in one image or frame.

:class:`Faces` is produced by a detector (boxes, scores), completed by the classifier
(probabilities) and the tracker (ids), and consumed unchanged by the CSV writers, the annotator,
the dashboard and the Gradio API.  Column names for tabular output are derived here, once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from deepfer.labels import EMOTIONS
from deepfer.state import stateful

#: Per-face columns, in this order, of every CSV DeepFER writes.
FACE_COLUMNS: tuple[str, ...] = ("face_id", "x", "y", "w", "h", "det_score", *EMOTIONS, "emotion", "confidence")


@stateful
@dataclass(frozen=True)
class Faces:
    """Faces in one image: ``N`` boxes ``(x, y, w, h)`` in pixels, detector scores, and, once
    classified, ``(N, 7)`` probabilities in :data:`EMOTIONS` order; ``track_ids`` are ``-1``
    until a tracker assigns them; ``smoothed`` holds each face's probabilities averaged over its
    recent frames once a stream analyzer has smoothed them (``None`` for a single image);
    ``landmarks`` ``(N, 5, 2)`` float32 are the detector's five points per face, ``(x, y)`` in the
    image's pixels, in YuNet's order (the person's right eye, left eye, nose tip, right and left
    mouth corners), or ``None`` when the detector gives none.  ``emotion_ids`` is each face's emotion as
    decided over time (:mod:`deepfer.analysis.temporal`) in a video, ``None`` for a single image: then the
    emotion is the argmax of ``probs``.  :attr:`labels` and :attr:`confidences` are what every output
    shows.  Index with an int, slice or boolean mask."""

    boxes: np.ndarray
    det_scores: np.ndarray
    probs: np.ndarray | None = None
    track_ids: np.ndarray | None = None
    smoothed: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    emotion_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.int32).reshape(-1, 4)
        n = len(boxes)
        scores = np.asarray(self.det_scores, dtype=np.float32).reshape(-1)
        if len(scores) != n:
            raise ValueError(f"{n} boxes but {len(scores)} detector scores")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "det_scores", scores)
        if self.probs is not None:
            probs = np.asarray(self.probs, dtype=np.float32).reshape(-1, len(EMOTIONS))
            if len(probs) != n:
                raise ValueError(f"{n} boxes but {len(probs)} probability rows")
            object.__setattr__(self, "probs", probs)
        if self.smoothed is not None:
            smoothed = np.asarray(self.smoothed, dtype=np.float32).reshape(-1, len(EMOTIONS))
            if len(smoothed) != n:
                raise ValueError(f"{n} boxes but {len(smoothed)} smoothed probability rows")
            object.__setattr__(self, "smoothed", smoothed)
        if self.landmarks is not None:
            landmarks = np.asarray(self.landmarks, dtype=np.float32).reshape(-1, 5, 2)
            if len(landmarks) != n:
                raise ValueError(f"{n} boxes but {len(landmarks)} landmark rows")
            object.__setattr__(self, "landmarks", landmarks)
        if self.emotion_ids is not None:
            emotions = np.asarray(self.emotion_ids, dtype=np.int64).reshape(-1)
            if len(emotions) != n:
                raise ValueError(f"{n} boxes but {len(emotions)} decided emotions")
            object.__setattr__(self, "emotion_ids", emotions)
        ids = np.full(n, -1, np.int64) if self.track_ids is None else np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
        if len(ids) != n:
            raise ValueError(f"{n} boxes but {len(ids)} track ids")
        object.__setattr__(self, "track_ids", ids)

    @classmethod
    def empty(cls) -> Faces:
        return cls(np.zeros((0, 4), np.int32), np.zeros(0, np.float32), np.zeros((0, len(EMOTIONS)), np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: Any) -> Faces:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Faces(
            self.boxes[index],
            self.det_scores[index],
            None if self.probs is None else self.probs[index],
            self.track_ids[index],
            None if self.smoothed is None else self.smoothed[index],
            None if self.landmarks is None else self.landmarks[index],
            None if self.emotion_ids is None else self.emotion_ids[index],
        )

    @property
    def classified(self) -> bool:
        return self.probs is not None

    def _need_probs(self) -> np.ndarray:
        if self.probs is None:
            raise ValueError("these faces are not classified yet (probs is None)")
        return self.probs

    @property
    def label_ids(self) -> np.ndarray:
        """The emotion shown for each face: the one decided over time when there is one, else the argmax."""
        if self.emotion_ids is not None:
            return self.emotion_ids
        return self._need_probs().argmax(axis=1) if len(self) else np.zeros(0, np.int64)

    @property
    def labels(self) -> list[str]:
        return [EMOTIONS[i] for i in self.label_ids]

    @property
    def shown_probs(self) -> np.ndarray:
        """The probabilities behind :attr:`labels`: the smoothed ones in a video, else the frame's own."""
        return self.smoothed if self.smoothed is not None else self._need_probs()

    @property
    def confidences(self) -> np.ndarray:
        """Each face's probability of its shown emotion (:attr:`label_ids`, in :attr:`shown_probs`)."""
        if not len(self):
            return np.zeros(0, np.float32)
        return self.shown_probs[np.arange(len(self)), self.label_ids]

    @property
    def raw_label_ids(self) -> np.ndarray:
        """The frame's own argmax, whatever was decided over time (the raw view)."""
        return self._need_probs().argmax(axis=1) if len(self) else np.zeros(0, np.int64)

    def with_probs(self, probs: np.ndarray) -> Faces:
        return replace(self, probs=probs)

    def with_track_ids(self, ids: np.ndarray) -> Faces:
        return replace(self, track_ids=ids)

    def with_smoothed(self, smoothed: np.ndarray) -> Faces:
        return replace(self, smoothed=smoothed)

    def with_emotions(self, emotion_ids: np.ndarray) -> Faces:
        return replace(self, emotion_ids=emotion_ids)

    def scaled(self, factor: float) -> Faces:
        """Boxes (and landmarks) multiplied by ``factor`` (e.g. detection on a downscaled frame)."""
        landmarks = None if self.landmarks is None else self.landmarks * np.float32(factor)
        return replace(self, boxes=np.round(self.boxes * factor).astype(np.int32), landmarks=landmarks)

    def to_records(self) -> list[dict]:
        """JSON-ready list, one dict per face (the Gradio ``/predict`` shape)."""
        out = []
        probs = self._need_probs()
        for i in range(len(self)):
            rec = {
                "box": [int(v) for v in self.boxes[i]],
                "det_score": float(self.det_scores[i]),
                "probabilities": {e: float(p) for e, p in zip(EMOTIONS, probs[i])},
                "emotion": EMOTIONS[int(probs[i].argmax())],
                "confidence": float(probs[i].max()),
            }
            if self.track_ids[i] >= 0:
                rec["face_id"] = int(self.track_ids[i])
            out.append(rec)
        return out

    def rows(self) -> list[dict]:
        """One dict per face keyed by :data:`FACE_COLUMNS`: the frame's own probabilities (rounded to 6
        places), and the shown emotion with its confidence (:attr:`labels`, :attr:`confidences`)."""
        probs = self._need_probs()
        labels, confidences = self.label_ids, self.confidences
        out = []
        for i in range(len(self)):
            x, y, w, h = (int(v) for v in self.boxes[i])
            row: dict[str, Any] = {"face_id": int(self.track_ids[i]) if self.track_ids[i] >= 0 else "",
                                   "x": x, "y": y, "w": w, "h": h, "det_score": round(float(self.det_scores[i]), 4)}
            row.update({e: round(float(p), 6) for e, p in zip(EMOTIONS, probs[i])})
            row["emotion"] = EMOTIONS[int(labels[i])]
            row["confidence"] = round(float(confidences[i]), 6)
            out.append(row)
        return out


def empty_row() -> dict:
    """The per-face columns of an image or frame with no face: all empty."""
    return {c: "" for c in FACE_COLUMNS}


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``(x, y, w, h)``: shape ``(len(a), len(b))``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(ax1[:, None], bx1[None]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(ay1[:, None], by1[None]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
