"""Kill ``python -m batch`` on one long video several times, ``--resume`` it each time, and print the
frames analyzed again after each kill, the total time against an uninterrupted run, and whether the
outputs are byte-identical to it.

    python -m benchmarks.kill_resume --repeat 80 --kills 3      # street_phone.mp4 x 80: 9,200 frames

Kills come at random moments (seeded), with SIGKILL: nothing in the batch gets to clean up.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def long_video(src: Path, dst: Path, repeat: int) -> Path:
    """``src`` played ``repeat`` times in a row, as one mp4."""
    from deepfer.analysis.video import read_frames, write_frames

    frames, fps = read_frames(src)
    return write_frames(dst, frames * repeat, fps)


def _batch(video: Path, out: Path, resume: bool) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [sys.executable, "-m", "batch", str(video), "--out", str(out), "--annotate", "--no-progress"] + (["--resume"] if resume else [])
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _digests(out: Path) -> dict[str, str]:
    got = {}
    for p in sorted(out.iterdir()):
        if p.name in ("manifest.json", ".deepfer-run.lock"):  # the manifest holds file times; the lock, a pid
            continue
        data = p.read_bytes()
        if p.name.endswith(".summary.json"):
            s = json.loads(data)
            s.pop("analysis_fps", None)
            data = json.dumps(s, sort_keys=True).encode()
        got[p.name] = hashlib.sha256(data).hexdigest()
    return got


def _analyzed_until(out: Path, stem: str) -> int:
    """One past the last frame with a row in the unfinished CSV (0 if none)."""
    tmp = out / f"{stem}.tmp.csv"
    if not tmp.is_file():
        return 0
    lines = tmp.read_text(encoding="utf-8").splitlines()
    last = [ln for ln in lines[1:] if ln.count(",") > 5]
    return int(last[-1].split(",", 1)[0]) + 1 if last else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.kill_resume", description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    ap.add_argument("--repeat", type=int, default=80, help="times street_phone.mp4 (115 frames) is repeated (default 80)")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/deepfer-kill-resume"))
    args = ap.parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    video = long_video(args.media / "street_phone.mp4", args.work / "long.mp4", args.repeat)
    rng = random.Random(args.seed)

    t0 = time.perf_counter()
    if _batch(video, args.work / "reference", False).wait() != 0:
        raise SystemExit("the uninterrupted run failed")
    uninterrupted = time.perf_counter() - t0
    print(f"{video.name}: {args.repeat * 115} frames; uninterrupted run {uninterrupted:.1f} s")

    out, total, redone = args.work / "out", 0.0, []
    ckpt = out / "long.tmp.checkpoint.json"
    for k in range(args.kills):
        wait = rng.uniform(0.15, 0.85) * uninterrupted / (args.kills + 1)
        t0 = time.perf_counter()
        proc = _batch(video, out, resume=k > 0)
        time.sleep(wait)
        until = _analyzed_until(out, "long")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        total += time.perf_counter() - t0
        until = max(until, _analyzed_until(out, "long"))
        resumes_at = json.loads(ckpt.read_text(encoding="utf-8"))["next_index"] if ckpt.is_file() else 0
        redone.append(until - resumes_at)
        print(f"kill {k + 1} after {wait:.1f} s: frames analyzed up to {until}, next run resumes at {resumes_at}: {until - resumes_at} frames to redo")
    t0 = time.perf_counter()
    if _batch(video, out, True).wait() != 0:
        raise SystemExit("the last resumed run failed")
    total += time.perf_counter() - t0
    same = _digests(out) == _digests(args.work / "reference")
    print(f"frames redone after {args.kills} kills: {sum(redone)} ({', '.join(map(str, redone))}); "
          f"time with kills {total:.1f} s vs {uninterrupted:.1f} s uninterrupted")
    print(f"outputs byte-identical to the uninterrupted run: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
