"""The batch module on Ray (``--engine ray --workers 2``) against one local worker, on a folder of 8 videos.

    .venv/bin/pip install -r requirements-ray.txt
    .venv/bin/python -m benchmarks.ray_vs_local                  # 8 copies of street_phone.mp4, 3 rounds
    .venv/bin/python -m benchmarks.ray_vs_local --videos 4 --workers 2 --rounds 5 --video clip.mp4
    .venv/bin/python -m benchmarks.ray_vs_local --long 3000 --rounds 1    # ONE long video, split in time ranges

Four set-ups are timed in each round, one after the other (the machine is shared and noisy, so
they are interleaved and medians are printed):

* one local worker: the local engine in a child process pinned to ONE core
  (``os.sched_setaffinity``), i.e. what one worker does on its own;
* the local engine as shipped, on all cores (it overlaps decoding, detection and classification);
* the Ray engine with 1 worker and with ``--workers`` workers (one CPU each).

Model loading is excluded everywhere: the local runs get a pipeline loaded (and warmed up on one
video) beforehand, and a Ray run is timed from the moment its workers report their models loaded
(the end-to-end time, with Ray start-up and model loading, is printed too).  Every output folder is
then compared with the first local one: CSVs byte for byte, summary JSON key by key except
``analysis_fps`` (a timing).  The peak resident memory of each Ray worker process (``VmHWM``, read
while it runs) is printed too.  Exit status 1 if any output differs.  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = REPO.parent / "shared" / "media" / "street_phone.mp4"
TARGET = 1.6  # issue 6: Ray with 2 workers vs one local worker


def long_recording(media: Path, dest: Path, frames: int = 3000) -> Path:
    """One long recording assembled from the shared media, at street_phone.mp4's size and rate: the clip
    (one face) alternating with a slow pan over the group photo (several faces), ``frames`` frames in all."""
    import cv2

    from deepfer.analysis.video import read_frames, write_frames

    clip, fps = read_frames(media / "street_phone.mp4")
    h, w = clip[0].shape[:2]
    photo = cv2.imread(str(media / "test_image.jpg"))
    ph, pw = photo.shape[:2]
    cw, ch = int(pw * 0.7), int(pw * 0.7 * h / w)
    pan = [cv2.resize(photo[(ph - ch) // 2 :][:ch, int((pw - cw) * k / 229) :][:, :cw], (w, h), interpolation=cv2.INTER_AREA)
           for k in range(230)]
    seq, k = [], 0
    while len(seq) < frames:
        seq += (clip if k % 2 == 0 else pan)[: frames - len(seq)]
        k += 1
    return write_frames(dest, seq, fps)


log = logging.getLogger("benchmarks.ray_vs_local")


def compare_outputs(a: Path, b: Path) -> list[str]:
    """Differences between two output folders (empty: identical); ``analysis_fps`` is a timing and ignored."""
    diffs = []
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    for name in names:
        pa, pb = a / name, b / name
        if not (pa.is_file() and pb.is_file()):
            diffs.append(f"{name}: only in {a if pa.is_file() else b}")
        elif name.endswith(".summary.json"):
            ja, jb = (json.loads(p.read_text(encoding="utf-8")) for p in (pa, pb))
            ja.pop("analysis_fps", None)
            jb.pop("analysis_fps", None)
            if ja != jb:
                diffs.append(f"{name}: summaries differ")
        elif pa.read_bytes() != pb.read_bytes():
            diffs.append(f"{name}: contents differ")
    return diffs


def _timed_local(src: Path, out: Path, warm_up: Path, pipeline=None) -> tuple[float, int]:
    """Seconds and frames of one local-engine run over ``src`` (after a warm-up run on one video)."""
    from batch.engines.local import run_batch
    from deepfer.analysis.pipeline import FacePipeline

    pipeline = pipeline or FacePipeline.create()
    run_batch([sorted(src.iterdir())[0]], warm_up, pipeline=pipeline, progress=False)
    t0 = time.perf_counter()
    report = run_batch([src], out, pipeline=pipeline, progress=False)
    return time.perf_counter() - t0, report.frames


def one_core_worker(src: Path, out: Path, warm_up: Path) -> tuple[float, int]:
    """The local engine in a child process that may use one core only (the first this process may use)."""
    cpu = min(os.sched_getaffinity(0))
    code = ("import json, os, sys; from pathlib import Path; "
            f"os.sched_setaffinity(0, {{{cpu}}}); "  # before TensorFlow and OpenCV size their thread pools
            "from benchmarks.ray_vs_local import _timed_local; "
            "print(json.dumps(_timed_local(*map(Path, sys.argv[1:]))))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", code, str(src), str(out), str(warm_up)], env=env, cwd=REPO,
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"the one-core local worker failed:\n{res.stderr[-3000:]}")
    seconds, frames = json.loads(res.stdout.strip().splitlines()[-1])
    return seconds, frames


class PeakMemory:
    """Polls the peak resident memory (``VmHWM``) of worker processes from a thread until :meth:`stop`."""

    def __init__(self):
        import threading

        self._peaks: dict[int, float] = {}
        self._pids: list[int] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def watch(self, pids: list[int]) -> None:
        self._pids = list(pids)

    def _poll(self) -> None:
        while not self._done.wait(0.2):
            for pid in self._pids:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self._peaks[pid] = max(self._peaks.get(pid, 0.0), int(line.split()[1]) / 1024)

    def stop(self) -> list[float]:
        """Peak MB of each watched worker."""
        self._done.set()
        self._thread.join()
        return list(self._peaks.values())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ray_vs_local", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help=f"the video copied N times (default {DEFAULT_VIDEO})")
    p.add_argument("--videos", type=int, default=8, metavar="N", help="how many copies (default 8)")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="Ray workers (default 2)")
    p.add_argument("--rounds", type=int, default=3, metavar="R", help="interleaved rounds; medians are printed (default 3)")
    p.add_argument("--long", type=int, metavar="FRAMES",
                   help="instead: ONE recording of FRAMES frames assembled from the shared media (long_recording), "
                   "which the Ray engine analyzes in time ranges on its workers")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not args.video.is_file():
        print(f"error: video not found: {args.video}", file=sys.stderr)
        return 2
    if args.videos < 1 or args.workers < 1 or args.rounds < 1:
        p.error("--videos, --workers and --rounds must be at least 1")
    from batch.engines.ray import _start_ray, import_ray, run_batch_ray
    from batch.errors import BatchError
    from deepfer.analysis.pipeline import FacePipeline

    try:
        ray = import_ray()
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="ray_vs_local-"))
    try:
        src = tmp / "videos"
        src.mkdir()
        if args.long:
            long_recording(args.video.parent, src / "long.mp4", args.long)
        else:
            for i in range(args.videos):
                shutil.copyfile(args.video, src / f"clip_{i + 1}{args.video.suffix}")
        pipeline = FacePipeline.create()
        _start_ray(ray, None, args.workers)
        labels = {"one": "one local worker (local engine pinned to 1 core)",
                  "local": "local engine as shipped (all cores)"}
        labels.update({f"ray{n}": f"ray engine, {n} worker(s) (1 Ray CPU each, not pinned)" for n in sorted({1, args.workers})})
        seconds: dict[str, list[float]] = {k: [] for k in labels}
        end_to_end: dict[str, list[float]] = {k: [] for k in labels if k.startswith("ray")}
        worker_mb: dict[str, list[float]] = {k: [] for k in labels if k.startswith("ray")}
        frames: dict[str, int] = {}
        reference = None
        diffs = []
        for r in range(args.rounds):
            for key in labels:
                out = tmp / f"{key}-{r}"
                if key == "one":
                    s, frames[key] = one_core_worker(src, out, tmp / f"warm-{key}-{r}")
                elif key == "local":
                    s, frames[key] = _timed_local(src, out, tmp / f"warm-{key}-{r}", pipeline)
                else:
                    t0, ready = time.perf_counter(), {}
                    watcher = PeakMemory()
                    rep = run_batch_ray([src], out, workers=int(key[3:]), progress=False,
                                        on_ready=lambda pids, ready=ready, w=watcher: (ready.setdefault("t", time.perf_counter()), w.watch(pids)))
                    end = time.perf_counter()
                    worker_mb[key].extend(watcher.stop())
                    s, frames[key] = end - ready["t"], rep.frames
                    end_to_end[key].append(end - t0)
                seconds[key].append(s)
                reference = reference or out
                diffs += [f"{out.name}/{d}" for d in compare_outputs(reference, out)]
                if out != reference:
                    shutil.rmtree(out)
                print(f"  round {r + 1}: {labels[key]}: {s:.2f} s", file=sys.stderr, flush=True)
        ray.shutdown()

        med = {k: statistics.median(v) for k, v in seconds.items()}
        fps = {k: frames[k] / med[k] for k in med}
        what = "1 long video in time ranges" if args.long else f"{args.videos} videos"
        print(f"{what}, {frames['local']} frames, {os.cpu_count()} CPU cores, "
              f"load average {os.getloadavg()[0]:.1f}; medians of {args.rounds} interleaved rounds")
        for k, label in labels.items():
            extra = f"  (end to end with Ray start-up and model loading: {statistics.median(end_to_end[k]):.1f} s)" if k in end_to_end else ""
            print(f"  {label:<52} {med[k]:6.2f} s  {fps[k]:6.1f} frames/s{extra}")
        rn = f"ray{args.workers}"
        ratio = fps[rn] / fps["one"]
        print(f"ray engine with {args.workers} workers vs one local worker: {ratio:.2f}x "
              f"(target {TARGET}x: {'met' if ratio >= TARGET else 'NOT met'})")
        print(f"ray engine with {args.workers} workers vs the local engine on all cores: {fps[rn] / fps['local']:.2f}x")
        print(f"ray engine with {args.workers} workers vs 1 ray worker: {fps[rn] / fps['ray1']:.2f}x")
        for k in worker_mb:
            if worker_mb[k]:
                print(f"{labels[k]}: peak memory per worker process median {statistics.median(worker_mb[k]):.0f} MB, "
                      f"max {max(worker_mb[k]):.0f} MB (target <= 400 MB)")
        print("outputs identical in every run" if not diffs else "OUTPUTS DIFFER:\n  " + "\n  ".join(diffs))
        return 0 if not diffs else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
