"""Load test of the Gradio ``/predict`` API: N calls from K concurrent ``gradio_client`` clients.

Every client sends its own variant of one photo (scaled, some mirrored, pasted into its own cell
of a grey canvas), so it knows where the face must be; an answer whose box is not its own face,
or a lost call, fails the run.  Prints throughput and latency percentiles.  Loopback only.

    python benchmarks/gradio_load.py                       # starts a server in-process, 200 calls, 8 clients
    python benchmarks/gradio_load.py --url http://127.0.0.1:7860 --calls 50 --clients 4
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_IMAGE = Path(os.environ.get("DEEPFER_SHARED", REPO.parent / "shared")) / "media" / "justin.jpg"
CANVAS = 640  # at most the Haar detector's max_side, so the server does not rescale it
GRID = 3  # 3x3 cells: variants never overlap
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

@dataclass
class Variant:
    path: Path
    box: tuple[int, int, int, int]  # where the face must be found (x, y, w, h)


def iou(a, b) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def make_variants(image: np.ndarray, face_box, n: int, out_dir: Path) -> list[Variant]:
    """``n`` images (n <= 9): the photo scaled by a different factor, every other one mirrored,
    each in its own cell of a grey canvas; with the box its face must be found at."""
    import cv2

    if n > GRID * GRID:
        raise ValueError(f"at most {GRID * GRID} distinct variants")
    cell = CANVAS // GRID
    H, W = image.shape[:2]
    x, y, w, h = face_box
    out = []
    for k in range(n):
        s = (0.95 - 0.05 * (k % 4)) * cell / max(H, W)
        flip = k % 2 == 1
        small = cv2.resize(image[:, ::-1] if flip else image, (round(W * s), round(H * s)), interpolation=cv2.INTER_AREA)
        ox, oy = (k % GRID) * cell, (k // GRID) * cell
        canvas = np.full((CANVAS, CANVAS, 3), 128, np.uint8)
        canvas[oy : oy + small.shape[0], ox : ox + small.shape[1]] = small
        bx = (W - x - w) if flip else x
        box = (round(ox + bx * s), round(oy + y * s), round(w * s), round(h * s))
        path = out_dir / f"variant_{k}.png"
        cv2.imwrite(str(path), canvas)
        out.append(Variant(path, box))
    return out


def check_answer(result: dict, mine: Variant, variants: list[Variant]) -> str | None:
    """None if ``result`` is the answer for ``mine``; else what is wrong."""
    faces = result.get("faces") if isinstance(result, dict) else None
    if not faces or len(faces) != 1:
        return f"expected one face, got {None if faces is None else len(faces)}"
    box = faces[0]["box"]
    scores = [iou(box, v.box) for v in variants]
    best = int(np.argmax(scores))
    if variants[best] is not mine or scores[best] < 0.5:
        return f"box {box} is not this client's face {mine.box} (best match: variant {best}, IoU {scores[best]:.2f})"
    if abs(sum(faces[0]["probabilities"].values()) - 1.0) > 1e-3:
        return "probabilities do not sum to 1"
    return None


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"refusing to load-test {host}: this benchmark only talks to loopback servers")


def run_load(url: str, variants: list[Variant], calls: int = 200, clients: int = 8, timeout_s: float = 300.0,
             progress: bool = False) -> dict:
    """Send ``calls`` /predict requests from ``clients`` threads (one ``gradio_client.Client`` each,
    client ``i`` always sending variant ``i % len(variants)``).  Raises AssertionError if any call
    is lost, fails, or answers with another client's face; returns the timing figures."""
    from gradio_client import Client, handle_file
    from tqdm import tqdm

    check_loopback(url)
    per_client = [calls // clients + (1 if i < calls % clients else 0) for i in range(clients)]
    deadline = time.monotonic() + timeout_s
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> int:
        mine = variants[i % len(variants)]
        client = Client(url, verbose=False)
        done = 0
        for _ in range(per_client[i]):
            if time.monotonic() > deadline:
                with lock:
                    errors.append(f"client {i}: time limit reached after {done} calls")
                break
            t0 = time.perf_counter()
            try:
                result = client.predict(handle_file(str(mine.path)), api_name="/predict")
            except Exception as exc:  # a failed call is a result to report
                with lock:
                    errors.append(f"client {i}: {type(exc).__name__}: {exc}")
                continue
            dt = time.perf_counter() - t0
            problem = check_answer(result, mine, variants)
            with lock:
                latencies.append(dt)
                bar.update()
                if problem:
                    errors.append(f"client {i}: {problem}")
            done += 1
        client.close()
        return done

    t0 = time.perf_counter()
    with tqdm(total=calls, unit="call", desc="/predict", disable=not progress) as bar, cf.ThreadPoolExecutor(clients) as pool:
        answered = sum(pool.map(worker, range(clients)))
    wall = time.perf_counter() - t0
    lat = np.asarray(latencies) * 1000
    stats = {
        "calls": calls, "clients": clients, "answered": answered, "errors": len(errors), "wall_s": wall,
        "throughput_per_s": answered / wall if wall else 0.0,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p95_ms": float(np.percentile(lat, 95)) if len(lat) else float("nan"),
        "max_ms": float(lat.max()) if len(lat) else float("nan"),
    }
    if errors or answered != calls:
        raise AssertionError(f"{answered}/{calls} calls answered correctly; {len(errors)} problem(s), e.g. {errors[:3]}")
    return stats


def reference_box(url: str, image_path: Path) -> tuple[int, int, int, int]:
    """The face box the server finds in the unmodified photo (the variants' boxes derive from it)."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    try:
        faces = client.predict(handle_file(str(image_path)), api_name="/predict")["faces"]
    finally:
        client.close()
    if len(faces) != 1:
        raise SystemExit(f"{image_path}: expected exactly one face, the server found {len(faces)}")
    return tuple(faces[0]["box"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--url", default=None, help="a running loopback server (default: start one in this process)")
    p.add_argument("--model", default=None, help="model for the in-process server (default: models/deepfer.keras)")
    p.add_argument("--image", default=str(DEFAULT_IMAGE), help="a photo with exactly one face")
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (at most 9 distinct images)")
    p.add_argument("--time-limit", type=float, default=300.0, metavar="S", help="give up after S seconds")
    a = p.parse_args(argv)
    if not 1 <= a.clients <= GRID * GRID or not 1 <= a.calls <= 5000:
        p.error(f"--clients must be 1..{GRID * GRID} and --calls 1..5000")
    if a.url:
        try:
            check_loopback(a.url)
        except ValueError as exc:
            p.error(str(exc))
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    from deepfer.errors import DeepFERError
    from deepfer.preprocess import read_image

    try:
        image = read_image(a.image)
    except DeepFERError as exc:
        raise SystemExit(f"error: {exc}") from None
    demo = None
    url = a.url
    if url is None:
        from deepfer.analysis.pipeline import FacePipeline
        from deepfer.apps.gradio_app import build_app, launch

        demo = build_app(FacePipeline.create(a.model))
        _, url, _ = launch(demo, "127.0.0.1", free_port(), block=False, quiet=True)
    try:
        box = reference_box(url, Path(a.image))
        with tempfile.TemporaryDirectory() as tmp:
            variants = make_variants(image, box, a.clients, Path(tmp))
            stats = run_load(url, variants, a.calls, a.clients, a.time_limit, progress=True)
    finally:
        if demo is not None:
            demo.close()
    print(f"{stats['answered']}/{stats['calls']} /predict calls from {stats['clients']} clients answered, none mixed up, "
          f"in {stats['wall_s']:.1f} s: {stats['throughput_per_s']:.1f} calls/s, "
          f"latency p50 {stats['p50_ms']:.0f} ms, p95 {stats['p95_ms']:.0f} ms, max {stats['max_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
