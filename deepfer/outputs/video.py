"""One video in, its output files out: ``<stem>.csv``, ``<stem>.summary.json`` and, when asked,
``<stem>.annotated.mp4`` (see :mod:`deepfer.outputs.layout`).  What ``python -m batch``, its Ray
workers, the dashboard's uploads and the Gradio video tab all run for a video."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from deepfer.analysis.annotate import annotate as draw
from deepfer.analysis.pipeline import FacePipeline
from deepfer.analysis.stream import OFFLINE, StreamAnalyzer
from deepfer.analysis.video import VideoError, VideoSink, iter_frames, prefetch, read_video_info
from deepfer.errors import DeepFERError
from deepfer.fileio import tmp_path, write_json_atomic
from deepfer.outputs.columns import video_columns, video_rows
from deepfer.outputs.layout import VideoOutputs, video_outputs
from deepfer.outputs.sinks import CSVSink
from deepfer.outputs.summary import SummaryBuilder

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]


def _progress_bar(total: int | None, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, position=1, leave=False, dynamic_ncols=True)


def analyze_video(path: str | Path, out_dir: str | Path, pipeline: FacePipeline, *, stride: int = 1, smooth: int = 0,
                  annotate: bool = False, stem: str | None = None, on_progress: ProgressFn | None = None,
                  progress: bool = False) -> VideoOutputs:
    """Analyze every ``stride``-th frame of one video into ``out_dir`` (file names from ``stem``,
    default the video's own stem); ``smooth > 1`` adds ``smooth_*`` columns and drives the summary.

    Files are written under ``.tmp`` names and renamed when complete.  Raises
    :class:`~deepfer.errors.DeepFERError` with a readable message for an unreadable, truncated or
    non-video file; then no output file is left under its final name.  On ``KeyboardInterrupt``
    the partial ``.tmp`` files stay (a resumed run redoes the video).
    """
    path, out_dir = Path(path), Path(out_dir)
    if stride < 1:
        raise DeepFERError(f"--stride must be at least 1, got {stride}")
    info = read_video_info(path)
    out = video_outputs(out_dir, stem or path.stem, annotated=annotate)
    ann_tmp = tmp_path(out.annotated_path) if annotate else None
    analyzer = StreamAnalyzer(pipeline, OFFLINE.with_(smooth=smooth))
    summary = SummaryBuilder(info.fps, stride)
    stats: dict = {}
    expected = info.frame_count or None
    bar = _progress_bar(expected, out.stem[:30], progress)
    sink = CSVSink(out.csv_path, video_columns(smooth))
    writer = VideoSink(ann_tmp, info.fps, (info.width, info.height)) if annotate else None
    t0 = time.perf_counter()
    try:
        with sink:
            if writer is not None:
                writer.__enter__()
            for chunk in analyzer.run(prefetch(iter_frames(path, stride, stats=stats)), keep_frames=annotate):
                rows = []
                for f in chunk:
                    summary.add(f.index, f.timestamp_s, f.faces.track_ids, f.faces.smoothed)
                    rows += video_rows(f.index, f.timestamp_s, f.faces, smooth)
                    if writer is not None:
                        writer.write(draw(f.frame, f.faces))
                sink.write_rows(rows)
                done = chunk[-1].index + 1
                bar.update(done - bar.n)
                if on_progress is not None:
                    on_progress(min(1.0, done / expected) if expected else 0.0, f"{path.name}: frame {done}" + (f"/{expected}" if expected else ""))
            if writer is not None:
                writer.close()
            decoded = int(stats.get("frames", 0))
            if info.frame_count and decoded < 0.9 * info.frame_count:
                raise VideoError(f"{path}: video is truncated or damaged: only {decoded} of {info.frame_count} frames could be decoded")
            sink.commit()
        if writer is not None:
            os.replace(ann_tmp, out.annotated_path)
        elapsed = time.perf_counter() - t0
        write_json_atomic(out.summary_path, summary.to_json(
            source=str(path.resolve()), frames=decoded, fps=info.fps, duration_s=round(decoded / info.fps, 4) if info.fps else info.duration_s,
            width=info.width, height=info.height, stride=stride, smooth=smooth,
            detector=analyzer.detector_name, model=getattr(pipeline.classifier, "name", "?"),
            analysis_fps=round(summary.frames_analyzed / elapsed, 2) if elapsed > 0 else None,
        ))
    except KeyboardInterrupt:  # partial .tmp files stay; a resumed run redoes this video
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
        raise
    finally:
        bar.close()
    return out
