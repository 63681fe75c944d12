"""Faces in a stream of frames, fast: a full detection every few frames, local re-detection between.

A full detector pass over a frame is the expensive step (the classifier is cheap).  Between full
passes each known face is looked for again only in a small window around its last box, on a
downscaled copy, which costs a fraction of a full pass and keeps the box on the face; a face
not re-found there is carried over from the previous frame for at most ``max_coast`` frames.
New faces appear at the next full pass (at most ``detect_every - 1`` frames late).
That is the Haar path.  YuNet is cheap enough on a small frame (about 6 ms at 320 px on one core
here) to run in full on every frame, so nothing is coasted or guessed between detections; other
detectors (MTCNN) also run in full on every frame.

This is the one stream detector of DeepFER: offline video and the live webcams use it with the
settings of :mod:`deepfer.analysis.stream` (``OFFLINE`` and ``LIVE``).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from deepfer.analysis.detect import FaceDetector, HaarDetector, YuNetDetector, suppress_overlaps
from deepfer.faces import Faces
from deepfer.preprocess import to_gray

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FinderSettings:
    """How a :class:`FaceFinder` searches a stream (a :class:`~deepfer.analysis.stream.StreamSettings` is one).

    ``detect_every``: a full Haar pass every N frames (YuNet and MTCNN: every frame); ``window``: the
    local search window around a known face, in face sizes; ``max_coast``: frames a face not re-found
    locally is carried over; ``full_max_side``: the longer side a frame is shrunk to for a full pass
    (Haar and YuNet); ``full_scale_factor`` / ``full_min_size_frac``: the Haar settings of a full pass on
    a video frame (a coarser pyramid on a smaller frame: faces in video are rarely tiny, and this also
    removes most one-off false positives, measured on ``street_phone.mp4``); ``None`` keeps the
    detector's own value.
    """

    detect_every: int = 10
    window: float = 1.8
    max_coast: int = 2
    full_max_side: int | None = 320
    full_scale_factor: float | None = 1.2
    full_min_size_frac: float | None = None


class FaceFinder:
    """``find(frame) -> Faces`` (boxes and scores, no probabilities), frame after frame."""

    STATE_ATTRS = ("_count", "_prev", "_coast")

    def __init__(self, detector: FaceDetector, settings: FinderSettings | None = None):
        s = settings if settings is not None else FinderSettings()
        self.detector = detector
        self.detect_every = max(1, int(s.detect_every))
        self.window = s.window
        self.max_coast = s.max_coast
        self._count = 0
        self._prev: Faces | None = None
        self._coast: np.ndarray = np.zeros(0, np.int64)
        if isinstance(detector, HaarDetector):
            full = {}
            if s.full_max_side is not None:
                full["max_side"] = min(detector.max_side, s.full_max_side)
            if s.full_scale_factor is not None:
                full["scale_factor"] = max(detector.scale_factor, s.full_scale_factor)
            if s.full_min_size_frac is not None:
                full["min_size_frac"] = s.full_min_size_frac
            self._full = dataclasses.replace(detector, **full)
            self._local = dataclasses.replace(detector, max_side=96, min_size_frac=0.4, min_size_px=8, scale_factor=1.1)
        elif isinstance(detector, YuNetDetector) and s.full_max_side is not None:
            self._full = dataclasses.replace(detector, max_side=min(detector.max_side, s.full_max_side))
            self._local = None
        else:
            self._full = detector
            self._local = None

    @property
    def name(self) -> str:
        return self.detector.name

    @property
    def stateless(self) -> bool:
        """Whether every frame gets a full detection of its own (no re-detection around earlier faces)."""
        return self._local is None

    def reset(self) -> None:
        """A new stream: the next frame gets a full pass."""
        self._count = 0
        self._prev = None
        self._coast = np.zeros(0, np.int64)

    def find(self, frame: np.ndarray) -> Faces:
        gray = to_gray(frame)
        full = self._local is None or self._prev is None or len(self._prev) == 0 or self._count % self.detect_every == 0
        self._count += 1
        if full:
            faces = self._full.detect(gray)
            self._coast = np.zeros(len(faces), np.int64)
        else:
            faces = self._relocate(gray)
        self._prev = faces
        return faces

    def _relocate(self, gray: np.ndarray) -> Faces:
        H, W = gray.shape
        boxes, scores, coast = [], [], []
        for box, score, c in zip(self._prev.boxes, self._prev.det_scores, self._coast):
            x, y, w, h = (int(v) for v in box)
            side = max(w, h) * self.window
            cx, cy = x + w / 2, y + h / 2
            x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
            x1, y1 = min(W, int(cx + side / 2)), min(H, int(cy + side / 2))
            found = self._local.detect(gray[y0:y1, x0:x1]) if x1 - x0 >= 16 and y1 - y0 >= 16 else Faces.empty()
            if len(found):
                # the candidate closest in size and position to the previous box
                fb = found.boxes.astype(np.float64)
                d = np.hypot(fb[:, 0] + x0 + fb[:, 2] / 2 - cx, fb[:, 1] + y0 + fb[:, 3] / 2 - cy) + np.abs(fb[:, 2] - w)
                k = int(np.argmin(d))
                boxes.append(found.boxes[k] + np.array([x0, y0, 0, 0]))
                scores.append(found.det_scores[k])
                coast.append(0)
            elif c < self.max_coast:
                boxes.append(box)
                scores.append(score)
                coast.append(c + 1)
        if not boxes:
            self._coast = np.zeros(0, np.int64)
            return Faces.empty().with_probs(None)
        boxes_a, scores_a = np.asarray(boxes), np.asarray(scores, np.float32)
        keep = suppress_overlaps(boxes_a, scores_a)  # two windows may find the same face
        self._coast = np.asarray(coast, np.int64)[keep]
        return Faces(boxes_a[keep], scores_a[keep])
