"""``python -m batch ... --engine ray``: the same batch run, spread over the workers of a Ray cluster.

This module holds only what Ray adds: actors, scheduling, retries and progress.  The plan, the unit
of work (:func:`batch.units.run_unit`) and the writing of results (:class:`batch.results.RunWriter`)
are the local engine's own.

* Each Ray worker is an actor holding ONE loaded :class:`deepfer.analysis.pipeline.FacePipeline`, with
  TensorFlow, OpenMP and OpenCV limited to ``threads`` threads so that N workers on N cores do
  not oversubscribe them.
* A unit of work is one whole video (the worker writes ``<stem>.csv`` / ``.summary.json`` /
  ``.annotated.mp4`` into the output folder with the same ``.tmp`` + rename writers, so the folder
  must be shared by all nodes) or one block of :data:`batch.plan.IMAGE_CHUNK` images (the same blocks
  as the local run; their faces come back to the driver, which writes them to ``images.csv`` and
  ``errors.csv`` in input order as soon as the blocks before them are written, so an interrupted run
  keeps them for ``--resume``).  Long
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
from pathlib import Path

import numpy as np

from batch.engines.local import ProgressFn, progress_bar
from batch.errors import BatchError, describe
from batch.manifest import requested_settings
from batch.plan import IMAGE_CHUNK, ImageBlock, Options, VideoUnit, plan_run
from batch.results import BatchReport, RunWriter
from batch.units import BlockResult, ImageResult, VideoResult, run_unit
from deepfer.analysis.detect import DEFAULT_DETECTOR
from deepfer.analysis.temporal import DEFAULT_TEMPORAL
from deepfer.config import ENV_THREADS, REPO_ROOT
from deepfer.errors import DeepFERError

log = logging.getLogger(__name__)

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
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n, "OMP_NUM_THREADS": n, ENV_THREADS: n,
            "TF_CPP_MIN_LOG_LEVEL": "2", "OPENCV_FFMPEG_LOGLEVEL": "-8", "PYTHONPATH": path}


def largest_first(videos: list[VideoUnit]) -> list[int]:
    """Indices of ``videos``, biggest file first (ties in input order): a long video started last would leave
    the other workers idle while it runs, so it is started first (longest-processing-time-first scheduling)."""

    def size(i: int) -> int:
        try:
            return videos[i].path.stat().st_size
        except OSError:  # the worker reports the missing file
            return 0

    return sorted(range(len(videos)), key=lambda i: -size(i))




def _enter(cwd: str) -> None:
    """Work in the driver's folder, so that relative input paths (kept as given in the outputs) resolve alike."""
    if os.path.isdir(cwd):
        os.chdir(cwd)
    else:
        log.warning("the driver's folder %s does not exist on this node: relative input paths will not be found", cwd)


class BatchWorker:
    """One Ray worker: loads the model once, then analyzes videos and image blocks (wrapped by ``ray.remote``)."""

    def __init__(self, model: str | None, detector: str, threads: int = 1, runtime: str = "auto"):
        for key, value in worker_env(threads).items():
            if key != "PYTHONPATH":
                os.environ[key] = value
        import cv2

        from deepfer.model.classifier import resolve_model

        if resolve_model(model, runtime)[0] == "keras":  # TensorFlow only where the Keras runtime runs
            import tensorflow as tf

            try:  # only possible before TensorFlow has run anything (a fresh worker process)
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:
                log.debug("TensorFlow threads already set in this process")
        cv2.setNumThreads(threads)
        from deepfer.analysis.pipeline import FacePipeline

        self.pipeline = FacePipeline.create(model, detector, runtime=runtime)
        self.pipeline.classifier.predict(np.zeros((1, 48, 48, 1), np.uint8))  # warm up before reporting ready

    def pid(self) -> int:
        return os.getpid()

    def run(self, cwd: str, unit: VideoUnit | ImageBlock, out_dir: str, options: Options, progress=None,
            key: int = 0) -> tuple[int, VideoResult | BlockResult]:
        """:func:`batch.units.run_unit` in this worker: ``(pid, result)``; a bad input is a result, not an exception.

        ``progress``: a ``ray.util.queue.Queue`` that gets ``(key, fraction done)`` of a video at most
        every :data:`PROGRESS_EVERY_S` seconds (best effort: a lost update costs nothing but a bar tick).
        """
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
        return os.getpid(), run_unit(unit, self.pipeline, out_dir, options, on_progress=report)

    def detect(self, cwd: str, unit: VideoUnit, out_dir: str, stride: int, start: int, stop: int | None):
        """Step 1 of a video analyzed in ranges (:func:`deepfer.outputs.split.detect_range`): ``(pid, RangeFrames)``,
        or ``(pid, message)`` when the video cannot be read.  The results are kept in the output folder until the
        video is written; with ``unit.resume`` a range kept by an interrupted run for the same input and settings
        is not analyzed again."""
        from deepfer.outputs.layout import video_outputs
        from deepfer.outputs.split import detect_range, load_range, save_range

        _enter(cwd)
        out = video_outputs(out_dir, unit.stem)
        try:
            found = load_range(out, unit.key, start, stop) if unit.resume else None
            if found is None:
                found = detect_range(unit.path, self.pipeline, stride, start, stop)
                save_range(out, unit.key, found)
            return os.getpid(), found
        except Exception as exc:  # a bad video is a result, not a dead worker
            return os.getpid(), describe(exc)

    def draw(self, cwd: str, path: str, out_dir: str, stem: str, stride: int, start: int, stop: int | None, faces: dict):
        """Step 3 (:func:`deepfer.outputs.split.draw_range`): ``(pid, [part paths])`` or ``(pid, message)``."""
        from deepfer.outputs.layout import video_outputs
        from deepfer.outputs.split import draw_range

        _enter(cwd)
        try:
            return os.getpid(), [str(p) for p in draw_range(path, video_outputs(out_dir, stem), faces, stride, start, stop)]
        except Exception as exc:
            return os.getpid(), describe(exc)


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


def run_batch_ray(inputs: list[str | Path], out_dir: str | Path, *, model: str | Path | None = None, runtime: str = "auto", detector: str = DEFAULT_DETECTOR,
                  stride: int = 1, smooth_s: float = DEFAULT_TEMPORAL.smooth_s, hold_s: float = DEFAULT_TEMPORAL.hold_s,
              annotate: bool = False, sort_into: str | Path | None = None,
                  resume: bool = False, progress: bool = True, on_progress: ProgressFn | None = None,
                  address: str | None = None, workers: int | None = None, threads: int = 1,
                  on_ready: Callable[[list[int]], None] | None = None) -> BatchReport:
    """:func:`batch.engines.local.run_batch` on Ray: the same output files, with the same rows.

    ``address``: an existing cluster (``"auto"``, ``"HOST:6379"``, ``"ray://HOST:10001"``); without
    it a private local Ray is started (or the one this process already started is used).
    ``workers``: how many model-holding actors (default: the cluster's CPUs / ``threads``).
    ``on_ready``: called with the workers' process ids once their models are loaded (monitoring, tests).
    Inputs and ``out_dir`` must be readable and writable at the same paths on every node.
    """
    t0 = time.perf_counter()
    options = Options(stride=stride, smooth_s=smooth_s, hold_s=hold_s, annotate=annotate)
    if workers is not None and workers < 1:
        raise BatchError(f"--workers must be at least 1, got {workers}")
    if model is not None and not Path(model).is_file():
        raise BatchError(f"model file not found: {model}")
    # a wrong runtime or a missing serving model fails here, not in every worker
    ray = import_ray()
    plan = plan_run(inputs, out_dir, sort_into, options, resume, lambda: requested_settings(model, runtime, detector), image_chunk=IMAGE_CHUNK)
    report = BatchReport(plan.out_dir, inputs=len(plan.items))
    blocks, videos = plan.blocks, plan.videos

    overall = progress_bar(len(plan.items), "batch", "file", progress, position=0)
    # videos in progress add fractions of a file
    overall.bar_format = "{l_bar}{bar}| {n:.1f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
    done = {"n": 0}

    def step(n: int, message: str, in_flight: float = 0.0) -> None:
        """``n`` more files done; ``in_flight``: the fractions of the videos being analyzed, summed."""
        done["n"] += n
        overall.n = done["n"] + in_flight
        overall.refresh()
        if on_progress is not None:
            on_progress((done["n"] + in_flight) / max(1, len(plan.items)), message)

    started = False
    actors: list = []
    try:
        with RunWriter(plan, report) as writer:
            writer.start()
            step(len(plan.unknown) + len(plan.unreadable) + len(plan.images_done), "already done or not readable")
            # image blocks are written as soon as all blocks before them are (an interrupted run keeps them for
            # --resume, and at most a few blocks wait in memory); video results are kept for the end
            waiting: dict[int, tuple[int | None, BlockResult]] = {}
            next_block = 0
            video_results: dict[int, tuple[int | None, VideoResult]] = {}

            def video_done(i: int, pid: int | None, res: VideoResult) -> None:
                video_results[i] = (pid, res)
                if res.outputs is not None:  # finished files are known as soon as they are in place
                    plan.mark_video(videos[i], "done", res.outputs)

            def on_result(kind: str, i: int, pid: int | None, res) -> list[tuple[str, int]]:
                """A unit's result; returns the units it makes possible (a split video's next step)."""
                nonlocal next_block
                if kind == "video":
                    video_done(i, pid, res)
                    return []
                if kind in ("range", "draw"):
                    more, result = splits.on_range(i, res) if kind == "range" else ([], splits.on_draw(i, res))
                    if result is not None:
                        video_done(splits.ranges[i][0] if kind == "range" else splits.draws[i][0], pid, result)
                    return more
                waiting[i] = (pid, res)
                while next_block in waiting:
                    pid_b, block = waiting.pop(next_block)
                    report.worker_pids.update({str(p): pid_b for p in blocks[next_block].paths})
                    writer.block(block)
                    next_block += 1
                return []

            if blocks or videos:
                from ray.util.queue import Queue

                started = _start_ray(ray, address, workers)
                capacity = max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
                if workers is not None and workers > capacity:
                    log.warning("--workers %d: the Ray cluster has room for %d worker(s) of %d CPU; using %d", workers, capacity, threads, capacity)
                n = min(workers or capacity, capacity)
                splits = VideoSplits(videos, options, plan.out_dir.resolve(), n, detector)  # long videos: time ranges
                units = [u for i in largest_first(videos) for u in splits.units(i)] + [("images", i) for i in range(len(blocks))]
                n = min(n, len(units))
                actor_cls = ray.remote(num_cpus=threads, max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES,
                                       runtime_env={"env_vars": worker_env(threads)})(BatchWorker)
                actors = [actor_cls.remote(str(model) if model else None, detector, threads, runtime) for _ in range(n)]
                # started while the workers load their models; takes no CPU from them
                progress_queue = Queue(actor_options={"num_cpus": 0})
                try:
                    pids = ray.get([a.pid.remote() for a in actors])
                except ray.exceptions.RayError as exc:
                    raise BatchError(f"the Ray workers could not load the model: {exc}") from None
                log.info("%d Ray worker(s) ready: pids %s", n, pids)
                if on_ready is not None:
                    on_ready(pids)
                for unit in videos:
                    writer.video_started(unit)
                _schedule(ray, actors, units, videos, blocks, plan.out_dir.resolve(), options, step, on_result, progress_queue, splits)
            assert next_block == len(blocks) and not waiting, "every image block is written"
            # ...then videos, in input order
            todo = {unit.path: i for i, unit in enumerate(videos)}
            for it in plan.items:
                if it.kind != "video" or it.path in plan.unreadable:
                    continue
                if it.path in todo:
                    pid, res = video_results[todo[it.path]]
                    report.worker_pids[str(it.path)] = pid
                    writer.video(res)
                else:
                    writer.video_skipped(it)
                    step(1, str(it.path))
            writer.finish()
    finally:
        overall.close()
        for a in actors:
            ray.kill(a, no_restart=True)
        if started:
            ray.shutdown()
        plan.release()
    report.seconds = time.perf_counter() - t0
    return report


class VideoSplits:
    """Long videos analyzed in time ranges on several workers (:mod:`deepfer.outputs.split`), with the files
    one worker would write for the whole video: the ranges' tasks, the driver's step between them (ids,
    temporal model, CSV, summary), then the drawing tasks of ``--annotate``.  Short videos, and videos
    with a detector that re-detects around earlier faces (Haar), stay whole."""

    def __init__(self, videos: list[VideoUnit], options: Options, out_dir: Path, workers: int, detector: str):
        from deepfer.analysis.detect import make_detector
        from deepfer.analysis.finder import FaceFinder
        from deepfer.analysis.stream import OFFLINE

        self.videos, self.options, self.out_dir = videos, options, out_dir
        self.workers = workers
        self.splittable = FaceFinder(make_detector(detector), OFFLINE).stateless
        self.ranges: list[tuple[int, int, int | None]] = []  # (video, start, stop)
        self.draws: list[tuple[int, int, int | None, dict]] = []  # (video, start, stop, decided faces)
        self._found: dict[int, list] = {}
        self._left: dict[int, int] = {}
        self._parts: dict[int, list[Path]] = {}
        self._outputs: dict = {}
        self._started: dict[int, float] = {}
        self._done: set[int] = set()

    def units(self, i: int) -> list[tuple[str, int]]:
        """The range tasks of video ``i``, or ``[("video", i)]`` when it stays whole."""
        from deepfer.analysis.video import read_video_info
        from deepfer.outputs.split import plan_ranges

        unit = self.videos[i]
        try:
            count = read_video_info(unit.path).frame_count if self.splittable and self.workers > 1 else 0
        except DeepFERError:
            count = 0  # the worker reports why
        ranges = plan_ranges(count, self.options.stride, self.workers)
        if len(ranges) < 2:
            return [("video", i)]
        self._found[i], self._left[i], self._started[i] = [], len(ranges), time.perf_counter()
        first = len(self.ranges)
        self.ranges += [(i, a, b) for a, b in ranges]
        log.info("%s: %d ranges %s", unit.path, len(ranges), ranges)
        return [("range", k) for k in range(first, len(self.ranges))]

    def _result(self, i: int, res: VideoResult) -> VideoResult:
        self._done.add(i)
        return res

    def finished(self, i: int) -> bool:
        """Whether split video ``i`` has its result (its files, or its error)."""
        return i in self._done

    def on_range(self, k: int, res) -> tuple[list[tuple[str, int]], VideoResult | None]:
        """A range is done: when it was the video's last, the driver's step; then its drawing tasks or its result."""
        i = self.ranges[k][0]
        if i not in self._found:  # the video already failed
            return [], None
        if isinstance(res, str):
            self._found.pop(i)
            return [], self._result(i, VideoResult(self.videos[i].path, error=res))
        self._found[i].append(res)
        self._left[i] -= 1
        if self._left[i]:
            return [], None
        from deepfer.outputs.split import write_decided

        unit, o = self.videos[i], self.options
        try:
            out, decided = write_decided(unit.path, self.out_dir, self._found.pop(i), stride=o.stride, temporal=o.temporal,
                                         stem=unit.stem, annotate=o.annotate, started=self._started[i])
        except Exception as exc:  # noqa: BLE001 (one bad video never stops the run)
            return [], self._result(i, VideoResult(unit.path, error=describe(exc)))
        if not o.annotate:
            return [], self._result(i, VideoResult(unit.path, outputs=out))
        self._outputs[i], self._parts[i] = out, []
        ranges = [(a, b) for j, a, b in self.ranges if j == i]
        self._left[i] = len(ranges)
        first = len(self.draws)
        self.draws += [(i, a, b, {x: f for x, f in decided.items() if x >= a and (b is None or x < b)}) for a, b in ranges]
        return [("draw", d) for d in range(first, len(self.draws))], None

    def on_draw(self, d: int, res) -> VideoResult | None:
        """A range's annotated parts are written: when it was the video's last, join them."""
        from deepfer.outputs.split import finish_annotated

        i = self.draws[d][0]
        self.draws[d] = (*self.draws[d][:3], {})  # the faces are not needed any more
        if i not in self._outputs:
            return None
        unit, out = self.videos[i], self._outputs[i]
        if isinstance(res, str):
            self._outputs.pop(i)
            return self._result(i, VideoResult(unit.path, error=res))
        self._parts[i] += [Path(p) for p in res]
        self._left[i] -= 1
        if self._left[i]:
            return None
        try:
            finish_annotated(unit.path, self._outputs.pop(i), self._parts.pop(i), self.options.stride)
        except Exception as exc:  # noqa: BLE001
            return self._result(i, VideoResult(unit.path, error=describe(exc)))
        return self._result(i, VideoResult(unit.path, outputs=out))


def _schedule(ray, actors: list, units: list[tuple[str, int]], videos: list[VideoUnit], blocks: list[ImageBlock],
              out_dir: Path, options: Options, step: Callable[..., None], on_result: Callable[..., list], progress,
              splits: VideoSplits | None = None) -> None:
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
            return actor.run.remote(cwd, videos[i], str(out_dir), options, progress, i)
        if kind == "range":
            v, a, b = splits.ranges[i]
            return actor.detect.remote(cwd, videos[v], str(out_dir), options.stride, a, b)
        if kind == "draw":
            v, a, b, faces = splits.draws[i]
            return actor.draw.remote(cwd, str(videos[v].path), str(out_dir), videos[v].stem, options.stride, a, b, faces)
        return actor.run.remote(cwd, blocks[i], str(out_dir), options)

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
            failure = None
            try:
                pid, res = ray.get(ref)
                idle.append(actor)
            except ray.exceptions.RayActorError as exc:  # restarted and retried MAX_RETRIES times: give the unit up
                log.warning("a Ray worker died %d times: %s", MAX_RETRIES + 1, exc)
                failure = f"the Ray worker processing this input died {MAX_RETRIES + 1} times"
            except ray.exceptions.RayError as exc:
                failure = f"Ray worker failed: {exc}"
                idle.append(actor)
            if kind == "images":
                if failure is not None:
                    pid, res = None, BlockResult(i, [ImageResult(p, error=failure) for p in blocks[i].paths])
                on_result(kind, i, pid, res)
                step(len(blocks[i].paths), str(blocks[i].paths[-1]), sum(shown.values()))
            elif kind in ("range", "draw"):  # a step of a video analyzed in ranges: a failure is the video's error
                v = splits.ranges[i][0] if kind == "range" else splits.draws[i][0]
                more = on_result(kind, i, pid, failure if failure is not None else res)
                queue[:0] = more  # the video's next step goes first
                if not more and splits.finished(v):
                    step(1, str(videos[v].path), sum(shown.values()))
            else:
                if failure is not None:
                    pid, res = None, VideoResult(videos[i].path, error=failure)
                on_result(kind, i, pid, res)
                finished.add(i)
                shown.pop(i, None)
                step(1, str(videos[i].path), sum(shown.values()))
    finally:
        progress.shutdown()
