"""Video in and out: a small :class:`VideoInfo`, a streaming frame generator, an mp4 writer.

Frames are streamed one at a time (memory stays bounded on long videos); the capture is
released in ``finally``; fps is kept as a float (29.97 is not 29).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepfer.errors import DeepFERError

log = logging.getLogger(__name__)



class VideoError(DeepFERError):
    """A video file is missing, unreadable, truncated or not a video."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video. ``frame_count`` is the container's count (may be an estimate)."""

    path: Path
    fps: float
    frame_count: int
    width: int
    height: int
    duration_s: float


def _open(path: str | Path):
    """An opened ``cv2.VideoCapture``; :class:`VideoError` naming the cause (missing, a folder, permission, empty, not a video)."""
    import cv2

    from deepfer.errors import unreadable_file

    p = Path(path)
    problem = unreadable_file(p)  # before OpenCV, which reports all of these as "cannot open"
    if problem:
        raise VideoError(problem)
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{p}: not a readable video (corrupt, truncated or unsupported format)")
    return cap


def _info_from_capture(cap, path: Path) -> VideoInfo:
    import cv2

    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 0.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    duration = count / fps if fps > 0 and count > 0 else 0.0
    return VideoInfo(path, fps, max(count, 0), width, height, duration)


def read_video_info(path: str | Path) -> VideoInfo:
    """:class:`VideoInfo` of a video file; :class:`VideoError` if it is missing, unreadable or not a video."""
    p = Path(path)
    cap = _open(p)
    try:
        info = _info_from_capture(cap, p)
        if info.width <= 0 or info.height <= 0:
            raise VideoError(f"{p}: not a readable video (no video stream found)")
        ok, _ = cap.read()
        if not ok:
            raise VideoError(f"{p}: not a readable video (no frame could be decoded)")
        return info
    finally:
        cap.release()


def iter_frames(path: str | Path, stride: int = 1, stats: dict | None = None, start: int = 0) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(frame_index, timestamp_s, bgr_frame)`` for every ``stride``-th decoded frame.

    ``start``: the first frame index that may be yielded (frames before it are read through without
    being converted: a resumed video continues exactly where it stopped, whatever the container's seeking).

    ``frame_index`` is 0-based over all decoded frames (skipped frames keep their numbers);
    ``timestamp_s`` is ``index / fps`` with the container's real, fractional fps, or the
    container's own position when it reports no fps.  Frames are streamed, never all held.
    If a ``stats`` dict is given, ``stats["frames"]`` is set to the number of frames read so far
    (all of them once the generator is exhausted) and ``stats["fps"]`` to the fps used.
    """
    import cv2

    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    p = Path(path)
    cap = _open(p)
    try:
        fps = _info_from_capture(cap, p).fps
        stats = {} if stats is None else stats
        stats["fps"] = fps
        stats["frames"] = 0
        index = 0
        while True:
            if index % stride == 0 and index >= start:
                ok, frame = cap.read()
                if not ok:
                    break
                ts = index / fps if fps > 0 else float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
                yield index, ts, frame
            else:
                if not cap.grab():  # skip without decoding to BGR
                    break
            index += 1
            stats["frames"] = index
        if index == 0:
            raise VideoError(f"{p}: not a readable video (no frame could be decoded)")
    finally:
        cap.release()


def prefetch(it: Iterator, size: int = 8) -> Iterator:
    """Run ``it`` (frame decoding) in a background thread, ``size`` items ahead; errors are re-raised here."""
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put((None, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((None, done))
        except BaseException as exc:  # handed to the consumer
            q.put((exc, None))
        finally:
            close = getattr(it, "close", None)
            if close is not None and stop.is_set():
                close()

    thread = threading.Thread(target=work, name="frame-decoder", daemon=True)
    thread.start()
    try:
        while True:
            exc, item = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class VideoSink:
    """Write BGR frames to an mp4 (codec ``mp4v``).

    >>> with VideoSink("out.mp4", fps=info.fps, size=(info.width, info.height)) as sink:
    ...     sink.write(frame)
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], codec: str = "mp4v"):
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.size = (int(size[0]), int(size[1]))
        self.codec = codec
        self._writer = None
        self.frames = 0

    def __enter__(self) -> VideoSink:
        import cv2

        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.codec), self.fps, self.size)
        if not writer.isOpened():
            writer.release()
            raise VideoError(f"{self.path}: cannot open a video writer ({self.codec}, {self.size[0]}x{self.size[1]})")
        self._writer = writer
        return self

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            raise RuntimeError("VideoSink.write() outside its 'with' block")
        img = np.asarray(frame)
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size)
        self._writer.write(np.ascontiguousarray(img[:, :, :3], dtype=np.uint8))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __exit__(self, *exc) -> None:
        self.close()


def concat_mp4(parts: list[Path], out: Path) -> Path:
    """Join mp4 files written by :class:`VideoSink` with the same settings into ``out``, packet by packet
    (no re-encoding: the result is deterministic and loses nothing); timestamps continue across parts."""
    import av

    with av.open(str(out), "w", format="mp4") as dst:
        stream, offset = None, 0
        for part in parts:
            with av.open(str(part)) as src:
                sv = src.streams.video[0]
                if stream is None:
                    stream = dst.add_stream_from_template(sv)
                end = offset
                for packet in src.demux(sv):
                    if packet.dts is None:  # the demuxer's final flush packet
                        continue
                    packet.pts += offset
                    packet.dts += offset
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.stream = stream
                    dst.mux(packet)
                offset = end
    return out
