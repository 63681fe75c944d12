"""Face detectors behind one small interface: ``detect(image) -> Faces`` (boxes + scores).

Every detector here is safe to share between threads (Gradio workers, dashboard sessions): the Haar
cascade and the YuNet network are kept per thread, MTCNN runs one call at a time.  Nothing is
downloaded at run time.

| name | what it is | what it needs |
|---|---|---|
| ``yunet`` (the default) | YuNet, a small CNN run by OpenCV's ``cv2.FaceDetectorYN``; also gives 5 landmarks | OpenCV >= 4.8 and the weights committed in ``models/yunet/`` (Apache-2.0) |
| ``haar`` | OpenCV's frontal-face Haar cascade (DeepFER's default before YuNet) | nothing: the cascade ships inside OpenCV 4.x |
| ``mtcnn`` | MTCNN from the ``mtcnn`` package (weights inside its wheel), accurate and slow | TensorFlow and the ``mtcnn`` package: the ``mtcnn`` extra |
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from deepfer.config import MODELS_DIR
from deepfer.errors import DeepFERError, ModelError
from deepfer.faces import Faces, iou_matrix
from deepfer.preprocess import to_gray

log = logging.getLogger(__name__)


class FaceDetector(Protocol):
    name: str
    #: How a crop is framed around this detector's boxes: ``(margin, side)`` for
    #: :func:`deepfer.preprocess.crop_face`, chosen by validation accuracy (``python -m deepfer framing``).
    framing: tuple[float, str]

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
    #: the square around the box (margin 0: 68.8% on validation faces vs 70.7% for the original crops)
    framing = (0.0, "longer")

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
    #: not measured for MTCNN's boxes: the Haar framing
    framing = (0.0, "longer")

    def __post_init__(self) -> None:
        try:
            from mtcnn import MTCNN
        except ImportError as exc:
            raise DeepFERError("the mtcnn detector needs the 'mtcnn' package and TensorFlow: pip install -e '.[mtcnn]'") from exc
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


#: YuNet's weights, committed with their licence and origin (``models/yunet/README.md``).
YUNET_WEIGHTS = MODELS_DIR / "yunet" / "yunet_s_640_640.onnx"


def _to_bgr(image: np.ndarray) -> np.ndarray:
    """A 3-channel BGR uint8 image for YuNet: BGR as it is, BGRA without alpha, anything else
    (gray, one channel, floats) through :func:`~deepfer.preprocess.to_gray` and back to 3 channels."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 3 and img.dtype == np.uint8 and img.shape[2] == 3:
        return img
    if img.ndim == 3 and img.dtype == np.uint8 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(to_gray(img), cv2.COLOR_GRAY2BGR)


def _cv_message(exc: Exception) -> str:
    """The last line of an OpenCV error (its assertion or reason)."""
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


@dataclass
class YuNetDetector:
    """YuNet (``cv2.FaceDetectorYN``) on a frame shrunk so its longer side is at most ``max_side``.

    Boxes and the 5 landmarks (``Faces.landmarks``: the person's right eye, left eye, nose tip,
    right and left mouth corners) are mapped back to the frame and clipped to it; ``det_score`` is
    YuNet's face score (0..1), kept when at least ``score_threshold``; ``nms_threshold`` is the IoU
    of its own non-maximum suppression.  At a photo's full resolution YuNet misses large faces, so
    shrinking first is part of the method, not only a speed-up.  Gray frames are made 3-channel.
    """

    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    top_k: int = 5000
    max_side: int = 640
    weights: Path | str = YUNET_WEIGHTS
    name: str = "yunet"
    #: YuNet's boxes are taller than wide: a square of 1.3x the box's width (69.1% on all 3,589 validation
    #: faces vs 70.3% for their original crops; the square around the longer side: 67.9%; turning the face
    #: upright from the eyes first: 67.8%)
    framing = (0.15, "width")

    def __post_init__(self) -> None:
        import cv2

        self.weights = Path(self.weights)
        self._local = threading.local()
        # fail here, naming the file, not later in a worker thread: load it and run it once
        net = self._net_for_this_thread((64, 64))
        try:
            net.detect(np.zeros((64, 64, 3), np.uint8))
        except cv2.error as exc:
            raise ModelError(f"YuNet weights at {self.weights} loaded but do not run as YuNet: {_cv_message(exc)}") from None

    def _net_for_this_thread(self, size: tuple[int, int]):
        """One ``FaceDetectorYN`` per thread (OpenCV does not promise one may be shared); its input
        size follows the frame size (``setInputSize`` only when it changes)."""
        net = getattr(self._local, "net", None)
        if net is None:
            import cv2

            if not self.weights.is_file():
                raise ModelError(f"YuNet weights not found at {self.weights} (they ship in models/yunet/ of the repository)")
            try:
                net = cv2.FaceDetectorYN.create(str(self.weights), "", size, self.score_threshold, self.nms_threshold, self.top_k)
            except cv2.error as exc:
                raise ModelError(f"could not load YuNet weights from {self.weights} (corrupt or not an ONNX file): {_cv_message(exc)}") from None
            self._local.net, self._local.size = net, size
        elif self._local.size != size:
            net.setInputSize(size)
            self._local.size = size
        return net

    def detect(self, image: np.ndarray) -> Faces:
        import cv2

        if np.asarray(image).size == 0:
            return Faces.empty().with_probs(None)
        bgr = _to_bgr(image)
        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA) if scale < 1 else bgr
        sh, sw = small.shape[:2]
        _, found = self._net_for_this_thread((sw, sh)).detect(small)
        if found is None or len(found) == 0:
            return Faces.empty().with_probs(None)
        found = np.asarray(found, np.float64).reshape(-1, 15)
        # map back from the shrunk frame (pixel corners scale with the frame's exact size ratio)
        fx, fy = w / sw, h / sh
        x0 = np.clip(found[:, 0] * fx, 0, w)
        y0 = np.clip(found[:, 1] * fy, 0, h)
        x1 = np.clip((found[:, 0] + found[:, 2]) * fx, 0, w)
        y1 = np.clip((found[:, 1] + found[:, 3]) * fy, 0, h)
        boxes = np.round(np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)).astype(np.int32)
        landmarks = found[:, 4:14].reshape(-1, 5, 2) * (fx, fy)
        scores = found[:, 14].astype(np.float32)
        ok = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        return Faces(boxes[ok], scores[ok], landmarks=landmarks[ok].astype(np.float32))


DETECTORS = {"haar": HaarDetector, "yunet": YuNetDetector, "mtcnn": MtcnnDetector}


#: The detector every front end uses unless told otherwise.
DEFAULT_DETECTOR = "yunet"
#: Detector names as a user should be offered them: the default first.
DETECTOR_CHOICES = [DEFAULT_DETECTOR] + [n for n in DETECTORS if n != DEFAULT_DETECTOR]
#: One line on each, for help texts and tooltips.
DETECTOR_HELP = ("yunet (default): finds turned and tilted faces too, fast; haar: OpenCV's cascade, misses turned faces; "
                 "mtcnn: slow, needs TensorFlow (pip install -e '.[mtcnn]')")


def make_detector(name: str = DEFAULT_DETECTOR, **options) -> FaceDetector:
    """A detector by name (``haar``, ``yunet`` or ``mtcnn``); options go to its constructor."""
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise DeepFERError(f"unknown detector {name!r}; available: {', '.join(DETECTORS)}") from None
    return cls(**options)
