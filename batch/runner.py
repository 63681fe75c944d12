"""Inputs -> pipeline -> sinks: the batch run behind ``python -m batch``.

Videos give ``DIR/<stem>.csv`` (+ ``.summary.json``, ``.annotated.mp4``), images give one
``DIR/images.csv``, failed inputs are listed in ``DIR/errors.csv``.  Every file is written under
a ``.tmp`` name, flushed as it grows and renamed when complete, so an interrupted run loses
nothing already finished and ``resume=True`` redoes only what is missing or partial.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from batch.engine import FrameFaceFinder
from batch.errors import BatchError, describe
from batch.inputs import InputItem, collect_inputs, video_stems
from batch.sinks import ERROR_COLUMNS, IMAGE_COLUMNS, SMOOTH_COLUMNS, VIDEO_COLUMNS, CSVSink, read_rows, tmp_path, write_json_atomic
from batch.summary import SummaryBuilder
from deepfer.faces import Faces, empty_row
from deepfer.labels import EMOTIONS
from deepfer.video import VideoError

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]

#: Analyzed frames whose faces are classified in one batch (bounded memory, fewer model calls).
FRAME_CHUNK = 16
#: Images read and classified together.
IMAGE_CHUNK = 256
#: Images no larger than this (both sides, pixels) are taken to be face crops already (FER2013 style).
CROP_MAX_SIDE = 64


@dataclass(frozen=True)
class VideoOutputs:
    csv_path: Path
    summary_path: Path
    annotated_path: Path | None = None


@dataclass
class BatchReport:
    """What a run did: outputs per input, failed inputs with reasons, and counts."""

    out_dir: Path
    outputs: dict[str, list[Path]] = field(default_factory=dict)
    videos: dict[str, VideoOutputs] = field(default_factory=dict)
    images_csv: Path | None = None
    errors_csv: Path | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    inputs: int = 0
    videos_analyzed: int = 0
    images: int = 0
    image_faces: int = 0
    frames: int = 0
    frames_with_face: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary_line(self) -> str:
        parts = [f"{self.videos_analyzed} video(s), {self.frames} frames analyzed ({self.frames_with_face} with a face)",
                 f"{self.images} image(s), {self.image_faces} face(s)"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} already done")
        line = f"{self.inputs} input(s): " + "; ".join(parts) + f" -> {self.out_dir} in {self.seconds:.1f} s"
        if self.errors:
            line += f"; {len(self.errors)} FAILED, see {self.errors_csv}"
        return line


def _bar(total: float | None, desc: str, unit: str, enabled: bool, position: int = 0, leave: bool = True):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, position=position, leave=leave, dynamic_ncols=True)


def _prefetch(it: Iterator, size: int = 8) -> Iterator:
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


def _out_paths(out_dir: Path, stem: str) -> VideoOutputs:
    return VideoOutputs(out_dir / f"{stem}.csv", out_dir / f"{stem}.summary.json", out_dir / f"{stem}.annotated.mp4")


def _video_done(out: VideoOutputs, stride: int, smooth: int, annotate: bool) -> bool:
    import json

    if not (out.csv_path.is_file() and out.summary_path.is_file()):
        return False
    if annotate and not out.annotated_path.is_file():
        return False
    try:
        summary = json.loads(out.summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return summary.get("stride") == stride and summary.get("smooth") == smooth


def process_video(path: str | Path, out_dir: str | Path, pipeline, *, stride: int = 1, smooth: int = 0, annotate: bool = False,
                  on_progress: ProgressFn | None = None, stem: str | None = None, progress: bool = False) -> VideoOutputs:
    """Analyze one video into ``<stem>.csv`` and ``<stem>.summary.json`` (and ``<stem>.annotated.mp4``).

    Raises :class:`deepfer.errors.DeepFERError` with a readable message for an unreadable,
    truncated or non-video file; then no output file is left under its final name.
    """
    from deepfer.annotate import annotate as draw
    from deepfer.preprocess import to_gray
    from deepfer.track import FaceTracker, ProbabilitySmoother
    from deepfer.video import VideoSink, iter_frames, read_video_info

    path, out_dir = Path(path), Path(out_dir)
    if stride < 1:
        raise BatchError(f"--stride must be at least 1, got {stride}")
    info = read_video_info(path)
    stem = stem or path.stem
    out = _out_paths(out_dir, stem)
    ann_tmp = tmp_path(out.annotated_path)
    columns = VIDEO_COLUMNS + (SMOOTH_COLUMNS if smooth > 1 else ())
    finder = FrameFaceFinder(pipeline.detector)
    tracker = FaceTracker()
    smoother = ProbabilitySmoother(smooth)
    stats: dict = {}
    summary = SummaryBuilder(info.fps, stride)
    expected = info.frame_count or None
    bar = _bar(expected, stem[:30], "frame", progress, position=1, leave=False)
    sink = CSVSink(out.csv_path, columns)
    writer = VideoSink(ann_tmp, info.fps, (info.width, info.height)) if annotate else None
    t0 = time.perf_counter()
    # classification and writing of one chunk overlap the detection of the next
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")
    try:
        with sink:
            if writer is not None:
                writer.__enter__()
            chunk: list[tuple[int, float, np.ndarray | None, Faces, np.ndarray]] = []

            def flush_chunk(chunk: list) -> int:
                """Classify a chunk's faces in one batch, write its rows (and annotated frames)."""
                crops = [c for *_, c in chunk if len(c)]
                probs = pipeline.classifier.predict(np.concatenate(crops)) if crops else np.zeros((0, len(EMOTIONS)), np.float32)
                rows, k = [], 0
                for index, ts, frame, faces, c in chunk:
                    faces = faces.with_probs(probs[k : k + len(c)])
                    k += len(c)
                    smoothed = smoother.update(faces)
                    summary.add(index, ts, faces.track_ids, smoothed if smooth > 1 else faces.probs)
                    head = {"frame": index, "timestamp_s": round(ts, 6)}
                    if len(faces) == 0:
                        rows.append({**head, **empty_row(), **{c: "" for c in columns[len(VIDEO_COLUMNS):]}})
                    for i, r in enumerate(faces.rows()):
                        row = {**head, **r}
                        if smooth > 1:
                            row.update({f"smooth_{e}": round(float(p), 6) for e, p in zip(EMOTIONS, smoothed[i])})
                        rows.append(row)
                    if writer is not None:
                        writer.write(draw(frame, faces))
                sink.write_rows(rows)
                return chunk[-1][0] + 1

            def wait() -> None:
                """Wait for the chunk in flight; report progress here, in the caller's thread (Streamlit needs that)."""
                done_frames = pending.result()
                bar.update(done_frames - bar.n)
                if on_progress is not None:
                    frac = min(1.0, done_frames / expected) if expected else 0.0
                    on_progress(frac, f"{path.name}: frame {done_frames}" + (f"/{expected}" if expected else ""))

            def submit(chunk: list) -> None:
                # one worker, so chunks are written in order; at most two chunks are held
                nonlocal pending
                if pending is not None:
                    wait()
                pending = pool.submit(flush_chunk, chunk)

            pending: Future | None = None

            try:
                for index, ts, frame in _prefetch(iter_frames(path, stride, stats=stats)):
                    gray = to_gray(frame)
                    faces = tracker.update(finder.find(gray))
                    crops = pipeline.crops(gray, faces)
                    chunk.append((index, ts, frame if writer is not None else None, faces, crops))
                    if len(chunk) >= FRAME_CHUNK:
                        submit(chunk)
                        chunk = []
                if chunk:
                    submit(chunk)
                if pending is not None:
                    wait()
            finally:  # on an error too: no chunk is still being written when the files are closed
                pool.shutdown(wait=True, cancel_futures=True)
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
            detector=getattr(pipeline.detector, "name", "?"), model=getattr(pipeline.classifier, "name", "?"),
            analysis_fps=round(summary.frames_analyzed / elapsed, 2) if elapsed > 0 else None,
        ))
    except KeyboardInterrupt:  # partial .tmp files stay; --resume redoes this video
        if writer is not None:
            writer.close()
        raise
    except BaseException:
        if writer is not None:
            writer.close()
        sink.close()
        for p in (sink.tmp, ann_tmp):
            p.unlink(missing_ok=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return VideoOutputs(out.csv_path, out.summary_path, out.annotated_path if annotate else None)


def _check_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BatchError(f"cannot write to the output folder {out_dir}: {exc.strerror or exc}") from None


def _prepare_run(inputs: list[str | Path], out_dir: Path, sort_dir: Path | None) -> list[InputItem]:
    """The run's inputs (outputs excluded), after checking that there are some and that the output folders are writable."""
    items = collect_inputs(inputs, exclude=[out_dir, sort_dir])
    if not items:
        raise BatchError("no image or video files found in: " + ", ".join(str(p) for p in inputs))
    _check_out_dir(out_dir)
    if sort_dir is not None:
        _check_out_dir(sort_dir)
    return items


def _copy_sorted(src: Path, dest_dir: Path) -> Path:
    """Copy ``src`` into ``dest_dir`` (never moving or changing it); an identical copy already there is reused."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest, n = dest_dir / src.name, 1
    while dest.exists():
        if dest.stat().st_size == src.stat().st_size and dest.read_bytes() == src.read_bytes():
            return dest
        n += 1
        dest = dest_dir / f"{src.stem}_{n}{src.suffix}"
    part = dest.with_name(f"{dest.stem}.tmp{dest.suffix}")
    shutil.copy2(src, part)
    os.replace(part, dest)
    return dest


def _sort_folder(faces: Faces) -> str:
    if len(faces) == 0:
        return "_no_face"
    if len(faces) > 1:
        return "_multiple"
    return faces.labels[0]


class _ImageRun:
    """``images.csv`` for all images of a run, resumable: images already in it are not redone."""

    def __init__(self, out_dir: Path, resume: bool):
        self.path = out_dir / "images.csv"
        self.sink = CSVSink(self.path, IMAGE_COLUMNS)
        previous: list[dict] = []
        if resume:
            for src in (self.sink.tmp, self.path):  # an interrupted run's partial file first
                if src.is_file():
                    previous = read_rows(src)
                    if src == self.sink.tmp and previous:  # the last image may be incomplete: redo it
                        last = previous[-1]["path"]
                        previous = [r for r in previous if r["path"] != last]
                    break
        self.previous = previous
        self.done = {r["path"] for r in previous}
        self.opened = False

    def open(self) -> None:
        if not self.opened:
            self.sink.__enter__()
            if self.previous:
                self.sink.write_rows([{c: r.get(c, "") for c in IMAGE_COLUMNS} for r in self.previous])
            self.opened = True

    def finish(self) -> Path | None:
        if self.opened:
            return self.sink.commit()
        return self.path if self.path.is_file() else None


def _process_images(items: list[InputItem], run: _ImageRun, pipeline, report: BatchReport, errors: CSVSink,
                    sort_into: Path | None, step: Callable[[str], None]) -> None:
    from deepfer.preprocess import read_image, to_gray

    for start in range(0, len(items), IMAGE_CHUNK):
        batch = items[start : start + IMAGE_CHUNK]
        loaded: list[tuple[InputItem, Faces, np.ndarray]] = []
        for it in batch:
            try:
                img = read_image(it.path)
                gray = to_gray(img)
                if max(gray.shape) <= CROP_MAX_SIDE:  # already a face crop: classify the whole image
                    h, w = gray.shape
                    faces = Faces(np.array([[0, 0, w, h]]), np.ones(1, np.float32))
                    crops = gray[None, ..., None] if gray.shape == (48, 48) else pipeline.crops(gray, faces)
                else:
                    faces = pipeline.detector.detect(gray)
                    crops = pipeline.crops(gray, faces)
                loaded.append((it, faces, crops))
            except Exception as exc:  # one bad file never stops the run
                _fail(report, errors, it.path, exc)
            step(str(it.path))
        crops = [c for *_, c in loaded if len(c)]
        probs = pipeline.classifier.predict(np.concatenate(crops)) if crops else np.zeros((0, len(EMOTIONS)), np.float32)
        k, rows = 0, []
        for it, faces, c in loaded:
            faces = faces.with_probs(probs[k : k + len(c)]) if len(faces) else Faces.empty()
            k += len(c)
            rows += [{"path": str(it.path), **r} for r in faces.rows()] or [{"path": str(it.path), **empty_row()}]
            outputs = [run.path]
            if sort_into is not None:
                try:
                    outputs.append(_copy_sorted(it.path, sort_into / _sort_folder(faces)))
                except OSError as exc:
                    _fail(report, errors, it.path, OSError(exc.errno, f"could not copy into {sort_into}: {exc.strerror}", exc.filename))
            report.outputs[str(it.path)] = outputs
            report.images += 1
            report.image_faces += len(faces)
        run.sink.write_rows(rows)  # one write per chunk; on resume a cut-off last image is redone


def _fail(report: BatchReport, errors: CSVSink, path: Path, exc: BaseException) -> None:
    msg = describe(exc)
    log.warning("%s", msg)
    report.errors.append((str(path), msg))
    errors.write_rows([{"path": str(path), "error": msg}])


def check_options(*, stride: int, smooth: int) -> None:
    """Fail fast on option values no engine can use."""
    if stride < 1:
        raise BatchError(f"--stride must be at least 1, got {stride}")
    if smooth < 0:
        raise BatchError(f"--smooth must be 0 or more, got {smooth}")


def run_batch(inputs: list[str | Path], out_dir: str | Path, *, model: str | Path | None = None, detector: str = "haar",
              stride: int = 1, smooth: int = 0, annotate: bool = False, sort_into: str | Path | None = None, resume: bool = False,
              progress: bool = True, on_progress: ProgressFn | None = None, pipeline=None) -> BatchReport:
    """Analyze images, videos and folders of them into ``out_dir``; see the module docstring.

    Fails fast (:class:`BatchError`) on missing inputs, no media found, or an unwritable output
    folder; a bad input file is listed in ``errors.csv`` and the run goes on.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    sort_dir = Path(sort_into) if sort_into is not None else None
    check_options(stride=stride, smooth=smooth)
    items = _prepare_run(inputs, out_dir, sort_dir)
    if pipeline is None:
        from deepfer.pipeline import FacePipeline

        pipeline = FacePipeline.create(model, detector)
    report = BatchReport(out_dir, inputs=len(items))
    stems = video_stems(items)
    images = [it for it in items if it.kind == "image"]
    image_run = _ImageRun(out_dir, resume)
    done = {"n": 0}
    overall = _bar(len(items), "batch", "file", progress, position=0)

    def step(message: str) -> None:
        done["n"] += 1
        overall.update(1)
        if on_progress is not None:
            on_progress(done["n"] / len(items), message)

    try:
        with CSVSink(out_dir / "errors.csv", ERROR_COLUMNS) as errors:
            for it in items:
                if it.kind == "unknown":
                    _fail(report, errors, it.path, BatchError(f"{it.path}: not an image or video file (unsupported type {it.path.suffix or 'without suffix'!r})"))
                    step(str(it.path))
            todo = [it for it in images if str(it.path) not in image_run.done]
            for it in images:
                if str(it.path) in image_run.done:
                    report.skipped.append(str(it.path))
                    report.outputs[str(it.path)] = [image_run.path]
                    step(str(it.path))
            if images:
                image_run.open()
                _process_images(todo, image_run, pipeline, report, errors, sort_dir, step)
                report.images_csv = image_run.finish()
            for it in (it for it in items if it.kind == "video"):
                outs = _out_paths(out_dir, stems[it.path])
                if resume and _video_done(outs, stride, smooth, annotate):
                    report.skipped.append(str(it.path))
                    vo = VideoOutputs(outs.csv_path, outs.summary_path, outs.annotated_path if annotate else None)
                    report.videos[str(it.path)] = vo
                    report.outputs[str(it.path)] = [p for p in (vo.csv_path, vo.summary_path, vo.annotated_path) if p]
                    step(str(it.path))
                    continue
                try:
                    def video_progress(frac: float, msg: str) -> None:
                        if on_progress is not None:
                            on_progress((done["n"] + frac) / len(items), msg)

                    vo = process_video(it.path, out_dir, pipeline, stride=stride, smooth=smooth, annotate=annotate,
                                       on_progress=video_progress, stem=stems[it.path], progress=progress)
                    report.videos[str(it.path)] = vo
                    report.outputs[str(it.path)] = [p for p in (vo.csv_path, vo.summary_path, vo.annotated_path) if p]
                    _add_video_counts(report, vo)
                except Exception as exc:  # one bad video never stops the run
                    _fail(report, errors, it.path, exc)
                step(str(it.path))
            report.errors_csv = errors.commit()
    finally:
        overall.close()
    report.seconds = time.perf_counter() - t0
    return report


def _add_video_counts(report: BatchReport, vo: VideoOutputs) -> None:
    import json

    s = json.loads(vo.summary_path.read_text(encoding="utf-8"))
    report.videos_analyzed += 1
    report.frames += int(s.get("frames_analyzed", 0))
    report.frames_with_face += int(s.get("frames_with_face", 0))
