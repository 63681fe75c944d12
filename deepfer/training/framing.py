"""How a detector's box must be widened so a crop is framed like a FER2013 face.

FER2013 faces fill their 48x48 frame with a little forehead and chin; a Haar box is tighter.
This experiment upscales validation faces (x4), pads them with their replicated border, runs the
detector, re-crops each found face with several margins and measures accuracy per margin.  The
margin with the best accuracy is the one :data:`deepfer.preprocess.DEFAULT_MARGIN` uses.
"""

from __future__ import annotations

import numpy as np

from deepfer.labels import INPUT_SIZE
from deepfer.training.data import load_any_split


def framing_table(pipe, images: np.ndarray, labels: np.ndarray, margins: list[float], upscale: int = 4) -> list[dict]:
    """Per margin: faces detected, accuracy on those, and the reference accuracy of the original crops."""
    import cv2

    from deepfer.preprocess import crop_face

    side = INPUT_SIZE * upscale
    pad = side // 2
    crops: dict[float, list[np.ndarray]] = {m: [] for m in margins}
    found_idx = []
    for i, img in enumerate(images[..., 0]):
        big = cv2.resize(img, (side, side), interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        faces = pipe.detector.detect(big)
        if len(faces) == 0:
            continue
        # the detection closest to the original face's centre
        centres = faces.boxes[:, :2] + faces.boxes[:, 2:] / 2
        j = int(np.argmin(np.linalg.norm(centres - (pad + side / 2), axis=1)))
        box = tuple(faces.boxes[j])
        found_idx.append(i)
        for m in margins:
            crops[m].append(crop_face(big, box, m))
    found = np.asarray(found_idx, np.int64)
    ref = pipe.classifier.predict(images[found]).argmax(1) if len(found) else np.zeros(0)
    rows = []
    for m in margins:
        if not len(found):
            rows.append({"margin": m, "detected": 0, "accuracy": float("nan"), "reference_accuracy": float("nan")})
            continue
        pred = pipe.classifier.predict(np.stack(crops[m])[..., None]).argmax(1)
        rows.append({
            "margin": m,
            "detected": int(len(found)),
            "accuracy": float((pred == labels[found]).mean()),
            "reference_accuracy": float((ref == labels[found]).mean()),
        })
    return rows


def run_framing(args) -> None:
    from deepfer.analysis.pipeline import FacePipeline

    ds = load_any_split(args.data)
    n = len(ds) if not args.limit else min(args.limit, len(ds))
    idx = np.random.default_rng(0).permutation(len(ds))[:n]
    pipe = FacePipeline.create(args.model)
    margins = [float(m) for m in args.margins.split(",")]
    rows = framing_table(pipe, ds.images[idx], ds.labels[idx], margins)
    print(f"{n} faces from {ds.source}, upscaled x4 and detected with {pipe.detector.name}")
    print(f"{'margin':>6} {'detected':>8} {'accuracy':>8} {'original 48x48 crops':>21}")
    for r in rows:
        print(f"{r['margin']:>6.2f} {r['detected']:>8d} {r['accuracy']:>8.4f} {r['reference_accuracy']:>21.4f}")
    best = max(rows, key=lambda r: r["accuracy"])
    print(f"best margin: {best['margin']:.2f}")
