"""One long video analyzed in time ranges, apart (on Ray workers), with exactly the files
:func:`deepfer.outputs.video.analyze_video` writes.

A video's analysis has an expensive part that needs no history, and a cheap part that does:

1. **Per range, in parallel** (:func:`detect_range`): decode, find the faces, crop and classify them.
   With a detector that searches every frame on its own (YuNet, MTCNN; not Haar, which re-detects
   around earlier faces) this part has no state at all.  Ranges start at multiples of
   :data:`ALIGN` analyzed frames, so the classifier gets the same batches of frames as in one pass.
2. **On the driver, in order** (:func:`write_decided`): track ids and the temporal model over the
   joined ranges (well under a millisecond a frame), then the CSV and the summary, by the code the
   one-pass analysis runs.  Face ids need no stitching: they are given once, in order, over the
   whole video.
3. **Per range, in parallel, with ``--annotate``** (:func:`draw_range`): decode again, draw the
   decided faces, and write the annotated video's parts (the same parts, of :data:`ALIGN` frames,
   as one pass writes); the driver joins them packet by packet.

Frame times are each frame's presentation time: a range is reached by reading through the frames
before it without converting them, never by the container's seeking, so every range sees the same
frames with the same times as one pass.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from deepfer.analysis.annotate import annotate as draw
from deepfer.analysis.stream import OFFLINE, StreamAnalyzer, make_tracker
from deepfer.analysis.temporal import DEFAULT_TEMPORAL, TemporalFilter, TemporalSettings
from deepfer.analysis.video import VideoSink, iter_frames, prefetch, read_video_info
from deepfer.errors import DeepFERError
from deepfer.faces import Faces
from deepfer.fileio import tmp_path, write_json_atomic
from deepfer.outputs.columns import VIDEO_COLUMNS, video_rows
from deepfer.outputs.layout import VideoOutputs, video_outputs
from deepfer.outputs.sinks import CSVSink
from deepfer.outputs.summary import SummaryBuilder
from deepfer.outputs.video import CHECKPOINT_FRAMES, check_complete, join_parts, segment_path, write_summary
from deepfer.state import decode, encode

#: Ranges start at multiples of this many analyzed frames: the classifier's batches and the annotated
#: video's parts are the same as in one pass.
ALIGN = CHECKPOINT_FRAMES
#: A video is split only into ranges of at least this many analyzed frames (shorter: one worker, whole).
MIN_RANGE_FRAMES = 2 * ALIGN


def plan_ranges(frame_count: int, stride: int, workers: int) -> list[tuple[int, int | None]]:
    """``(start, stop)`` frame indices of the ranges of a video of ``frame_count`` frames for ``workers``
    workers: as many ranges as workers (ranges of at least :data:`MIN_RANGE_FRAMES` analyzed frames, starting
    at multiples of :data:`ALIGN` analyzed frames), the last one open (``None``: to the end, whatever the
    container's count says).  ``[(0, None)]``: do not split."""
    analyzed = -(-max(0, frame_count) // stride)
    n = min(workers, analyzed // MIN_RANGE_FRAMES)
    if n < 2:
        return [(0, None)]
    blocks = -(-analyzed // ALIGN)
    per = -(-blocks // n)
    starts = [k * per * ALIGN * stride for k in range(n) if k * per < blocks]
    return list(zip(starts, [*starts[1:], None]))


@dataclass
class RangeFrames:
    """What :func:`detect_range` found: each analyzed frame's ``(index, timestamp_s, faces)`` (classified,
    no ids), the decoder's statistics up to where the range stopped, and the names the summary records."""

    start: int
    stop: int | None
    frames: list[tuple[int, float, Faces]] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    detector: str = ""
    model: str = ""
    seconds: float = 0.0


def detect_range(path: str | Path, pipeline, stride: int, start: int, stop: int | None) -> RangeFrames:
    """Step 1 for frames ``start <= index < stop`` of one video (see the module docstring)."""
    t0 = time.perf_counter()
    analyzer = StreamAnalyzer(pipeline, OFFLINE)
    if not analyzer.stateless_finder:
        raise DeepFERError(f"the {analyzer.detector_name} detector re-detects around earlier faces: a video cannot be analyzed in ranges with it")
    stats: dict = {}
    found = RangeFrames(start, stop, detector=analyzer.detector_name, model=getattr(pipeline.classifier, "name", "?"))
    for chunk in analyzer.run(prefetch(iter_frames(path, stride, stats=stats, start=start, stop=stop)), decide=False):
        found.frames += [(f.index, f.timestamp_s, f.faces) for f in chunk]
    found.stats, found.seconds = dict(stats), time.perf_counter() - t0
    return found


def range_path(out: VideoOutputs, start: int) -> Path:
    """Where a range's step-1 results are kept until the video is written: ``<stem>.tmp.range-<start>.json``."""
    return out.csv_path.with_name(f"{out.stem}.tmp.range-{start}.json")


def save_range(out: VideoOutputs, key: str | None, found: RangeFrames) -> None:
    """Keep a range's results (exact, safe JSON: :mod:`deepfer.state`), so an interrupted run resumes per range."""
    data = {"key": key, "start": found.start, "stop": found.stop, "frames": encode(found.frames), "stats": found.stats,
            "detector": found.detector, "model": found.model, "seconds": found.seconds}
    write_json_atomic(range_path(out, found.start), data)


def load_range(out: VideoOutputs, key: str | None, start: int, stop: int | None) -> RangeFrames | None:
    """A range's kept results, if they were made for ``key`` (the same input and settings) and this range."""
    try:
        data = json.loads(range_path(out, start).read_text(encoding="utf-8"))
        if key is None or data.get("key") != key or data.get("start") != start or data.get("stop") != stop:
            return None
        frames = [(int(i), float(t), f) for i, t, f in decode(data["frames"])]
        return RangeFrames(start, stop, frames, data["stats"], data["detector"], data["model"], data["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_decided(path: str | Path, out_dir: str | Path, ranges: list[RangeFrames], *, stride: int = 1,
                  temporal: TemporalSettings = DEFAULT_TEMPORAL, stem: str | None = None, annotate: bool = False,
                  started: float | None = None) -> tuple[VideoOutputs, dict[int, Faces]]:
    """Step 2 on the driver: ids and the temporal model over the ranges (in order), the CSV and the summary.
    Returns the outputs (the annotated video still to be joined from :func:`draw_range`'s parts: :func:`finish_annotated`)
    and each analyzed frame's decided faces, for drawing."""
    path = Path(path)
    info = read_video_info(path)
    out = video_outputs(out_dir, stem or path.stem, annotated=annotate)
    ranges = sorted(ranges, key=lambda r: r.start)
    tracker, temporal_filter = make_tracker(OFFLINE), TemporalFilter(temporal)
    summary = SummaryBuilder(info.fps, stride)
    decided: dict[int, Faces] = {}
    sink = CSVSink(out.csv_path, VIDEO_COLUMNS)
    try:
        with sink:
            for r in ranges:
                rows = []
                for index, ts, faces in r.frames:
                    faces = temporal_filter.update(tracker.update(faces), ts)
                    summary.add_faces(index, ts, faces)
                    rows += video_rows(index, ts, faces)
                    if annotate:
                        decided[index] = faces
                sink.write_rows(rows)
            stats = ranges[-1].stats  # the last range read the whole video through
            check_complete(path, info, int(stats.get("frames", 0)))
            sink.commit()
    except BaseException:
        sink.close()
        sink.tmp.unlink(missing_ok=True)
        raise
    for r in ranges:
        range_path(out, r.start).unlink(missing_ok=True)
    elapsed = time.perf_counter() - started if started is not None else sum(r.seconds for r in ranges)
    write_summary(out, summary, path, info, stats, stride, temporal, ranges[-1].detector, ranges[-1].model, elapsed)
    return out, decided


def draw_range(path: str | Path, out: VideoOutputs, faces: dict[int, Faces], stride: int, start: int, stop: int | None) -> list[Path]:
    """Step 3 for frames ``start <= index < stop``: the annotated video's parts (:func:`~deepfer.outputs.video.segment_path`)."""
    info = read_video_info(path)
    parts: list[Path] = []
    writer, part = None, -1
    try:
        for index, _, frame in prefetch(iter_frames(path, stride, start=start, stop=stop)):
            k = (index // stride) // ALIGN
            if k != part:
                if writer is not None:
                    writer.close()
                part = k
                parts.append(segment_path(out, k))
                writer = VideoSink(parts[-1], info.fps / stride, (info.width, info.height)).__enter__()
            writer.write(draw(frame, faces[index]))
    finally:
        if writer is not None:
            writer.close()
    return parts


def finish_annotated(path: str | Path, out: VideoOutputs, parts: list[Path], stride: int) -> None:
    """Join the parts of every range (in order) into ``<stem>.annotated.mp4`` and remove them."""
    info = read_video_info(path)
    dest = tmp_path(out.annotated_path)
    join_parts(sorted(parts), dest, info, stride)
    os.replace(dest, out.annotated_path)
    for p in parts:
        p.unlink(missing_ok=True)
