"""Face detectors behind one small interface: ``detect(image) -> Faces`` (boxes + scores).

Every detector here is safe to share between threads (Gradio workers, dashboard sessions): the Haar
cascade is kept per thread, MTCNN runs one call at a time.

``haar`` (OpenCV's frontal-face cascade, bundled with OpenCV 4.x) is the default; ``mtcnn``
(the ``mtcnn`` package, weights inside its wheel) is the accurate, slower option.  Nothing is
downloaded at run time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from deepfer.errors import DeepFERError
from deepfer.faces import Faces, iou_matrix
from deepfer.preprocess import to_gray

log = logging.getLogger(__name__)


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> Faces:
        """Faces (boxes in the image's pixel coordinates, detector scores) in a BGR or gray image."""
        ...


def suppress_overlaps(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3, contain: float = 0.7) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression; a box mostly inside a better one is dropped too."""
    order = np.argsort(-scores)
    keep: list[int] = []
    areas = boxes[:, 2].astype(float) * boxes[:, 3]
    for i in order:
        if keep:
            ov = iou_matrix(boxes[i : i + 1], boxes[keep])[0]
            x1 = np.maximum(boxes[i, 0], boxes[keep, 0])
            y1 = np.maximum(boxes[i, 1], boxes[keep, 1])
            x2 = np.minimum(boxes[i, 0] + boxes[i, 2], boxes[keep, 0] + boxes[keep, 2])
            y2 = np.minimum(boxes[i, 1] + boxes[i, 3], boxes[keep, 1] + boxes[keep, 3])
            inside = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None) / max(areas[i], 1.0)
            if (ov > iou).any() or (inside > contain).any():
                continue
        keep.append(int(i))
    return np.asarray(keep, dtype=np.int64)


@dataclass
class HaarDetector:
    """OpenCV Haar cascade on a (downscaled, histogram-equalized) gray frame.

    ``min_size_frac``: smallest face side as a fraction of the frame's shorter side, which also
    removes tiny false positives; ``max_side``: frames are shrunk so their longer side is at most
    this many pixels before detection (boxes are mapped back).  ``det_score`` is the cascade's
    level weight: higher is more face-like, not a probability.
    """

    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size_frac: float = 0.05
    min_size_px: int = 20
    max_side: int = 640
    min_score: float = 0.0
    name: str = "haar"

    def __post_init__(self) -> None:
        self._local = threading.local()
        self._cascade_for_this_thread()  # fail here, not in a worker thread, when OpenCV lacks the cascade

    def _cascade_for_this_thread(self):
        """OpenCV does not promise that one ``CascadeClassifier`` may be used by several threads at once:
        each thread loads its own (about 1 ms, once)."""
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            import cv2

            path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise DeepFERError(f"could not load OpenCV's Haar cascade from {path}")
            self._local.cascade = cascade
        return cascade

    def detect(self, image: np.ndarray) -> Faces:
        import cv2

        gray = to_gray(image)
        h, w = gray.shape
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else gray
        small = cv2.equalizeHist(small)
        min_side = max(self.min_size_px * scale, self.min_size_frac * min(small.shape))
        min_side = int(max(8, min_side))
        boxes, _, weights = self._cascade_for_this_thread().detectMultiScale3(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side), outputRejectLevels=True,
        )
        if len(boxes) == 0:
            return Faces.empty().with_probs(None)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4) / scale
        scores = np.asarray(weights, np.float32).reshape(-1)
        keep = suppress_overlaps(boxes, scores)
        boxes, scores = boxes[keep], scores[keep]
        ok = scores >= self.min_score
        return Faces(np.round(boxes[ok]).astype(np.int32), scores[ok])


@dataclass
class MtcnnDetector:
    """MTCNN from the ``mtcnn`` package (weights ship in its wheel; runs on TensorFlow)."""

    min_confidence: float = 0.9
    min_size_frac: float = 0.03
    name: str = "mtcnn"

    def __post_init__(self) -> None:
        try:
            from mtcnn import MTCNN
        except ImportError as exc:
            raise DeepFERError("the mtcnn detector needs the 'mtcnn' package: pip install mtcnn") from exc
        self._mtcnn = MTCNN()
        self._lock = threading.Lock()  # one TensorFlow call at a time per instance

    def detect(self, image: np.ndarray) -> Faces:
        import cv2

        img = np.asarray(image)
        rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)
        with self._lock:
            found = self._mtcnn.detect_faces(rgb) or []
        min_side = self.min_size_frac * min(rgb.shape[:2])
        boxes, scores = [], []
        for f in found:
            x, y, w, h = f["box"]
            if f.get("confidence", 0.0) >= self.min_confidence and min(w, h) >= min_side:
                boxes.append([max(0, x), max(0, y), w, h])
                scores.append(f["confidence"])
        if not boxes:
            return Faces.empty().with_probs(None)
        return Faces(np.asarray(boxes), np.asarray(scores))


DETECTORS = {"haar": HaarDetector, "mtcnn": MtcnnDetector}


def make_detector(name: str = "haar", **options) -> FaceDetector:
    """A detector by name (``haar`` or ``mtcnn``); options go to its constructor."""
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise DeepFERError(f"unknown detector {name!r}; available: {', '.join(DETECTORS)}") from None
    return cls(**options)
