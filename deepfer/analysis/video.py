"""Video in and out: a small :class:`VideoInfo`, a streaming frame generator, an H.264 mp4 writer
(PyAV's libx264: browsers play what it writes) and a lossless joiner of its parts.

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


def iter_frames(path: str | Path, stride: int = 1, stats: dict | None = None, start: int = 0,
                stop: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(frame_index, timestamp_s, bgr_frame)`` for every ``stride``-th decoded frame.

    ``start``: the first frame index that may be yielded (frames before it are read through without
    being converted: a resumed video continues exactly where it stopped, whatever the container's seeking);
    ``stop``: the first frame index not read (``None``: to the end).

    ``frame_index`` is 0-based over all decoded frames (skipped frames keep their numbers);
    ``timestamp_s`` is the frame's presentation time in the container, from the start of the video
    (true on variable-frame-rate phone and screen recordings, where ``index / fps`` drifts by up to a
    second); where the container gives none that is usable (missing, not increasing), the previous
    frame's time plus ``1 / fps``.  Frames are streamed, never all held.
    If a ``stats`` dict is given, ``stats["frames"]`` is set to the number of frames read so far
    (all of them once the generator is exhausted), ``stats["fps"]`` to the container's fps, and
    ``stats["timestamps"]`` to ``"container"``, or ``"estimated"`` once a time had to be estimated
    (``stats["estimated"]`` counts those frames).
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
        stats["timestamps"], stats["estimated"] = "container", 0
        step = 1.0 / fps if fps > 0 else 0.04
        index, ts = 0, None
        while stop is None or index < stop:
            wanted = index % stride == 0 and index >= start
            if wanted:
                ok, frame = cap.read()
            else:
                ok = cap.grab()  # skip without converting to BGR
            if not ok:
                break
            pts = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if np.isfinite(pts) and pts >= 0 and (ts is None or pts > ts):
                ts = pts
            else:
                ts = (ts + step) if ts is not None else 0.0
                stats["timestamps"] = "estimated"
                stats["estimated"] += 1
            if wanted:
                yield index, ts, frame
            index += 1
            stats["frames"] = index
        if index == 0:
            raise VideoError(f"{p}: not a readable video (no frame could be decoded)")
    finally:
        cap.release()


def read_frames(path: str | Path, limit: int | None = None) -> tuple[list[np.ndarray], float]:
    """All frames of a short video (at most ``limit``) as BGR arrays, and its fps: for tests and benchmarks that
    assemble new videos from a clip.  Holds every frame in memory: never for analysis (:func:`iter_frames`)."""
    frames: list[np.ndarray] = []
    stats: dict = {}
    for _, _, frame in iter_frames(path, stats=stats, stop=limit):
        frames.append(frame)
    return frames, float(stats.get("fps") or 0.0)


def write_frames(dst: str | Path, frames, fps: float) -> Path:
    """Write BGR frames (all the same size) as an mp4v MP4 through OpenCV: test and benchmark inputs of the kind
    cameras and other tools write (DeepFER's own videos are H.264: :class:`VideoSink`)."""
    import cv2

    writer = None
    for frame in frames:
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
        writer.write(frame)
    if writer is not None:
        writer.release()
    return Path(dst)


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


#: How annotated videos are encoded: H.264 (libx264, bundled in PyAV's wheels), 4:2:0, in MP4, which
#: every browser plays.  ``veryfast`` at CRF 23 costs about 3.5 ms a frame at 596x336 on 2 cores and
#: makes files about a third of the old MPEG-4 part 2 ones (``python -m benchmarks.video_writer``).  Two
#: frame threads (not x264's sliced threads, which PyAV would pick: slower here, and larger files); the
#: count is fixed, not "auto": x264's output depends on it, and the same frames must give the same bytes
#: on every machine (a resumed video is joined from parts encoded by different runs).
H264_OPTIONS = {"preset": "veryfast", "crf": "23", "threads": "2"}

#: MP4 muxer options: the index (moov atom) before the data, so a browser can start playing at once.
MP4_OPTIONS = {"movflags": "+faststart"}


def _even_size(size: tuple[int, int]) -> tuple[int, int]:
    return size[0] - size[0] % 2, size[1] - size[1] % 2


class VideoSink:
    """Write BGR frames to an H.264 MP4 that browsers play (see :data:`H264_OPTIONS`).

    Frames of another size are resized to ``size``.  4:2:0 video needs an even width and height: an
    odd ``size`` loses its last pixel column or row (the file is cropped by one pixel, nothing is
    invented).  The frame rate is constant: frame ``k`` is shown at ``k / fps``.  Colours are written
    as BT.709, limited range, and tagged so.  The same frames always give the same bytes.

    >>> with VideoSink("out.mp4", fps=info.fps, size=(info.width, info.height)) as sink:
    ...     sink.write(frame)
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        from fractions import Fraction

        self.path = Path(path)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 25.0
        #: the frame rate as the file stores it (29.97 -> 2997/100, 30000/1001 stays exact)
        self.rate = Fraction(self.fps).limit_denominator(1001)
        self.size = (int(size[0]), int(size[1]))
        #: the size in the file: ``size`` rounded down to even numbers
        self.coded_size = _even_size(self.size)
        if min(self.coded_size) < 2:
            raise VideoError(f"{self.path}: cannot write a {self.size[0]}x{self.size[1]} video")
        self._container = None
        self._stream = None
        self.frames = 0

    def __enter__(self) -> VideoSink:
        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            container = av.open(str(self.path), "w", format="mp4", container_options=MP4_OPTIONS)
        except (OSError, av.FFmpegError) as exc:
            raise VideoError(f"{self.path}: cannot open a video writer: {exc}") from exc
        try:
            stream = container.add_stream("libx264", rate=self.rate, options=H264_OPTIONS)
            stream.width, stream.height = self.coded_size
            stream.pix_fmt = "yuv420p"
            stream.time_base = 1 / self.rate
            stream.thread_type = "FRAME"  # x264's frame threads: deterministic for a fixed thread count
            cc = stream.codec_context
            cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = 1, 1, 1, 1  # MPEG (limited), BT.709 x3
        except BaseException:
            container.close()
            raise
        self._container, self._stream = container, stream
        return self

    def write(self, frame: np.ndarray) -> None:
        import av
        import cv2

        if self._container is None:
            raise RuntimeError("VideoSink.write() outside its 'with' block")
        img = np.asarray(frame)
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size)
        w, h = self.coded_size
        img = np.ascontiguousarray(img[:h, :w, :3], dtype=np.uint8)
        vf = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG", threads=1)
        vf.pts, vf.time_base = self.frames, 1 / self.rate  # not the stream's: the muxer changes that to its own
        self._container.mux(self._stream.encode(vf))
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (the index is moved to the front)."""
        container, self._container = self._container, None
        if container is not None:
            try:
                if self.frames == 0:
                    container.start_encoding()  # a file all the same (as OpenCV's writer left one)
                container.mux(self._stream.encode(None))
            finally:
                container.close()

    def __exit__(self, *exc) -> None:
        self.close()


def concat_mp4(parts: list[Path], out: Path) -> Path:
    """Join mp4 files written by :class:`VideoSink` with the same settings into ``out``, packet by packet
    (no re-encoding: the result is deterministic and loses nothing); timestamps continue across parts.

    Each part starts with a key frame and carries the same H.264 parameter sets (same size, rate and
    :data:`H264_OPTIONS`); a part that does not is a :class:`VideoError`.  ``out`` has its index first
    (:data:`MP4_OPTIONS`), so a browser plays it from the start.
    """
    import av

    with av.open(str(out), "w", format="mp4", container_options=MP4_OPTIONS) as dst:
        stream, first, offset = None, None, 0
        for part in parts:
            with av.open(str(part)) as src:
                sv = src.streams.video[0]
                settings = (sv.codec_context.extradata, sv.time_base, sv.width, sv.height)
                if stream is None:
                    stream, first = dst.add_stream_from_template(sv), settings
                elif settings != first:
                    raise VideoError(f"{part}: cannot be joined to {parts[0]} (other size, frame rate or encoder settings)")
                end, seen = offset, False
                for packet in src.demux(sv):
                    if packet.dts is None:  # the demuxer's final flush packet
                        continue
                    if not seen and not packet.is_keyframe:
                        raise VideoError(f"{part}: does not start with a key frame")
                    seen = True
                    packet.pts += offset
                    packet.dts += offset
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.stream = stream
                    dst.mux(packet)
                offset = end
    return out
