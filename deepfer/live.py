"""Per-frame processing for a live camera: detect, classify, track, smooth, draw, time it.

:class:`LiveProcessor` is called from a video thread (e.g. streamlit-webrtc's
``video_frame_callback``) and shares its results with a UI thread through a bounded queue that
drops the oldest result when full, plus a short history the UI can snapshot.  Settings can be
changed from the UI thread at any time; they take effect on the next frame.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from deepfer.annotate import annotate
from deepfer.detect import FaceDetector, make_detector
from deepfer.errors import DeepFERError
from deepfer.faces import Faces
from deepfer.labels import EMOTIONS
from deepfer.track import FaceTracker, ProbabilitySmoother

log = logging.getLogger(__name__)

#: Detector options tuned for live 640x480 frames: detection runs on a <=320 px frame with a
#: coarser scale pyramid, and faces smaller than 10% of the short side are ignored.
LIVE_DETECTOR_OPTIONS: dict[str, dict] = {
    "haar": {"max_side": 320, "scale_factor": 1.2, "min_size_frac": 0.1},
    "mtcnn": {},
}


class RoiDetector:
    """Face detection for a stream, cheaper than a full-frame pass on every frame.

    Where faces were found in the previous frame, the next frame is searched only in a square
    around each of them (``roi_scale`` times the face side, searched at <=``roi_side`` px);
    the whole frame is searched every ``full_every`` frames, whenever a region comes back empty,
    and when there was no face, so new faces are picked up within ``full_every`` frames.
    """

    def __init__(self, full: FaceDetector, full_every: int = 6, roi_scale: float = 2.0, roi_side: int = 160):
        from deepfer.detect import HaarDetector

        self.full = full
        self.name = full.name
        self.full_every = max(1, int(full_every))
        self.roi_scale = roi_scale
        self._roi = HaarDetector(scale_factor=1.15, min_neighbors=4, min_size_frac=0.3, max_side=roi_side)
        self._prev: np.ndarray = np.zeros((0, 4), np.int32)
        self._since_full = 0

    def reset(self) -> None:
        self._prev = np.zeros((0, 4), np.int32)
        self._since_full = 0

    def detect(self, image: np.ndarray) -> Faces:
        from deepfer.detect import suppress_overlaps

        if len(self._prev) == 0 or self._since_full + 1 >= self.full_every:
            found = self.full.detect(image)
            self._since_full = 0
        else:
            h, w = image.shape[:2]
            boxes, scores = [], []
            for x, y, bw, bh in self._prev:
                side = self.roi_scale * max(bw, bh)
                x0, y0 = int(max(0, x + bw / 2 - side / 2)), int(max(0, y + bh / 2 - side / 2))
                x1, y1 = int(min(w, x0 + side)), int(min(h, y0 + side))
                got = self._roi.detect(image[y0:y1, x0:x1]) if x1 - x0 >= 24 and y1 - y0 >= 24 else Faces.empty()
                if len(got) == 0:
                    boxes = None
                    break
                k = int(np.argmax(got.det_scores))
                boxes.append(got.boxes[k] + np.array([x0, y0, 0, 0], np.int32))
                scores.append(got.det_scores[k])
            if boxes is None:  # a face was lost: look everywhere
                found = self.full.detect(image)
                self._since_full = 0
            else:
                b, sc = np.asarray(boxes, np.int32).reshape(-1, 4), np.asarray(scores, np.float32)
                keep = suppress_overlaps(b, sc)
                found = Faces(b[keep], sc[keep])
                self._since_full += 1
        self._prev = found.boxes.copy()
        return found


@dataclass(frozen=True)
class LiveResult:
    """What one frame produced: faces (smoothed probabilities, track ids) and processing time."""

    frame: int
    time_s: float  # time.monotonic() when the frame was processed
    latency_ms: float
    faces: Faces

    def rows(self) -> list[dict]:
        """One dict per face: frame, time_s, face_id and the seven probabilities."""
        return [{"frame": self.frame, "time_s": self.time_s, "face_id": int(self.faces.track_ids[i]),
                 **{e: float(p) for e, p in zip(EMOTIONS, self.faces.probs[i])}} for i in range(len(self.faces))]


class LiveProcessor:
    """``process(bgr) -> annotated bgr``; results go to :attr:`results` and :meth:`recent`.

    With the Haar detector, frames are searched around the faces of the previous frame and fully
    every ``full_every`` frames (:class:`RoiDetector`); ``full_every=1`` searches every frame fully.

    One instance per viewer (it holds that viewer's tracks); the classifier may be shared
    (:class:`~deepfer.classify.EmotionClassifier` is thread-safe).
    """

    def __init__(self, classifier, detector: str = "haar", min_confidence: float = 0.0, smoothing: int = 5,
                 history: int = 300, queue_size: int = 64, detector_options: dict | None = None, full_every: int = 6):
        self.classifier = classifier
        self._full_every = int(full_every)
        self.results: queue.Queue[LiveResult] = queue.Queue(maxsize=queue_size)
        self._recent: deque[LiveResult] = deque(maxlen=history)
        self._lock = threading.Lock()
        self._detectors: dict[str, FaceDetector] = {}
        self._detector_options = detector_options
        self._tracker = FaceTracker(iou_threshold=0.3, max_missed=10)
        self._smoother = ProbabilitySmoother(smoothing)
        self._frame = 0
        self.last_error: str | None = None
        self.detector_name = detector
        self.min_confidence = float(min_confidence)
        self.configure(detector=detector, min_confidence=min_confidence, smoothing=smoothing)

    def _detector(self, name: str) -> FaceDetector:
        if name not in self._detectors:
            opts = self._detector_options if self._detector_options is not None else LIVE_DETECTOR_OPTIONS.get(name, {})
            det = make_detector(name, **opts)
            self._detectors[name] = RoiDetector(det, self._full_every) if name == "haar" and self._full_every > 1 else det
        return self._detectors[name]

    def configure(self, detector: str | None = None, min_confidence: float | None = None, smoothing: int | None = None) -> None:
        """Change settings (from any thread); an unknown detector raises DeepFERError here, not in the video thread."""
        with self._lock:
            if detector is not None:
                self._detector(detector)
                self.detector_name = detector
            if min_confidence is not None:
                if not 0.0 <= min_confidence <= 1.0:
                    raise DeepFERError(f"minimum confidence must be between 0 and 1, got {min_confidence}")
                self.min_confidence = float(min_confidence)
            if smoothing is not None and int(smoothing) != self._smoother.k:
                self._smoother = ProbabilitySmoother(max(1, int(smoothing)))

    def reset(self) -> None:
        """Forget tracks and history (a new stream)."""
        with self._lock:
            self._tracker.reset()
            self._smoother.reset()
            for d in self._detectors.values():
                if isinstance(d, RoiDetector):
                    d.reset()
            self._recent.clear()
            self._frame = 0

    def analyze(self, bgr: np.ndarray) -> Faces:
        """Detect, classify, track and smooth one frame (no drawing)."""
        with self._lock:
            detector, smoother = self._detector(self.detector_name), self._smoother
        found = detector.detect(bgr)
        if len(found):
            from deepfer.pipeline import FacePipeline

            faces = FacePipeline(self.classifier, detector).classify(bgr, found)
        else:
            faces = Faces.empty()
        with self._lock:
            faces = self._tracker.update(faces)
            return faces.with_probs(smoother.update(faces))

    def process(self, bgr: np.ndarray) -> np.ndarray:
        """Analyze and draw one BGR frame; never raises (a failure is logged, kept in
        :attr:`last_error`, and the frame is returned undrawn)."""
        t0 = time.perf_counter()
        try:
            faces = self.analyze(bgr)
            out = annotate(bgr, faces, min_confidence=self.min_confidence)
        except Exception as exc:  # the video thread must keep running; the page shows last_error
            log.exception("live frame processing failed")
            self.last_error = f"{type(exc).__name__}: {exc}"
            return bgr
        with self._lock:
            result = LiveResult(self._frame, time.monotonic(), (time.perf_counter() - t0) * 1000.0, faces)
            self._frame += 1
            self._recent.append(result)
        try:
            self.results.put_nowait(result)
        except queue.Full:
            try:
                self.results.get_nowait()
            except queue.Empty:
                pass
            try:
                self.results.put_nowait(result)
            except queue.Full:
                pass
        return out

    def recent(self) -> list[LiveResult]:
        """A copy of the recent results, oldest first (safe to call from the UI thread)."""
        with self._lock:
            return list(self._recent)

    def median_latency_ms(self, last: int = 60) -> float | None:
        r = self.recent()[-last:]
        return float(np.median([x.latency_ms for x in r])) if r else None

    def recent_probabilities(self, seconds: float = 10.0):
        """Long DataFrame (t_s relative to now, face_id, emotion, probability) of the last ``seconds``."""
        import pandas as pd

        now = time.monotonic()
        rows = [row for r in self.recent() if now - r.time_s <= seconds for row in r.rows()]
        df = pd.DataFrame(rows, columns=["frame", "time_s", "face_id", *EMOTIONS])
        df["t_s"] = df["time_s"] - now
        return df.melt(id_vars=["frame", "t_s", "face_id"], value_vars=list(EMOTIONS), var_name="emotion", value_name="probability")
