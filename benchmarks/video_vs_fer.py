"""DeepFER's batch video analysis against the ``fer`` package, side by side in one run.

    python -m benchmarks.video_vs_fer                       # street_phone.mp4, fer from /tmp/fer-venv
    python -m benchmarks.video_vs_fer --video clip.mp4 --fer-python /path/to/venv/bin/python --crops 1000

Two comparisons.  Analysis: start-up (imports, model loading) excluded on both sides; each side gets a
warm-up run and the median of ``--repeats`` timed runs is reported, alternating DeepFER and fer so that
both see the same load on a shared machine.  Whole process: ``python -m batch VIDEO`` against a fresh
fer process analysing the same video once, start-up included (what a user waits for), medians.  ``fer`` runs in its own virtual environment (it would pull
PyTorch with its full dependencies): see requirements-bench.txt.  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = REPO.parent / "shared" / "media" / "street_phone.mp4"
DEFAULT_CROPS = REPO.parent / "shared" / "data" / "fer2013" / "validation"
WORKER = Path(__file__).resolve().parent / "fer_worker.py"

log = logging.getLogger("benchmarks.video_vs_fer")


def deepfer_video(pipeline, video: Path, out: Path) -> dict:
    import pandas as pd

    from deepfer.outputs.video import analyze_video

    t0 = time.perf_counter()
    vo = analyze_video(video, out, pipeline)
    dt = time.perf_counter() - t0
    df = pd.read_csv(vo.csv_path, keep_default_na=False)
    frames = int(df["frame"].nunique())
    with_face = int(df.loc[df["face_id"] != "", "frame"].nunique())
    return {"frames": frames, "frames_with_face": with_face, "seconds": dt, "fps": frames / dt}


def deepfer_process(video: Path, out: Path) -> float:
    """Seconds for a whole ``python -m batch VIDEO --out OUT`` process, start-up included."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "batch", str(video), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"python -m batch failed: {proc.stderr[-2000:]}")
    return dt


def fer_video(fer_python: str, video: Path, repeats: int = 1) -> dict:
    """One fer measurement in its own interpreter (``repeats`` 1: warm-up + 1 timed run; 0: one cold run),
    with ``process_s`` the whole process's wall time, or ``{"error": why}``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        t0 = time.perf_counter()
        proc = subprocess.run([fer_python, str(WORKER), str(video), str(repeats)], capture_output=True, text=True, env=env, timeout=900)
        process_s = time.perf_counter() - t0
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"could not run {fer_python}: {exc}"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"fer failed (exit {proc.returncode}): " + " | ".join(tail)}
    return {**json.loads(lines[-1]), "process_s": process_s}


def deepfer_crops(pipeline, crops_root: Path, n: int, work: Path) -> dict:
    from batch.engines.local import run_batch

    files = sorted(crops_root.rglob("*.jpg"))[:n]
    folder = work / "crops"
    folder.mkdir()
    for i, f in enumerate(files):
        shutil.copy(f, folder / f"{i:05d}_{f.name}")
    run_batch([folder], work / "warm", pipeline=pipeline, progress=False)  # warm-up
    t0 = time.perf_counter()
    report = run_batch([folder], work / "crops_out", pipeline=pipeline, progress=False)
    dt = time.perf_counter() - t0
    return {"images": report.images, "seconds": dt, "images_per_s": report.images / dt}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.video_vs_fer", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="video to analyze (default: shared street_phone.mp4)")
    p.add_argument("--fer-python", default=os.environ.get("FER_PYTHON", "/tmp/fer-venv/bin/python"),
                   help="python of the venv that has fer installed (env FER_PYTHON; default /tmp/fer-venv/bin/python)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per side, interleaved (medians are reported)")
    p.add_argument("--crops", type=int, default=1000, help="48x48 face crops for the image-folder benchmark (0 = skip)")
    p.add_argument("--crops-root", type=Path, default=DEFAULT_CROPS, help="folder of FER2013-style crops")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not args.video.is_file():
        print(f"error: video not found: {args.video}", file=sys.stderr)
        return 2

    from deepfer.analysis.pipeline import FacePipeline

    pipeline = FacePipeline.create()
    have_fer = Path(args.fer_python).is_file()
    fer_error = None if have_fer else f"no python at {args.fer_python} (create the fer venv: see requirements-bench.txt)"
    ours, theirs, our_proc, their_proc = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        deepfer_video(pipeline, args.video, work / "warm")  # warm-up: compile, caches
        for i in range(args.repeats):
            ours.append(deepfer_video(pipeline, args.video, work / f"run{i}"))
            print(f"deepfer run {i + 1}: {ours[-1]['fps']:.1f} frames/s", flush=True)
            our_proc.append(deepfer_process(args.video, work / f"proc{i}"))
            print(f"deepfer process {i + 1}: {our_proc[-1]:.2f} s", flush=True)
            if fer_error is None:
                r = fer_video(args.fer_python, args.video)
                whole = fer_video(args.fer_python, args.video, repeats=0) if "error" not in r else r
                if "error" in whole:
                    fer_error = whole["error"]
                else:
                    theirs.append(r)
                    their_proc.append(whole["process_s"])
                    print(f"fer     run {i + 1}: {r['fps']:.1f} frames/s; process {their_proc[-1]:.2f} s", flush=True)
        crops = deepfer_crops(pipeline, args.crops_root, args.crops, work) if args.crops and args.crops_root.is_dir() else None

    def median_run(runs):
        return sorted(runs, key=lambda r: r["fps"])[len(runs) // 2]

    best = median_run(ours)
    print()
    print(f"video: {args.video.name}")
    print(f"  DeepFER: {best['fps']:.1f} frames/s, face in {best['frames_with_face']}/{best['frames']} frames "
          f"({best['frames_with_face'] / best['frames']:.1%})")
    ok = best["frames_with_face"] >= 0.95 * best["frames"]
    if theirs:
        fb = median_run(theirs)
        ratio = best["fps"] / fb["fps"]
        print(f"  fer:     {fb['fps']:.1f} frames/s, face in {fb['frames_with_face']}/{fb['frames']} frames")
        print(f"  analysis speed DeepFER / fer: {ratio:.2f}x (target >= 10x) -> {'PASS' if ratio >= 10 else 'FAIL'}")
        ours_s, theirs_s = sorted(our_proc)[len(our_proc) // 2], sorted(their_proc)[len(their_proc) // 2]
        whole = theirs_s / ours_s
        print(f"  whole process (start-up included): DeepFER {ours_s:.2f} s, fer {theirs_s:.2f} s: {whole:.2f}x "
              f"(target >= 4x) -> {'PASS' if whole >= 4 else 'FAIL'}")
        ok = ok and ratio >= 10 and whole >= 4
    else:
        print(f"  fer: not measured: {fer_error}")
    if crops:
        print(f"crops: {crops['images']} 48x48 images at {crops['images_per_s']:.0f} images/s (target >= 500) -> "
              f"{'PASS' if crops['images_per_s'] >= 500 else 'FAIL'}")
        ok = ok and crops["images_per_s"] >= 500
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
