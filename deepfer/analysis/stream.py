"""The stream analyzer: frames in, :class:`~deepfer.faces.Faces` out (boxes, probabilities, track ids,
smoothed probabilities, the emotion decided over time).  Batch video, the Gradio video tab and both
webcams run this one code.

Per frame: find faces (:class:`~deepfer.analysis.finder.FaceFinder`), give them ids
(:class:`~deepfer.analysis.track.FaceTracker`), crop them (FER2013 framing,
:class:`~deepfer.analysis.pipeline.FacePipeline`); then classify the faces of several frames in one
batch and pass them, in frame order, through the temporal model
(:class:`~deepfer.analysis.temporal.TemporalFilter`: smoothing in seconds, then hysteresis).

>>> analyzer = StreamAnalyzer(pipeline, OFFLINE)          # or LIVE for a camera
>>> for chunk in analyzer.run(iter_frames("clip.mp4")):   # (index, timestamp_s, frame) tuples in
...     for f in chunk: print(f.index, f.faces.labels)     # AnalyzedFrame out, in order
>>> faces = StreamAnalyzer(pipeline, LIVE).analyze(frame)  # one camera frame at a time
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from deepfer.analysis.finder import FaceFinder, FinderSettings
from deepfer.analysis.pipeline import FacePipeline
from deepfer.analysis.temporal import DEFAULT_TEMPORAL, TemporalFilter, TemporalSettings
from deepfer.analysis.track import FaceTracker
from deepfer.faces import Faces
from deepfer.preprocess import to_gray
from deepfer.state import restore, snapshot


@dataclass(frozen=True)
class StreamSettings(FinderSettings):
    """How a stream is analyzed: the face finder's settings (:class:`FinderSettings`), and
    ``temporal``: the temporal model's settings (smoothing and hold in seconds); ``chunk``: frames whose
    faces are classified in one batch; ``track_*``: the tracker's matching."""

    temporal: TemporalSettings = DEFAULT_TEMPORAL
    chunk: int = 16
    track_iou: float = 0.3
    track_max_missed: int = 10

    def with_(self, **changes) -> StreamSettings:
        return dataclasses.replace(self, **changes)


#: Recorded video: a full pass every 10th frame, 16 frames classified per batch (``python -m batch``).
OFFLINE = StreamSettings()
#: A live camera (640x480): YuNet on every frame shrunk to 256 px (webcam faces are large: 9.4 ms per
#: frame in all here, against 11.6 ms at 320 px; at 224 px a ghost box appeared); with Haar a full pass
#: every 6th frame, faces under 10% of the short side ignored; each frame classified at once; the same
#: temporal model as recorded video, in seconds of the camera's clock.
LIVE = StreamSettings(detect_every=6, window=2.0, full_min_size_frac=0.1, chunk=1, full_max_side=256)


@dataclass(frozen=True)
class AnalyzedFrame:
    """One frame's result: its index and timestamp in the stream, the frame itself when kept
    (``keep_frames=True``, e.g. to draw an annotated video) and its faces."""

    index: int
    timestamp_s: float
    frame: np.ndarray | None
    faces: Faces


@dataclass(frozen=True)
class _Located:
    index: int
    timestamp_s: float
    frame: np.ndarray | None
    faces: Faces
    crops: np.ndarray


def make_tracker(settings: StreamSettings) -> FaceTracker:
    """The face tracker of a stream with these settings."""
    return FaceTracker(iou_threshold=settings.track_iou, max_missed=settings.track_max_missed)


class StreamAnalyzer:
    """One stream's state (face finder, tracks, smoothing) over a shared, thread-safe pipeline.

    One instance per stream (a video, a webcam viewer); :meth:`reset` starts a new stream.
    """

    def __init__(self, pipeline: FacePipeline, settings: StreamSettings = OFFLINE):
        self.pipeline = pipeline
        self.settings = settings
        s = settings
        self.finder = FaceFinder(pipeline.detector, s)
        self.tracker = make_tracker(s)
        self.temporal = TemporalFilter(s.temporal)
        #: states saved by :meth:`run` (``snapshot_every``), by the index of the frame they follow
        self.snapshots: dict[int, dict] = {}

    @property
    def detector_name(self) -> str:
        return self.finder.name

    def reset(self) -> None:
        self.finder.reset()
        self.tracker.reset()
        self.temporal.reset()

    def load_state(self, state: dict) -> None:
        """Continue a stream from a state :meth:`run` saved in :attr:`snapshots` (see :mod:`deepfer.state`)."""
        restore(self.finder, state["finder"])
        restore(self.tracker, state["tracker"])
        restore(self.temporal, state["temporal"])

    def set_temporal(self, temporal: TemporalSettings) -> None:
        """Change the temporal model's settings (each face starts afresh when they change)."""
        if temporal != self.temporal.settings:
            self.temporal = TemporalFilter(temporal)
            self.settings = self.settings.with_(temporal=temporal)

    @property
    def stateless_finder(self) -> bool:
        """Whether faces are found in each frame on its own (YuNet, MTCNN: a full detection every frame), so
        that a video's time ranges can be analyzed apart (:meth:`run` with ``decide=False``, then :meth:`decide`)."""
        return self.finder.stateless

    def _locate(self, index: int, timestamp_s: float, frame: np.ndarray, keep_frame: bool, track: bool = True) -> _Located:
        gray = to_gray(frame)
        faces = self.finder.find(gray)
        if track:
            faces = self.tracker.update(faces)
        return _Located(index, timestamp_s, frame if keep_frame else None, faces, self.pipeline.crops(gray, faces))

    def _classify(self, located: list[_Located], state: dict | None = None, decide: bool = True) -> list[AnalyzedFrame]:
        """Classify the faces of ``located`` frames in one batch, then pass them through the temporal
        model in frame order; ``state``: the finder's and tracker's state after these frames, completed
        with the temporal model's and kept in :attr:`snapshots`."""
        probs = self.pipeline.predict([loc.crops for loc in located])
        out = []
        for loc, p in zip(located, probs):
            faces = loc.faces.with_probs(p)
            if decide:
                faces = self.temporal.update(faces, loc.timestamp_s)
            out.append(AnalyzedFrame(loc.index, loc.timestamp_s, loc.frame, faces))
        if state is not None:
            self.snapshots[located[-1].index] = {**state, "temporal": snapshot(self.temporal)}
        return out

    def analyze(self, frame: np.ndarray, index: int = 0, timestamp_s: float | None = None) -> Faces:
        """One frame at once (a camera): its faces with probabilities, ids, smoothed probabilities and
        decided emotions; ``timestamp_s`` defaults to the monotonic clock (a live camera's time)."""
        ts = time.monotonic() if timestamp_s is None else timestamp_s
        return self._classify([self._locate(index, ts, frame, False)])[0].faces

    def run(self, frames: Iterable[tuple[int, float, np.ndarray]], keep_frames: bool = False,
            snapshot_every: int = 0, decide: bool = True) -> Iterator[list[AnalyzedFrame]]:
        """Analyze ``(index, timestamp_s, frame)`` tuples; yield the results in chunks of
        ``settings.chunk`` frames, in order.  Classifying one chunk overlaps finding the faces of the
        next (one classifier thread, so chunks stay in order); at most two chunks are held.

        ``snapshot_every=n``: after every ``n``-th full chunk, the analyzer's state as it stood right
        after that chunk's last frame goes to ``snapshots[last_frame_index]`` (before the chunk is
        yielded), for :meth:`load_state` to continue from there with exactly the same results.

        ``decide=False``: faces found and classified only, without ids or the temporal model (a time range
        of a video analyzed apart; :func:`deepfer.outputs.split.write_decided` completes its frames, in order,
        later).  With a stateless finder (:attr:`stateless_finder`) and chunks aligned to the same frames, that
        gives exactly what ``run`` gives."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")
        pending: Future | None = None
        chunk: list[_Located] = []
        chunks = 0
        try:
            for index, ts, frame in frames:
                chunk.append(self._locate(index, ts, frame, keep_frames, track=decide))
                if len(chunk) >= self.settings.chunk:
                    chunks += 1
                    state = None
                    if decide and snapshot_every and chunks % snapshot_every == 0:
                        state = {"finder": snapshot(self.finder), "tracker": snapshot(self.tracker)}
                    previous, pending = pending, pool.submit(self._classify, chunk, state, decide)
                    chunk = []
                    if previous is not None:
                        yield previous.result()
            if chunk:
                previous, pending = pending, pool.submit(self._classify, chunk, None, decide)
                if previous is not None:
                    yield previous.result()
            if pending is not None:
                yield pending.result()
        finally:  # on an error or an early stop too: no chunk is still being classified
            pool.shutdown(wait=True, cancel_futures=True)
