"""The annotated-video writer's cost: H.264 (:class:`deepfer.analysis.video.VideoSink`) against the
MPEG-4 part 2 (``mp4v``) OpenCV writer it replaced, on the same frames.

    python -m benchmarks.video_writer                                   # street_phone.mp4, 3 rounds
    python -m benchmarks.video_writer --video clip.mp4 --presets veryfast,faster --threads 1,2

For each writer: milliseconds per frame (the best of ``--rounds``, encoding only: the frames are decoded
once beforehand), the file size, the mean PSNR of the decoded file against the frames written, and
whether two runs gave the same bytes.  ``--presets`` / ``--threads`` try other x264 settings than
:data:`~deepfer.analysis.video.H264_OPTIONS` (the sink's own settings are always measured).  The
machine's load is printed: on a shared machine other processes inflate the times.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent


def _mp4v(path: Path, frames, fps: float) -> None:
    import cv2

    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    try:
        for f in frames:
            out.write(f)
    finally:
        out.release()


def _h264(path: Path, frames, fps: float, options: dict | None = None) -> None:
    from deepfer.analysis import video

    h, w = frames[0].shape[:2]
    with mock.patch.dict(video.H264_OPTIONS, options or {}):
        with video.VideoSink(path, fps, (w, h)) as sink:
            for f in frames:
                sink.write(f)


def _psnr(path: Path, frames) -> float:
    import av
    import cv2
    import numpy as np

    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    if len(decoded) != len(frames):
        return float("nan")
    return float(np.mean([cv2.PSNR(a[: b.shape[0], : b.shape[1]], b) for a, b in zip(frames, decoded)]))


def measure(name: str, write, frames, fps: float, rounds: int, tmp: Path) -> dict:
    times, digests = [], set()
    path = tmp / f"{name.replace(' ', '_').replace('=', '')}.mp4"
    for _ in range(max(2, rounds)):
        t0 = time.perf_counter()
        write(path, frames, fps)
        times.append(time.perf_counter() - t0)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return {"writer": name, "ms_per_frame": 1000 * min(times) / len(frames), "bytes": path.stat().st_size,
            "psnr_db": _psnr(path, frames), "same_bytes": len(digests) == 1}


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO))
    from deepfer.analysis.video import H264_OPTIONS, iter_frames, read_video_info

    default_video = Path(os.environ.get("DEEPFER_SHARED", REPO.parent / "shared")) / "media" / "street_phone.mp4"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=default_video)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--presets", default="", help="other x264 presets to try, comma-separated")
    ap.add_argument("--threads", default="", help="other x264 thread counts to try, comma-separated")
    args = ap.parse_args(argv)

    info = read_video_info(args.video)
    frames = [f for _, _, f in iter_frames(args.video)]
    print(f"{args.video.name}: {len(frames)} frames, {info.width}x{info.height}, {info.fps:.3f} fps; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows.append(measure("mp4v (OpenCV, before)", _mp4v, frames, info.fps, args.rounds, tmp))
        rows.append(measure(f"h264 {H264_OPTIONS['preset']} crf={H264_OPTIONS['crf']} threads={H264_OPTIONS['threads']} (VideoSink)",
                            _h264, frames, info.fps, args.rounds, tmp))
        presets = [p for p in args.presets.split(",") if p] or [H264_OPTIONS["preset"]]
        threads = [t for t in args.threads.split(",") if t] or [H264_OPTIONS["threads"]]
        for preset in presets:
            for n in threads:
                opts = {"preset": preset, "threads": n}
                if opts == {k: H264_OPTIONS[k] for k in opts}:
                    continue
                rows.append(measure(f"h264 {preset} crf={H264_OPTIONS['crf']} threads={n}",
                                    lambda p, f, fps, o=opts: _h264(p, f, fps, o), frames, info.fps, args.rounds, tmp))
    width = max(len(r["writer"]) for r in rows)
    print(f"{'writer':<{width}}  ms/frame      bytes  PSNR dB  same bytes twice")
    for r in rows:
        print(f"{r['writer']:<{width}}  {r['ms_per_frame']:8.2f}  {r['bytes']:9d}  {r['psnr_db']:7.2f}  {r['same_bytes']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
