"""Feed mutated images and videos (truncated, bit-flipped, header-swapped, zeroed, bombs) through
``python -m batch`` under a hard memory ceiling, and check that no input is lost.

    python -m benchmarks.fuzz_batch --images 300 --videos 30        # prints the figures of the README

For every run: the exit status is 0 or 1 (never a crash), stderr has no traceback, every input is in
exactly one place (``images.csv``, a video's outputs, or ``errors.csv``), and the peak memory of the
batch process stays under ``--ceiling-mb`` (a hard limit: ``RLIMIT_DATA`` in the child, so a runaway
allocation fails inside the batch and must become an ``errors.csv`` row, not a dead machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims ``width`` x ``height`` gray pixels (all zero)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * min(height, 64), 9)  # a few rows only: the decoder finds the rest missing
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def mutate(data: bytes, how: str, rng: random.Random, other: bytes) -> bytes:
    """One mutation of a file's bytes; ``other``: bytes of a file of another format (header swaps)."""
    n = len(data)
    if how == "truncate":
        return data[: rng.randrange(0, max(1, n))]
    if how == "bitflip":
        b = bytearray(data)
        for _ in range(rng.randint(1, 64)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if how == "header_swap":  # another format's first bytes on this body
        k = rng.randint(8, 512)
        return other[:k] + data[k:]
    if how == "zero_block":
        i = rng.randrange(n)
        return data[:i] + b"\0" * rng.randint(1, 4096) + data[i + 4096 :]
    if how == "random":
        return rng.randbytes(rng.randint(0, 4096))
    if how == "empty":
        return b""
    if how == "intact":
        return data
    raise ValueError(how)


MUTATIONS = ("truncate", "bitflip", "header_swap", "zero_block", "random", "empty", "intact")


@dataclass
class Corpus:
    folder: Path
    inputs: list[Path]


def make_corpus(media: Path, dest: Path, images: int, videos: int, seed: int = 0) -> Corpus:
    """``images`` mutated photos (and pixel bombs) and ``videos`` mutated clips under ``dest``."""
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    photos = [(media / n).read_bytes() for n in ("justin.jpg", "test_image.jpg", "no-faces.jpg")]
    clip = _short_clip(media / "street_phone.mp4", dest.parent / f"{dest.name}-seed-clip.mp4", frames=24)
    inputs = []
    for i in range(images):
        how = MUTATIONS[i % len(MUTATIONS)]
        if i % 50 == 7:
            how, data, suffix = "bomb", _png_bomb(rng.choice([20000, 60000]), rng.choice([20000, 60000])), ".png"
        else:
            data = mutate(rng.choice(photos), how, rng, clip)
            suffix = rng.choice([".jpg", ".jpg", ".png", ".webp"]) if how == "header_swap" else ".jpg"
        p = dest / f"img_{i:04d}_{how}{suffix}"
        p.write_bytes(data)
        inputs.append(p)
    for i in range(videos):
        how = MUTATIONS[i % len(MUTATIONS)]
        p = dest / f"vid_{i:03d}_{how}.mp4"
        p.write_bytes(mutate(clip, how, rng, photos[0]))
        inputs.append(p)
    return Corpus(dest, inputs)


def _short_clip(src: Path, dst: Path, frames: int) -> bytes:
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    for _ in range(frames):
        ok, f = cap.read()
        if not ok:
            break
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (f.shape[1], f.shape[0]))
        writer.write(f)
    cap.release()
    writer.release()
    data = dst.read_bytes()
    dst.unlink()
    return data


@dataclass
class FuzzResult:
    inputs: int
    exit_code: int
    traceback: bool
    lost: list[str]
    duplicated: list[str]
    analyzed: int
    errors: int
    peak_mb: float
    seconds: float


def _limit(ceiling_mb: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (ceiling_mb << 20, ceiling_mb << 20))

    return apply


def run_fuzz(corpus: Corpus, out: Path, ceiling_mb: int = 2048, extra: tuple[str, ...] = ()) -> FuzzResult:
    """Run the batch on ``corpus`` in a child process limited to ``ceiling_mb`` and account for every input."""
    from deepfer.outputs.sinks import read_rows

    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "DEEPFER_THREADS": "1"}
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-m", "batch", str(corpus.folder), "--out", str(out), "--no-progress", *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, preexec_fn=_limit(ceiling_mb), timeout=3600)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    where: dict[str, list[str]] = {str(p): [] for p in corpus.inputs}
    images = {r["path"] for r in read_rows(out / "images.csv")} if (out / "images.csv").is_file() else set()
    for p in images:
        where.setdefault(p, []).append("images.csv")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8")) if (out / "manifest.json").is_file() else {"videos": {}}
    by_source = {Path(e["source"]["path"]): stem for stem, e in manifest["videos"].items() if e.get("status") == "done"}
    for p in corpus.inputs:
        stem = by_source.get(p.resolve())
        if stem is not None and (out / f"{stem}.csv").is_file():
            where[str(p)].append(f"{stem}.csv")
    errors = read_rows(out / "errors.csv") if (out / "errors.csv").is_file() else []
    for r in errors:
        where.setdefault(r["path"], []).append("errors.csv")
    return FuzzResult(
        inputs=len(corpus.inputs), exit_code=proc.returncode, traceback="Traceback" in proc.stderr,
        lost=[p for p, w in where.items() if not w], duplicated=[p for p, w in where.items() if len(w) > 1],
        analyzed=sum(1 for w in where.values() if w and w[0] != "errors.csv"), errors=len(errors),
        peak_mb=max(peak, before) / 1024, seconds=seconds,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.fuzz_batch", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media", help="the shared photos and video to mutate")
    ap.add_argument("--images", type=int, default=300, help="mutated images (default 300)")
    ap.add_argument("--videos", type=int, default=30, help="mutated videos (default 30)")
    ap.add_argument("--ceiling-mb", type=int, default=2048, help="hard memory limit of the batch process (default 2048)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/deepfer-fuzz"), help="scratch folder (replaced)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)
    corpus = make_corpus(args.media, args.work / "inputs", args.images, args.videos, args.seed)
    r = run_fuzz(corpus, args.work / "out", args.ceiling_mb)
    print(f"inputs tried: {r.inputs} ({args.images} images, {args.videos} videos; mutations: {', '.join(MUTATIONS)}, pixel bombs)")
    print(f"exit status: {r.exit_code}; traceback on stderr: {'yes' if r.traceback else 'no'}")
    print(f"analyzed: {r.analyzed}; errors.csv rows: {r.errors}; rows lost: {len(r.lost)}; inputs in two places: {len(r.duplicated)}")
    print(f"peak memory: {r.peak_mb:.0f} MB (ceiling {args.ceiling_mb} MB); {r.seconds:.1f} s")
    ok = r.exit_code in (0, 1) and not r.traceback and not r.lost and not r.duplicated
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
