"""A live camera: the stream analyzer (``LIVE`` settings) per frame, drawn and timed, shared with a UI.

:class:`LiveProcessor` is called from a video thread (e.g. streamlit-webrtc's
``video_frame_callback``) and shares its results with a UI thread through a bounded queue that
drops the oldest result when full, plus a short history the UI can snapshot.  Settings can be
changed from the UI thread at any time; they take effect on the next frame.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from deepfer.analysis.annotate import annotate
from deepfer.analysis.pipeline import FacePipeline
from deepfer.analysis.stream import LIVE, StreamAnalyzer
from deepfer.analysis.temporal import DEFAULT_TEMPORAL
from deepfer.errors import DeepFERError
from deepfer.faces import Faces
from deepfer.labels import EMOTIONS

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class LiveResult:
    """What one frame produced: faces (track ids, smoothed probabilities, decided emotions) and processing time."""

    frame: int
    time_s: float  # time.monotonic() when the frame was processed
    latency_ms: float
    faces: Faces

    def rows(self) -> list[dict]:
        """One dict per face: frame, time_s, face_id, the emotion drawn on the video and the seven smoothed
        probabilities behind it."""
        f = self.faces
        if not len(f):
            return []
        probs, labels = f.shown_probs, f.labels
        return [{"frame": self.frame, "time_s": self.time_s, "face_id": int(f.track_ids[i]), "emotion": labels[i],
                 **{e: float(p) for e, p in zip(EMOTIONS, probs[i])}} for i in range(len(f))]


class LiveProcessor:
    """``process(bgr) -> annotated bgr``; results go to :attr:`results` and :meth:`recent`.

    Each frame goes through a :class:`~deepfer.analysis.stream.StreamAnalyzer` with the ``LIVE``
    settings (a full detection every ``full_every`` frames, the faces looked for around their last
    box between) and is drawn with the emotion decided over time (:mod:`deepfer.analysis.temporal`,
    in seconds of the monotonic clock), the same one the UI lists.

    One instance per viewer (it holds that viewer's tracks); the pipeline may be shared.
    """

    def __init__(self, pipeline: FacePipeline, detector: str | None = None, min_confidence: float = 0.0,
                 smooth_s: float = DEFAULT_TEMPORAL.smooth_s,
                 history: int = 300, queue_size: int = 64, full_every: int = LIVE.detect_every):
        self.pipeline = pipeline
        self._settings = LIVE.with_(detect_every=max(1, int(full_every)))
        self.results: queue.Queue[LiveResult] = queue.Queue(maxsize=queue_size)
        self._recent: deque[LiveResult] = deque(maxlen=history)
        self._lock = threading.Lock()
        self._analyzers: dict[str, StreamAnalyzer] = {}
        self._frame = 0
        self.last_error: str | None = None
        self.detector_name = detector or pipeline.detector.name
        self.min_confidence = float(min_confidence)
        self.configure(detector=self.detector_name, min_confidence=min_confidence, smooth_s=smooth_s)

    def _analyzer(self, name: str) -> StreamAnalyzer:
        if name not in self._analyzers:
            self._analyzers[name] = StreamAnalyzer(self.pipeline.with_detector(name), self._settings)
        return self._analyzers[name]

    def configure(self, detector: str | None = None, min_confidence: float | None = None, smooth_s: float | None = None) -> None:
        """Change settings (from any thread); an unknown detector raises DeepFERError here, not in the video thread."""
        with self._lock:
            if detector is not None:
                self._analyzer(detector)
                self.detector_name = detector
            if min_confidence is not None:
                if not 0.0 <= min_confidence <= 1.0:
                    raise DeepFERError(f"minimum confidence must be between 0 and 1, got {min_confidence}")
                self.min_confidence = float(min_confidence)
            if smooth_s is not None:
                if not 0.0 <= smooth_s <= 60.0:
                    raise DeepFERError(f"smoothing must be between 0 and 60 seconds, got {smooth_s}")
                self._settings = self._settings.with_(temporal=dataclasses.replace(self._settings.temporal, smooth_s=float(smooth_s)))
                for analyzer in self._analyzers.values():
                    analyzer.set_temporal(self._settings.temporal)

    def reset(self) -> None:
        """Forget tracks and history (a new stream)."""
        with self._lock:
            for analyzer in self._analyzers.values():
                analyzer.reset()
            self._recent.clear()
            self._frame = 0

    def analyze(self, bgr: np.ndarray) -> Faces:
        """Detect, track, classify and smooth one frame (no drawing)."""
        with self._lock:
            return self._analyzer(self.detector_name).analyze(bgr)

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
        df = pd.DataFrame(rows, columns=["frame", "time_s", "face_id", "emotion", *EMOTIONS]).drop(columns="emotion")
        df["t_s"] = df["time_s"] - now
        return df.melt(id_vars=["frame", "t_s", "face_id"], value_vars=list(EMOTIONS), var_name="emotion", value_name="probability")
