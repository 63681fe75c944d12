"""One video in, its output files out: ``<stem>.csv``, ``<stem>.summary.json`` and, when asked,
``<stem>.annotated.mp4`` (see :mod:`deepfer.outputs.layout`).  What ``python -m batch``, its Ray
workers, the dashboard's uploads and the Gradio video tab all run for a video."""

from __future__ import annotations

import glob
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from deepfer.analysis.annotate import annotate as draw
from deepfer.analysis.pipeline import FacePipeline
from deepfer.analysis.stream import OFFLINE, StreamAnalyzer
from deepfer.analysis.temporal import DEFAULT_TEMPORAL, TemporalSettings
from deepfer.analysis.video import VideoError, VideoSink, concat_mp4, iter_frames, prefetch, read_video_info
from deepfer.errors import DeepFERError
from deepfer.fileio import tmp_path, write_json_atomic
from deepfer.outputs.columns import VIDEO_COLUMNS, video_rows
from deepfer.outputs.layout import VideoOutputs, video_outputs
from deepfer.outputs.sinks import CSVSink
from deepfer.outputs.summary import SummaryBuilder
from deepfer.state import restore, snapshot

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]


def _progress_bar(total: int | None, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, position=1, leave=False, dynamic_ncols=True)


#: Analyzed frames between two checkpoints of a video (a multiple of the analyzer's chunk): the most
#: work an interruption can cost, about 4 s of analysis at 60 frames/s.
CHECKPOINT_FRAMES = 256
CHECKPOINT_FORMAT = 1


def checkpoint_path(out: VideoOutputs) -> Path:
    """Where an unfinished video's state is kept: ``<stem>.tmp.checkpoint.json``."""
    return out.csv_path.with_name(f"{out.stem}.tmp.checkpoint.json")


def segment_path(out: VideoOutputs, k: int) -> Path:
    """The ``k``-th part of an unfinished annotated video: ``<stem>.annotated.tmp.0003.mp4``."""
    return out.csv_path.with_name(f"{out.stem}.annotated.tmp.{k:04d}.mp4")


class _Checkpoints:
    """An unfinished video's checkpoint file and annotated parts (see :func:`analyze_video`)."""

    def __init__(self, out: VideoOutputs, key: str | None, annotate: bool):
        self.out, self.key, self.annotate = out, key, annotate
        self.path = checkpoint_path(out)

    def load(self, csv_tmp: Path) -> dict | None:
        """The saved state, if it belongs to this ``key`` and its files are all there; else ``None``."""
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or state.get("key") != self.key:
            return None
        if not csv_tmp.is_file() or csv_tmp.stat().st_size < state["csv_bytes"]:
            return None
        if self.annotate and not all(segment_path(self.out, k).is_file() for k in range(state["segments"])):
            return None
        return state

    def save(self, state: dict) -> None:
        write_json_atomic(self.path, {"format": CHECKPOINT_FORMAT, "key": self.key, **state})

    def segments(self, n: int) -> list[Path]:
        return [segment_path(self.out, k) for k in range(n)]

    def clear(self, keep_segments: int = 0) -> None:
        """Remove the checkpoint (unless parts are kept) and the annotated parts from ``keep_segments`` on."""
        if keep_segments == 0:
            self.path.unlink(missing_ok=True)
        for p in self.out.csv_path.parent.glob(f"{glob.escape(self.out.stem)}.annotated.tmp.*.mp4"):
            tail = p.name[len(self.out.stem) + len(".annotated.tmp."):-len(".mp4")]
            if not tail.isdigit() or int(tail) >= keep_segments:
                p.unlink(missing_ok=True)


def check_complete(path: Path, info, decoded: int) -> None:
    """VideoError when far fewer frames could be decoded than the container announced (a truncated file)."""
    if info.frame_count and decoded < 0.9 * info.frame_count:
        raise VideoError(f"{path}: video is truncated or damaged: only {decoded} of {info.frame_count} frames could be decoded")


def join_parts(parts: list[Path], dest: Path, info, stride: int) -> None:
    """The annotated video from its parts (an empty video of the right size when there is no frame)."""
    if not parts:
        with VideoSink(dest, info.fps / stride, (info.width, info.height)):
            pass
    else:
        concat_mp4(parts, dest)


def write_summary(out: VideoOutputs, summary: SummaryBuilder, path: Path, info, stats: dict, stride: int,
                  temporal: TemporalSettings, detector: str, model: str, elapsed: float) -> None:
    """``<stem>.summary.json``: the summary and what produced it (``stats``: :func:`iter_frames`' statistics)."""
    decoded = int(stats.get("frames", 0))
    write_json_atomic(out.summary_path, summary.to_json(
        source=str(path.resolve()), frames=decoded, fps=info.fps, duration_s=round(decoded / info.fps, 4) if info.fps else info.duration_s,
        width=info.width, height=info.height, stride=stride, temporal=temporal.to_json(),
        timestamps=("presentation times from the container" if stats.get("timestamps") == "container" else
                    f"estimated for {stats.get('estimated')} of {decoded} frames (previous time + 1/fps): the container gave none usable"),
        detector=detector, model=model, analysis_fps=round(summary.frames_analyzed / elapsed, 2) if elapsed > 0 else None,
    ))


def analyze_video(path: str | Path, out_dir: str | Path, pipeline: FacePipeline, *, stride: int = 1,
                  temporal: TemporalSettings = DEFAULT_TEMPORAL, annotate: bool = False, stem: str | None = None, on_progress: ProgressFn | None = None,
                  progress: bool = False, checkpoint_key: str | None = None, resume: bool = False) -> VideoOutputs:
    """Analyze every ``stride``-th frame of one video into ``out_dir`` (file names from ``stem``,
    default the video's own stem).  ``temporal``: how each face's emotion is decided over time
    (:mod:`deepfer.analysis.temporal`; :data:`~deepfer.analysis.temporal.RAW` for the per-frame argmax):
    it drives the ``emotion`` and ``confidence`` columns, the summary's shares and segments, and the
    annotated video; the raw per-frame probabilities are always in the CSV.  ``timestamp_s`` is each
    frame's presentation time in the container (frame/fps where the container gives none: the summary's
    ``timestamps`` says which).

    Files are written under ``.tmp`` names and renamed when complete.  Raises
    :class:`~deepfer.errors.DeepFERError` with a readable message for an unreadable, truncated or
    non-video file; then no output file is left under its final name.

    Every :data:`CHECKPOINT_FRAMES` analyzed frames the analysis state (tracks, smoothing, finder,
    summary so far, the CSV's length) is saved to ``<stem>.tmp.checkpoint.json`` and the annotated
    video starts a new part.  If the run is interrupted (a kill, a crash, ``KeyboardInterrupt``), a
    later call with the same ``resume_key`` (the batch passes its input's fingerprint and settings)
    with ``resume=True`` and the same ``checkpoint_key`` (the batch passes a digest of its input's
    fingerprint and settings) continues from the last checkpoint: outputs are byte-identical to an
    uninterrupted run, and at most :data:`CHECKPOINT_FRAMES` frames are analyzed again.  Without a
    key no checkpoint is written; without ``resume`` an earlier checkpoint is discarded.
    """
    path, out_dir = Path(path), Path(out_dir)
    if stride < 1:
        raise DeepFERError(f"--stride must be at least 1, got {stride}")
    info = read_video_info(path)
    out = video_outputs(out_dir, stem or path.stem, annotated=annotate)
    ann_tmp = tmp_path(out.annotated_path) if annotate else None
    analyzer = StreamAnalyzer(pipeline, OFFLINE.with_(temporal=temporal))
    summary = SummaryBuilder(info.fps, stride)
    sink = CSVSink(out.csv_path, VIDEO_COLUMNS)
    ckpt = _Checkpoints(out, checkpoint_key, annotate)
    every = max(1, CHECKPOINT_FRAMES // analyzer.settings.chunk) if checkpoint_key is not None else 0
    state = ckpt.load(sink.tmp) if resume and checkpoint_key is not None else None
    start, segments, elapsed_before = 0, 0, 0.0
    if state is not None:
        analyzer.load_state(state["analyzer"])
        restore(summary, state["summary"])
        start, segments, elapsed_before = state["next_index"], state["segments"], state["elapsed_s"]
        ckpt.clear(keep_segments=segments)
        log.info("%s: resuming at frame %d (from %s)", path.name, start, ckpt.path.name)
    else:
        ckpt.clear()
    stats: dict = {}
    expected = info.frame_count or None
    bar = _progress_bar(expected, out.stem[:30], progress)
    bar.update(start)
    writer: VideoSink | None = None
    t0 = time.perf_counter()

    def close_segment() -> None:
        nonlocal writer, segments
        if writer is not None:
            writer.close()
            writer = None
            segments += 1

    try:
        with sink.reopen(state["csv_bytes"]) if state is not None else sink:
            frames = prefetch(iter_frames(path, stride, stats=stats, start=start))
            for chunk in analyzer.run(frames, keep_frames=annotate, snapshot_every=every):
                rows = []
                for f in chunk:
                    summary.add_faces(f.index, f.timestamp_s, f.faces)
                    rows += video_rows(f.index, f.timestamp_s, f.faces)
                    if annotate:
                        if writer is None:
                            writer = VideoSink(segment_path(out, segments), info.fps / stride, (info.width, info.height)).__enter__()
                        writer.write(draw(f.frame, f.faces))
                sink.write_rows(rows)
                done = chunk[-1].index + 1
                if (snap := analyzer.snapshots.pop(chunk[-1].index, None)) is not None:
                    close_segment()
                    ckpt.save({"next_index": done, "csv_bytes": sink.tell(), "segments": segments,
                               "elapsed_s": elapsed_before + time.perf_counter() - t0,
                               "analyzer": snap, "summary": snapshot(summary)})
                bar.update(done - bar.n)
                if on_progress is not None:
                    on_progress(min(1.0, done / expected) if expected else 0.0, f"{path.name}: frame {done}" + (f"/{expected}" if expected else ""))
            close_segment()
            decoded = int(stats.get("frames", 0))
            check_complete(path, info, decoded)
            if annotate:
                join_parts(ckpt.segments(segments), ann_tmp, info, stride)
            sink.commit()
        if annotate:
            os.replace(ann_tmp, out.annotated_path)
        elapsed = elapsed_before + time.perf_counter() - t0
        write_summary(out, summary, path, info, stats, stride, temporal, analyzer.detector_name,
                      getattr(pipeline.classifier, "name", "?"), elapsed)
        ckpt.clear()
    except KeyboardInterrupt:  # partial .tmp files and the last checkpoint stay: a resumed run continues from there
        if writer is not None:
            writer.close()
        raise
    except BaseException:
        if writer is not None:
            writer.close()
        sink.close()
        for p in (sink.tmp, ann_tmp):
            if p is not None:
                p.unlink(missing_ok=True)
        ckpt.clear()
        raise
    finally:
        bar.close()
    return out
