"""``python -m deepfer bench``: batched throughput and single-face latency of the classifier.

Both precisions are measured in the same run, interleaved, and medians are reported, because
this kind of machine is shared and noisy.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from deepfer.config import default_model_path
from deepfer.fileio import write_json_atomic as write_json
from deepfer.model.classifier import EmotionClassifier, cpu_has_native_bf16


def _faces(n: int, data: str | None) -> np.ndarray:
    if data:
        from deepfer.training.data import load_any_split

        ds = load_any_split(data, progress=False)
        reps = int(np.ceil(n / len(ds)))
        return np.concatenate([ds.images] * reps)[:n]
    return np.random.default_rng(0).integers(0, 256, (n, 48, 48, 1), dtype=np.uint8)


def measure(clf: EmotionClassifier, faces: np.ndarray, batch_size: int, single: int) -> tuple[float, float]:
    """(crops per second for one pass over ``faces``, median single-face latency in ms)."""
    t = time.perf_counter()
    clf.predict(faces, batch_size=batch_size)
    rate = len(faces) / (time.perf_counter() - t)
    lat = []
    for i in range(single):
        t = time.perf_counter()
        clf.predict(faces[i % len(faces)][None])
        lat.append(time.perf_counter() - t)
    return rate, 1000 * float(np.median(lat))


def run_bench(args) -> dict:
    path = args.model or str(default_model_path())
    faces = _faces(args.n, args.data)
    precisions = ["float32"] + (["bfloat16"] if cpu_has_native_bf16() else [])
    clfs = {p: EmotionClassifier.load(path, precision=p) for p in precisions}
    for clf in clfs.values():  # warm-up: trace and allocate
        clf.predict(faces[: args.batch_size], batch_size=args.batch_size)
        for i in range(5):
            clf.predict(faces[i][None])
    rates: dict[str, list[float]] = {p: [] for p in precisions}
    lats: dict[str, list[float]] = {p: [] for p in precisions}
    for _ in range(args.repeats):
        for p, clf in clfs.items():
            r, l = measure(clf, faces, args.batch_size, max(1, args.single // args.repeats))
            rates[p].append(r)
            lats[p].append(l)
    default = EmotionClassifier.load(path).precision
    result = {
        "model": path,
        "architecture": clfs["float32"].metadata.get("architecture"),
        "flip_tta_in_model": clfs["float32"].metadata.get("flip_tta_in_model", False),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "faces": len(faces),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "default_precision": default,
        "results": {
            p: {
                "crops_per_s_median": round(float(np.median(rates[p])), 1),
                "crops_per_s_all": [round(r, 1) for r in rates[p]],
                "single_face_ms_median": round(float(np.median(lats[p])), 2),
            }
            for p in precisions
        },
    }
    print(f"model {path} ({result['architecture']}, flip-TTA inside: {result['flip_tta_in_model']}) on {result['machine']}")
    print(f"{len(faces)} face crops, batch {args.batch_size}, {args.repeats} repeats (medians; precisions interleaved)")
    print(f"{'precision':<10} {'crops/s (batched)':>18} {'single face (ms)':>17}")
    for p, r in result["results"].items():
        mark = "  <- default on this CPU" if p == default else ""
        print(f"{p:<10} {r['crops_per_s_median']:>18.1f} {r['single_face_ms_median']:>17.2f}{mark}")
    if args.json:
        write_json(args.json, result)
    return result


