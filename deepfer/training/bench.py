"""``python -m deepfer bench``: the classifier on each runtime, side by side.

Per runtime: batched throughput (face crops/s) and single-face latency, measured in this process
with the runtimes interleaved and medians over repeats (this kind of machine is shared and noisy);
start-up to the first prediction and peak memory, each measured in a fresh Python process (that is
what a user waits for and pays); and, with ``--data``, accuracy and macro-F1 on that split.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from deepfer.config import default_model_path
from deepfer.fileio import write_json_atomic as write_json
from deepfer.model.classifier import EmotionClassifier

#: Run in a fresh interpreter: import, load, one prediction, then a batch of 256; prints JSON.
_STARTUP = """
import json, re, sys, time
t0 = time.perf_counter()
import numpy as np
from deepfer.model.classifier import EmotionClassifier
clf = EmotionClassifier.load({model!r}, runtime={runtime!r})
clf.predict(np.zeros((1, 48, 48, 1), np.uint8))
first = time.perf_counter() - t0
clf.predict(np.zeros((256, 48, 48, 1), np.uint8))
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())  # this image's peak (ru_maxrss would include the parent's)
print(json.dumps({{"first_prediction_s": first, "peak_rss_mb": int(hwm.group(1)) / 1024 if hwm else float("nan"),
                  "tensorflow_imported": "tensorflow" in sys.modules}}))
"""


def _faces(n: int, data: str | None):
    """``(faces, labels or None, the split)``: real faces from ``data`` (repeated up to ``n``) or random pixels."""
    if data:
        from deepfer.training.data import load_any_split

        ds = load_any_split(data, progress=False)
        reps = int(np.ceil(n / len(ds)))
        return np.concatenate([ds.images] * reps)[:n], ds
    return np.random.default_rng(0).integers(0, 256, (n, 48, 48, 1), dtype=np.uint8), None


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


def startup(model: str | None, runtime: str) -> dict:
    """Start-up to the first prediction and peak memory of a fresh process on ``runtime``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", _STARTUP.format(model=model, runtime=runtime)], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"start-up probe on {runtime} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_bench(args) -> dict:
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    faces, ds = _faces(args.n, args.data)
    clfs = {r: EmotionClassifier.load(args.model, runtime=r) for r in runtimes}
    for clf in clfs.values():  # warm-up: compile, trace, allocate
        clf.predict(faces[: args.batch_size], batch_size=args.batch_size)
        for i in range(5):
            clf.predict(faces[i][None])
    rates: dict[str, list[float]] = {r: [] for r in runtimes}
    lats: dict[str, list[float]] = {r: [] for r in runtimes}
    starts: dict[str, list[dict]] = {r: [] for r in runtimes}
    for _ in range(args.repeats):
        for r, clf in clfs.items():
            rate, lat = measure(clf, faces, args.batch_size, max(1, args.single // args.repeats))
            rates[r].append(rate)
            lats[r].append(lat)
    for _ in range(args.startups):
        for r in runtimes:
            starts[r].append(startup(args.model, r))
    results = {}
    for r, clf in clfs.items():
        row = {
            "file": str(clf.path),
            "precision": clf.precision,
            "crops_per_s_median": round(float(np.median(rates[r])), 1),
            "crops_per_s_all": [round(x, 1) for x in rates[r]],
            "single_face_ms_median": round(float(np.median(lats[r])), 3),
        }
        if starts[r]:
            row["first_prediction_s_median"] = round(float(np.median([s["first_prediction_s"] for s in starts[r]])), 3)
            row["peak_rss_mb_median"] = round(float(np.median([s["peak_rss_mb"] for s in starts[r]])), 1)
            row["imports_tensorflow"] = any(s["tensorflow_imported"] for s in starts[r])
        if ds is not None:
            from deepfer.training.metrics import classification_report

            rep = classification_report(ds.labels, clf.predict(ds.images).argmax(1))
            row.update({"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "n": rep["n"]})
        results[r] = row
    first = next(iter(clfs.values()))
    result = {
        "model": str(args.model or default_model_path()),
        "architecture": first.metadata.get("architecture"),
        "flip_tta_in_model": first.metadata.get("flip_tta_in_model", False),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "faces": len(faces),
        "data": ds.source if ds is not None else "random pixels",
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "results": results,
    }
    print(f"model {result['model']} ({result['architecture']}, flip-TTA inside: {result['flip_tta_in_model']}) on {result['machine']}")
    print(f"{len(faces)} face crops ({result['data']}), batch {args.batch_size}; medians of {args.repeats} interleaved repeats, "
          f"start-up and memory: medians of {args.startups} fresh processes")
    head = f"{'runtime':<9} {'precision':<9} {'crops/s':>8} {'1 face ms':>9} {'start s':>7} {'peak MB':>7}"
    if ds is not None:
        head += f" {'accuracy':>8} {'macro-F1':>8}"
    print(head)
    for r, row in results.items():
        line = (f"{r:<9} {row['precision']:<9} {row['crops_per_s_median']:>8.0f} {row['single_face_ms_median']:>9.2f} "
                f"{row.get('first_prediction_s_median', float('nan')):>7.2f} {row.get('peak_rss_mb_median', float('nan')):>7.0f}")
        if ds is not None:
            line += f" {row['accuracy']:>8.4f} {row['macro_f1']:>8.4f}"
        print(line)
    if args.json:
        write_json(args.json, result)
    return result
