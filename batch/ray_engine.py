"""``python -m batch ... --engine ray``: the same batch run, spread over the workers of a Ray cluster.

Design (kept deliberately close to the local engine, :func:`batch.runner.run_batch`):

* Each Ray worker is an actor holding ONE loaded :class:`deepfer.pipeline.FacePipeline`, with
  TensorFlow, OpenMP and OpenCV limited to ``threads`` threads so that N workers on N cores do
  not oversubscribe them.
* A unit of work is one whole video (:func:`batch.runner.process_video`, unchanged: the worker
  writes ``<stem>.csv`` / ``.summary.json`` / ``.annotated.mp4`` into the output folder with the
  same ``.tmp`` + rename writers, so the folder must be shared by all nodes) or one block of
  :data:`batch.runner.IMAGE_CHUNK` images (the same blocks as the local run; their rows come back
  to the driver, which writes them to ``images.csv`` and ``errors.csv`` in input order as soon as
  the blocks before them are written, so an interrupted run keeps them for ``--resume``).  Long
  videos are not split: face ids are only consistent within one tracker pass.
* Videos are handed out biggest file first, so that one long video does not start last.
* A worker that dies is restarted and its unit retried (``max_restarts`` / ``max_task_retries``);
  the retried video rewrites its own ``.tmp`` files from the start and image rows are written
  only by the driver, so no row is lost or duplicated.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from batch.errors import BatchError, describe
from batch.inputs import InputItem, video_stems
from batch.runner import (
    IMAGE_CHUNK,
    BatchReport,
    ProgressFn,
    VideoOutputs,
    _add_video_counts,
    _bar,
    _copy_sorted,
    _fail,
    _ImageRun,
    _out_paths,
    _prepare_run,
    _process_images,
    _video_done,
    check_options,
)
from batch.sinks import ERROR_COLUMNS, CSVSink

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
RAY_MISSING = ("--engine ray needs Ray, an optional dependency that is not installed; "
               "install it with: pip install -r requirements-ray.txt")
#: How often a dead worker is restarted, and its unit retried, before that unit is reported as failed.
MAX_RETRIES = 3
#: How often at most a worker reports how far it is into a video (the driver's bar moves between files).
PROGRESS_EVERY_S = 0.5


def import_ray():
    """``import ray``, or a :class:`BatchError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BatchError(RAY_MISSING) from None
    return ray


def worker_env(threads: int) -> dict[str, str]:
    """Environment of a worker process: ``threads`` compute threads, quiet TensorFlow and FFmpeg, this checkout importable."""
    n = str(threads)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {"TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n, "OMP_NUM_THREADS": n,
            "TF_CPP_MIN_LOG_LEVEL": "2", "OPENCV_FFMPEG_LOGLEVEL": "-8", "PYTHONPATH": path}


def largest_first(videos: list[InputItem]) -> list[int]:
    """Indices of ``videos``, biggest file first (ties in input order): a long video started last would leave
    the other workers idle while it runs, so it is started first (longest-processing-time-first scheduling)."""

    def size(i: int) -> int:
        try:
            return videos[i].path.stat().st_size
        except OSError:  # the worker reports the missing file
            return 0

    return sorted(range(len(videos)), key=lambda i: -size(i))


class _Collect:
    """Stands in for a CSV sink (and for the image run holding one) inside a worker: rows are kept, not written."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self.rows: list[dict] = []
        self.sink = self

    def write_rows(self, rows: list[dict]) -> None:
        self.rows.extend(rows)


def _enter(cwd: str) -> None:
    """Work in the driver's folder, so that relative input paths (kept as given in the outputs) resolve alike."""
    if os.path.isdir(cwd):
        os.chdir(cwd)
    else:
        log.warning("the driver's folder %s does not exist on this node: relative input paths will not be found", cwd)


class BatchWorker:
    """One Ray worker: loads the model once, then analyzes videos and image blocks (wrapped by ``ray.remote``)."""

    def __init__(self, model: str | None, detector: str, threads: int = 1):
        for key, value in worker_env(threads).items():
            if key != "PYTHONPATH":
                os.environ[key] = value
        import cv2
        import tensorflow as tf

        try:  # only possible before TensorFlow has run anything (a fresh worker process)
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            log.debug("TensorFlow threads already set in this process")
        cv2.setNumThreads(threads)
        from deepfer.pipeline import FacePipeline

        self.pipeline = FacePipeline.create(model, detector)
        self.pipeline.classifier.predict(np.zeros((1, 48, 48, 1), np.uint8))  # warm up before reporting ready

    def pid(self) -> int:
        return os.getpid()

    def video(self, cwd: str, path: str, out_dir: str, stem: str, stride: int, smooth: int, annotate: bool,
              progress=None, key: int = 0) -> dict:
        """Analyze one video into ``out_dir``; a bad video is a result (its message), not an exception.

        ``progress``: a ``ray.util.queue.Queue`` that gets ``(key, fraction done)`` at most every
        :data:`PROGRESS_EVERY_S` seconds (best effort: a lost update costs nothing but a bar tick).
        """
        from batch.runner import process_video

        last = -PROGRESS_EVERY_S

        def report(frac: float, _message: str) -> None:
            nonlocal last
            now = time.monotonic()
            if progress is not None and now - last >= PROGRESS_EVERY_S:
                last = now
                try:
                    progress.put_nowait((key, frac))
                except Exception:  # noqa: BLE001 (a full or gone queue must not fail the video)
                    log.debug("progress update lost", exc_info=True)

        _enter(cwd)
        try:
            vo = process_video(path, out_dir, self.pipeline, stride=stride, smooth=smooth, annotate=annotate, stem=stem,
                               on_progress=report)
        except Exception as exc:
            return {"pid": os.getpid(), "error": describe(exc)}
        return {"pid": os.getpid(), "error": None, "outputs": vo}

    def images(self, cwd: str, paths: list[str]) -> dict:
        """Analyze one block of images exactly as the local engine does; the rows come back to the driver."""
        _enter(cwd)
        items = [InputItem(Path(p), "image") for p in paths]
        run, errors = _Collect(Path("images.csv")), _Collect()
        report = BatchReport(Path("."))
        _process_images(items, run, self.pipeline, report, errors, None, lambda _msg: None)
        return {"pid": os.getpid(), "rows": run.rows, "errors": [(r["path"], r["error"]) for r in errors.rows],
                "images": report.images, "image_faces": report.image_faces}


@dataclass
class RayBatchReport(BatchReport):
    """A :class:`BatchReport` that also says which worker process produced each analyzed input."""

    worker_pids: dict[str, int | None] = field(default_factory=dict)


def _sort_folder_of(rows: list[dict]) -> str:
    """:func:`batch.runner._sort_folder` from an image's ``images.csv`` rows."""
    faces = [r for r in rows if r["emotion"] != ""]
    if not faces:
        return "_no_face"
    if len(faces) > 1:
        return "_multiple"
    return faces[0]["emotion"]


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (Ray itself would retry for minutes)."""
    import socket

    if address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except ValueError:
        raise BatchError(f"--address {address}: expected HOST:PORT (the head node's GCS port, 6379 by default), 'auto' or ray://HOST:PORT") from None
    except OSError as exc:
        raise BatchError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; "
                         "is 'ray start --head' running there, and is this the port it printed?") from None


def _has_auth_token() -> bool:
    """Whether Ray would find an authentication token here (``$RAY_AUTH_TOKEN``, ``$RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path).is_file() if path else (Path.home() / ".ray" / "auth_token").is_file()


def _send_token_if_available() -> None:
    """Before joining a cluster: use token authentication when a token is here and ``$RAY_AUTH_MODE`` is unset.

    `ray start --head` clusters use tokens by default, but a Ray 2.60 driver sends its token only
    in token mode, which it reads from the environment into a cached config.  Ray's own helper
    sets both; without it (another Ray version) the variable is set, which works if Ray was not
    imported yet.
    """
    if "RAY_AUTH_MODE" in os.environ or not _has_auth_token():
        return
    try:
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    except ImportError:
        os.environ["RAY_AUTH_MODE"] = "token"
    else:
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _start_ray(ray, address: str | None, workers: int | None) -> bool:
    """Connect to ``address`` or start a private local Ray (loopback only, no dashboard); True if started here."""
    if address:
        _check_reachable(address)
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address and address != "auto" and "://" not in address and address != current:
            log.warning("this process is already connected to the Ray cluster at %s; using it, not %s", current, address)
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
    quiet = not log.isEnabledFor(logging.DEBUG)
    try:
        if address:
            _send_token_if_available()
            ray.init(address=address, log_to_driver=not quiet, logging_level=logging.WARNING if quiet else logging.INFO)
        else:
            # "local": a new private instance even where `ray start` has left a cluster running on this machine
            ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=not quiet, logging_level=logging.WARNING if quiet else logging.INFO)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        hint = (" (if the cluster uses token authentication, Ray's default, copy the head's ~/.ray/auth_token to this "
                "machine or set RAY_AUTH_TOKEN)") if address else ""
        raise BatchError(f"could not start or reach {where}: {exc}{hint}") from None
    return True


def run_batch_ray(inputs: list[str | Path], out_dir: str | Path, *, model: str | Path | None = None, detector: str = "haar",
                  stride: int = 1, smooth: int = 0, annotate: bool = False, sort_into: str | Path | None = None,
                  resume: bool = False, progress: bool = True, on_progress: ProgressFn | None = None,
                  address: str | None = None, workers: int | None = None, threads: int = 1,
                  on_ready: Callable[[list[int]], None] | None = None) -> RayBatchReport:
    """:func:`batch.runner.run_batch` on Ray: the same output files, with the same rows.

    ``address``: an existing cluster (``"auto"``, ``"HOST:6379"``, ``"ray://HOST:10001"``); without
    it a private local Ray is started (or the one this process already started is used).
    ``workers``: how many model-holding actors (default: the cluster's CPUs / ``threads``).
    ``on_ready``: called with the workers' process ids once their models are loaded (monitoring, tests).
    Inputs and ``out_dir`` must be readable and writable at the same paths on every node.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    sort_dir = Path(sort_into) if sort_into is not None else None
    check_options(stride=stride, smooth=smooth)
    if workers is not None and workers < 1:
        raise BatchError(f"--workers must be at least 1, got {workers}")
    if model is not None and not Path(model).is_file():
        raise BatchError(f"model file not found: {model}")
    ray = import_ray()
    items = _prepare_run(inputs, out_dir, sort_dir)
    out_abs = out_dir.resolve()
    report = RayBatchReport(out_dir, inputs=len(items))
    stems = video_stems(items)
    images = [it for it in items if it.kind == "image"]
    image_run = _ImageRun(out_dir, resume)

    # what needs doing, in input order: image blocks (as the local run cuts them), then videos
    todo_images = [it for it in images if str(it.path) not in image_run.done]
    blocks = [todo_images[i : i + IMAGE_CHUNK] for i in range(0, len(todo_images), IMAGE_CHUNK)]
    videos: list[InputItem] = []
    skipped_videos: set[Path] = set()
    for it in items:
        if it.kind == "video":
            if resume and _video_done(_out_paths(out_dir, stems[it.path]), stride, smooth, annotate):
                skipped_videos.add(it.path)
            else:
                videos.append(it)

    overall = _bar(len(items), "batch", "file", progress, position=0)
    # videos in progress add fractions of a file
    overall.bar_format = "{l_bar}{bar}| {n:.1f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
    done = {"n": 0}

    def step(n: int, message: str, in_flight: float = 0.0) -> None:
        """``n`` more files done; ``in_flight``: the fractions of the videos being analyzed, summed."""
        done["n"] += n
        overall.n = done["n"] + in_flight
        overall.refresh()
        if on_progress is not None:
            on_progress((done["n"] + in_flight) / len(items), message)

    started = False
    actors: list = []
    try:
        with CSVSink(out_dir / "errors.csv", ERROR_COLUMNS) as errors:
            for it in items:
                if it.kind == "unknown":
                    _fail(report, errors, it.path, BatchError(f"{it.path}: not an image or video file (unsupported type {it.path.suffix or 'without suffix'!r})"))
                    step(1, str(it.path))
            for it in images:
                if str(it.path) in image_run.done:
                    report.skipped.append(str(it.path))
                    report.outputs[str(it.path)] = [image_run.path]
                    step(1, str(it.path))
            if images:
                image_run.open()

            def write_block(b: int, res: dict) -> None:
                """One image block's rows, errors and --sort-into copies, written by the driver as the local run writes them."""
                block = blocks[b]
                report.worker_pids.update({str(it.path): res["pid"] for it in block})
                for path, msg in res["errors"]:
                    log.warning("%s", msg)
                    report.errors.append((path, msg))
                    errors.write_rows([{"path": path, "error": msg}])
                by_path: dict[str, list[dict]] = {}
                for row in res["rows"]:
                    by_path.setdefault(row["path"], []).append(row)
                for it in block:
                    if str(it.path) not in by_path:
                        continue
                    outputs = [image_run.path]
                    if sort_dir is not None:
                        try:
                            outputs.append(_copy_sorted(it.path, sort_dir / _sort_folder_of(by_path[str(it.path)])))
                        except OSError as exc:
                            _fail(report, errors, it.path, OSError(exc.errno, f"could not copy into {sort_dir}: {exc.strerror}", exc.filename))
                    report.outputs[str(it.path)] = outputs
                report.images += res["images"]
                report.image_faces += res["image_faces"]
                image_run.sink.write_rows(res["rows"])

            # image blocks are written as soon as all blocks before them are (an interrupted run keeps them for
            # --resume, and at most a few blocks wait in memory); video results are kept for the end
            waiting: dict[int, dict] = {}
            next_block = 0
            results: dict[tuple[str, int], dict] = {}

            def on_result(kind: str, i: int, res: dict) -> None:
                nonlocal next_block
                if kind == "video":
                    results[(kind, i)] = res
                    return
                waiting[i] = res
                while next_block in waiting:
                    write_block(next_block, waiting.pop(next_block))
                    next_block += 1

            if blocks or videos:
                from ray.util.queue import Queue

                started = _start_ray(ray, address, workers)
                capacity = max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
                if workers is not None and workers > capacity:
                    log.warning("--workers %d: the Ray cluster has room for %d worker(s) of %d CPU; using %d", workers, capacity, threads, capacity)
                n = min(workers or capacity, capacity)
                n = min(n, len(blocks) + len(videos))
                actor_cls = ray.remote(num_cpus=threads, max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES,
                                       runtime_env={"env_vars": worker_env(threads)})(BatchWorker)
                actors = [actor_cls.remote(str(model) if model else None, detector, threads) for _ in range(n)]
                # started while the workers load their models; takes no CPU from them
                progress_queue = Queue(actor_options={"num_cpus": 0})
                try:
                    pids = ray.get([a.pid.remote() for a in actors])
                except ray.exceptions.RayError as exc:
                    raise BatchError(f"the Ray workers could not load the model: {exc}") from None
                log.info("%d Ray worker(s) ready: pids %s", n, pids)
                if on_ready is not None:
                    on_ready(pids)
                units = [("video", i) for i in largest_first(videos)] + [("images", i) for i in range(len(blocks))]
                _schedule(ray, actors, units, videos, blocks, stems, out_abs, stride, smooth, annotate, step, on_result,
                          progress_queue)
            assert next_block == len(blocks) and not waiting, "every image block is written"
            if images:
                report.images_csv = image_run.finish()
            # ...then videos
            done_videos = {str(v.path): results[("video", i)] for i, v in enumerate(videos)}
            for it in (it for it in items if it.kind == "video"):
                outs = _out_paths(out_dir, stems[it.path])
                if it.path in skipped_videos:
                    report.skipped.append(str(it.path))
                    step(1, str(it.path))
                    vo = VideoOutputs(outs.csv_path, outs.summary_path, outs.annotated_path if annotate else None)
                else:
                    res = done_videos[str(it.path)]
                    report.worker_pids[str(it.path)] = res["pid"]
                    if res["error"] is not None:
                        log.warning("%s", res["error"])
                        report.errors.append((str(it.path), res["error"]))
                        errors.write_rows([{"path": str(it.path), "error": res["error"]}])
                        continue
                    vo = VideoOutputs(outs.csv_path, outs.summary_path, outs.annotated_path if annotate else None)
                    _add_video_counts(report, vo)
                report.videos[str(it.path)] = vo
                report.outputs[str(it.path)] = [p for p in (vo.csv_path, vo.summary_path, vo.annotated_path) if p]
            report.errors_csv = errors.commit()
    finally:
        overall.close()
        for a in actors:
            ray.kill(a, no_restart=True)
        if started:
            ray.shutdown()
    report.seconds = time.perf_counter() - t0
    return report


def _schedule(ray, actors: list, units: list[tuple[str, int]], videos: list[InputItem], blocks: list[list[InputItem]],
              stems: dict[Path, str], out_dir: Path, stride: int, smooth: int, annotate: bool,
              step: Callable[..., None], on_result: Callable[[str, int, dict], None], progress) -> None:
    """Hand units to idle actors until all are done, passing each result to ``on_result`` as it arrives;
    a unit whose worker died too often becomes an error result.  Videos in progress pass ``step`` the
    fractions their workers report to the ``progress`` queue, so the bar moves between files (one long
    video is one file).  The queue is shut down at the end."""
    from ray.util.queue import Empty

    idle, queue, pending = list(actors), list(units), {}
    cwd = os.getcwd()
    shown: dict[int, float] = {}  # video index -> fraction already added to the bar
    finished: set[int] = set()

    def submit(actor, unit: tuple[str, int]):
        kind, i = unit
        if kind == "video":
            v = videos[i]
            return actor.video.remote(cwd, str(v.path), str(out_dir), stems[v.path], stride, smooth, annotate, progress, i)
        return actor.images.remote(cwd, [str(it.path) for it in blocks[i]])

    def drain() -> None:
        while True:
            try:
                i, frac = progress.get_nowait()
            except Empty:
                return
            frac = min(float(frac), 0.99)  # the last bit is added when the video's files are in place
            if i not in finished and frac > shown.get(i, 0.0):  # a retried video starts again at 0: the bar waits
                shown[i] = frac
                step(0, f"{videos[i].path}: {frac:.0%}", sum(shown.values()))

    try:
        while queue or pending:
            while queue and idle:
                actor, unit = idle.pop(), queue.pop(0)
                pending[submit(actor, unit)] = (actor, unit)
            if not pending:
                raise BatchError("all Ray workers died; finished files are kept: run again with --resume")
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=PROGRESS_EVERY_S)
            drain()
            if not ready:
                continue
            ref = ready[0]
            actor, (kind, i) = pending.pop(ref)
            try:
                res = ray.get(ref)
                idle.append(actor)
            except ray.exceptions.RayActorError as exc:  # restarted and retried MAX_RETRIES times: give the unit up
                log.warning("a Ray worker died %d times: %s", MAX_RETRIES + 1, exc)
                res = {"pid": None, "error": f"the Ray worker processing this input died {MAX_RETRIES + 1} times"}
            except ray.exceptions.RayError as exc:
                res = {"pid": None, "error": f"Ray worker failed: {exc}"}
                idle.append(actor)
            if kind == "images":
                if res.get("error"):
                    res = {"pid": None, "rows": [], "images": 0, "image_faces": 0,
                           "errors": [(str(it.path), res["error"]) for it in blocks[i]]}
                on_result(kind, i, res)
                step(len(blocks[i]), str(blocks[i][-1].path), sum(shown.values()))
            else:
                on_result(kind, i, res)
                finished.add(i)
                shown.pop(i, None)
                step(1, str(videos[i].path), sum(shown.values()))
    finally:
        progress.shutdown()
