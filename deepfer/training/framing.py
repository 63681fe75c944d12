"""How a detector's box must be turned into a crop so it is framed like a FER2013 face.

FER2013 faces fill their 48x48 frame with a little forehead and chin; a detector's box is framed
differently (Haar's is square and tight, YuNet's about 1.25:1 tall).  This experiment upscales
validation faces (x4), pads them with their replicated border, runs a detector, re-crops each found
face in several framings and measures the classifier's accuracy per framing:

- ``square``: :func:`deepfer.preprocess.crop_face`, a square of side ``max(w, h) * (1 + 2 * margin)``
  around the box centre (what the library does today, chosen with Haar);
- ``square-width``: the same with the side measured from the box's width, ``w * (1 + 2 * margin)``
  (only for detectors whose boxes are not square: YuNet, MTCNN);
- ``upright`` and ``upright-width``: :func:`deepfer.preprocess.crop_face_upright`, the same squares
  after rotating the face upright about its eye midpoint (only for detectors that give landmarks: YuNet).

Detectors find different faces, so each row also gives the accuracy of the original 48x48 crops of
the same faces, and, with several detectors, the accuracy on the faces every detector found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepfer.labels import INPUT_SIZE
from deepfer.training.data import load_any_split

#: The crop framings compared (see the module docstring): name -> (rotated upright, square side measured from).
FRAMINGS = {"square": (False, "longer"), "square-width": (False, "width"), "upright": (True, "longer"), "upright-width": (True, "width")}


@dataclass(frozen=True)
class FramingRun:
    """One detector and framing at one margin: which faces it found and what the classifier said."""

    detector: str
    framing: str
    margin: float
    found: np.ndarray  # indices into the images, detected faces only
    pred: np.ndarray  # predicted label id of each found face


def framing_runs(classifier, detector, images: np.ndarray, margins: list[float], upscale: int = 4) -> list[FramingRun]:
    """Detect every face (upscaled, padded) with ``detector`` and classify its crop in every framing and margin."""
    import cv2

    from deepfer.preprocess import crop_face, crop_face_upright

    side = INPUT_SIZE * upscale
    pad = side // 2
    crops: dict[tuple[str, float], list[np.ndarray]] = {(f, m): [] for f in FRAMINGS for m in margins}
    found_idx = []
    square_boxes = True
    for i, img in enumerate(images[..., 0]):
        big = cv2.resize(img, (side, side), interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        faces = detector.detect(big)
        if len(faces) == 0:
            continue
        # the detection closest to the original face's centre
        centres = faces.boxes[:, :2] + faces.boxes[:, 2:] / 2
        j = int(np.argmin(np.linalg.norm(centres - (pad + side / 2), axis=1)))
        box = tuple(faces.boxes[j])
        found_idx.append(i)
        square_boxes = square_boxes and box[2] == box[3]
        for (framing, m), cs in crops.items():
            upright, measure = FRAMINGS[framing]
            if not upright:
                cs.append(crop_face(big, box, m, measure))
            elif faces.landmarks is not None:  # detectors without landmarks (Haar, MTCNN here) get no upright rows
                cs.append(crop_face_upright(big, box, faces.landmarks[j], m, measure))
    found = np.asarray(found_idx, np.int64)
    runs = []
    for (framing, m), cs in crops.items():
        if len(cs) != len(found) or (framing != "square" and not cs) or (square_boxes and FRAMINGS[framing][1] == "width"):
            continue  # no landmarks, or square boxes (Haar): the width rows would repeat the others
        pred = classifier.predict(np.stack(cs)[..., None]).argmax(1) if cs else np.zeros(0, np.int64)
        runs.append(FramingRun(detector.name, framing, m, found, pred))
    return runs


def framing_table(runs: list[FramingRun], labels: np.ndarray, reference_pred: np.ndarray) -> list[dict]:
    """Per run: faces detected, accuracy on those and of their original crops (``reference_pred``:
    the classifier on every original 48x48 image); with several detectors, the same two on the
    faces that every run found (``common_*``), the fair comparison between detectors."""
    common = np.arange(len(labels))
    for r in runs:
        common = np.intersect1d(common, r.found)
    rows = []
    for r in runs:
        row = {"detector": r.detector, "framing": r.framing, "margin": r.margin, "detected": int(len(r.found)),
               "accuracy": _accuracy(r.pred, labels[r.found]),
               "reference_accuracy": _accuracy(reference_pred[r.found], labels[r.found]),
               "common": int(len(common))}
        on_common = np.isin(r.found, common)
        row["common_accuracy"] = _accuracy(r.pred[on_common], labels[r.found][on_common])
        row["common_reference_accuracy"] = _accuracy(reference_pred[common], labels[common])
        rows.append(row)
    return rows


def _accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float((pred == truth).mean()) if len(truth) else float("nan")


def best_framing(rows: list[dict], on_common: bool = False) -> dict:
    """The row with the best accuracy on its detector's faces, or (``on_common``, to compare detectors)
    on the faces every detector found."""
    key = "common_accuracy" if on_common else "accuracy"
    return max(rows, key=lambda r: (r[key], r["accuracy"]))


def run_framing(args) -> None:
    from deepfer.analysis.detect import make_detector
    from deepfer.analysis.pipeline import FacePipeline

    ds = load_any_split(args.data)
    n = len(ds) if not args.limit else min(args.limit, len(ds))
    idx = np.random.default_rng(0).permutation(len(ds))[:n]
    images, labels = ds.images[idx], ds.labels[idx]
    classifier = FacePipeline.create(args.model).classifier  # the classifier every front end uses
    margins = [float(m) for m in args.margins.split(",")]
    names = [d.strip() for d in args.detector.split(",") if d.strip()]
    runs = []
    for name in names:
        runs += framing_runs(classifier, make_detector(name), images, margins)
    rows = framing_table(runs, labels, classifier.predict(images).argmax(1))
    describe = getattr(classifier, "describe", None)
    print(f"classifier: {describe() if describe else type(classifier).__name__}")
    print(f"{n} faces from {ds.source}, upscaled x4 and detected with {', '.join(names)}; "
          f"'original' is the classifier on the original 48x48 crops of the same faces")
    several = len(names) > 1
    head = f"{'detector':>8} {'framing':>13} {'margin':>6} {'detected':>8} {'accuracy':>8} {'original':>8}"
    if several:
        head += f" {'on the ' + str(rows[0]['common']) + ' found by all':>22} {'original':>8}"
    print(head)
    for r in rows:
        line = (f"{r['detector']:>8} {r['framing']:>13} {r['margin']:>6.3f} {r['detected']:>8d} "
                f"{r['accuracy']:>8.4f} {r['reference_accuracy']:>8.4f}")
        if several:
            line += f" {r['common_accuracy']:>22.4f} {r['common_reference_accuracy']:>8.4f}"
        print(line)
    for name in names:
        best = best_framing([r for r in rows if r["detector"] == name])
        print(f"best for {name}: {best['framing']} framing, margin {best['margin']:.3f} "
              f"(accuracy {best['accuracy']:.4f} vs {best['reference_accuracy']:.4f} for the original crops)")
    if several:
        best = best_framing(rows, on_common=True)
        print(f"best overall on the common faces: {best['detector']}, {best['framing']} framing, margin {best['margin']:.3f}")
