"""The batch module on Ray (``--engine ray --workers 2``) against one local worker, on a folder of 8 videos.

    .venv/bin/pip install -r requirements-ray.txt
    .venv/bin/python -m benchmarks.ray_vs_local                  # 8 copies of street_phone.mp4
    .venv/bin/python -m benchmarks.ray_vs_local --videos 4 --workers 2 --video clip.mp4

The videos are copies of ``--video`` in a temporary folder (removed afterwards).  Model loading is
excluded on both sides: the local engine gets a pipeline loaded beforehand, and the Ray run is
timed from the moment its workers report their models loaded (the end-to-end time, Ray start-up
and model loading included, is printed too).  Then every output file is compared: CSVs byte for
byte, summary JSON key by key except ``analysis_fps`` (a timing).  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = REPO.parent / "shared" / "media" / "street_phone.mp4"

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ray_vs_local", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help=f"the video copied N times (default {DEFAULT_VIDEO})")
    p.add_argument("--videos", type=int, default=8, metavar="N", help="how many copies (default 8)")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="Ray workers (default 2)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not args.video.is_file():
        print(f"error: video not found: {args.video}", file=sys.stderr)
        return 2
    from batch.errors import BatchError
    from batch.ray_engine import _start_ray, import_ray, run_batch_ray
    from batch.runner import run_batch
    from deepfer.pipeline import FacePipeline

    try:
        ray = import_ray()
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="ray_vs_local-"))
    try:
        src = tmp / "videos"
        src.mkdir()
        for i in range(args.videos):
            shutil.copyfile(args.video, src / f"clip_{i + 1}{args.video.suffix}")

        pipeline = FacePipeline.create()
        run_batch([src / "clip_1.mp4"], tmp / "warm-up", pipeline=pipeline, progress=False)  # as each Ray worker does
        t0 = time.perf_counter()
        local = run_batch([src], tmp / "local", pipeline=pipeline, progress=False)
        local_s = time.perf_counter() - t0

        _start_ray(ray, None, args.workers)
        timed = {}
        for n in sorted({1, args.workers}):  # one Ray worker too: how the engine scales from 1 to N workers
            t0, ready = time.perf_counter(), {}
            remote = run_batch_ray([src], tmp / f"ray{n}", workers=n, progress=False,
                                   on_ready=lambda pids, ready=ready: ready.setdefault("t", time.perf_counter()))
            end = time.perf_counter()
            timed[n] = (end - ready["t"], end - t0, remote.frames)
        ray.shutdown()

        frames = local.frames
        print(f"{args.videos} videos, {frames} frames, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
        print(f"local engine, 1 worker (all cores):  {local_s:6.1f} s  {frames / local_s:6.1f} frames/s")
        for n, (work_s, total_s, ray_frames) in timed.items():
            print(f"ray engine, {n} worker(s), 1 core each: {work_s:6.1f} s  {ray_frames / work_s:6.1f} frames/s  "
                  f"(end to end with Ray start-up and model loading: {total_s:.1f} s)")
        print(f"speed-up of ray {args.workers} workers over the local engine: {local_s / timed[args.workers][0]:.2f}x; "
              f"over 1 ray worker: {timed[1][0] / timed[args.workers][0]:.2f}x")
        diffs = []
        for n in timed:
            diffs += [f"ray{n}/{d}" for d in compare_outputs(tmp / "local", tmp / f"ray{n}")]
        print("outputs identical" if not diffs else "OUTPUTS DIFFER:\n  " + "\n  ".join(diffs))
        return 0 if not diffs else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
