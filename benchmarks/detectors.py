"""Face detectors side by side on the shared media: faces found, false positives, time per frame.

    python -m benchmarks.detectors                          # haar, yunet and mtcnn (when importable)
    python -m benchmarks.detectors --detectors haar,yunet --json detectors.json

For every detector (its DeepFER defaults, :func:`deepfer.analysis.detect.make_detector`):

- photos: ``test_image.jpg`` (6 faces), ``justin.jpg`` (1), ``no-faces.jpg`` (0), as they are;
- the same photos mirrored, rotated by +20 and -20 degrees and shrunk to 25% (4 copies each), and
  rotated by +40 and -40 degrees (2 copies each);
- every frame of ``street_phone.mp4`` (one person in every frame): frames with exactly one face,
  frames with extra boxes (two or more), frames with none;
- the median milliseconds of one ``detect`` call per video frame (596x336), on one thread
  (``cv2.setNumThreads(1)``; TensorFlow's thread pools set to 1 for MTCNN).

A face counts as found when a detection's centre lies within half the face's side of a reference
face's centre and its size is within 0.5x..2x; each detection matches at most one face, and every
unmatched detection is a false positive.  The reference faces (:data:`REFERENCE_FACES`) are where
YuNet and MTCNN agree (IoU >= 0.73, the mean of their two boxes), checked by eye; on a transformed
copy they move with the same transform.  In the video, where no reference boxes exist, only counts
are compared (one person in every frame).  The machine's load is printed: on a shared machine other
processes inflate the times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Faces of the shared photos, ``(x, y, w, h)`` in the original pixels: the mean of YuNet's and
#: MTCNN's boxes where both found the face (they agree on all 7), checked by eye.
REFERENCE_FACES: dict[str, list[tuple[int, int, int, int]]] = {
    "test_image.jpg": [(858, 890, 416, 554), (314, 345, 96, 118), (1536, 382, 92, 103), (586, 419, 89, 114),
                       (855, 373, 84, 106), (1202, 400, 80, 104)],
    "justin.jpg": [(108, 77, 154, 206)],
    "no-faces.jpg": [],
}
VIDEO = "street_phone.mp4"
#: The transformed copies: name -> (mirror, rotation in degrees counter-clockwise, scale).
TRANSFORMS = {"mirrored": (True, 0.0, 1.0), "rot+20": (False, 20.0, 1.0), "rot-20": (False, -20.0, 1.0), "shrunk25": (False, 0.0, 0.25)}
STEEP = {"rot+40": (False, 40.0, 1.0), "rot-40": (False, -40.0, 1.0)}


@dataclass(frozen=True)
class Scene:
    """One test image and the centres and sides of the faces in it."""

    name: str
    image: np.ndarray
    centres: np.ndarray  # (N, 2)
    sides: np.ndarray  # (N,), sqrt(w * h)


def scene(name: str, image: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> Scene:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return Scene(name, image, b[:, :2] + b[:, 2:] / 2, np.sqrt(b[:, 2] * b[:, 3]))


def transformed(s: Scene, label: str, mirror: bool, angle: float, scale: float) -> Scene:
    """``s`` mirrored, rotated about its centre on a canvas large enough to keep every pixel (black
    corners), and/or scaled; the reference faces move with it."""
    import cv2

    img, centres = s.image, s.centres.copy()
    h, w = img.shape[:2]
    if mirror:
        img = img[:, ::-1].copy()
        centres[:, 0] = w - centres[:, 0]
    if angle == 0:  # a plain resize (area averaging, as a camera at a quarter of the resolution would give)
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        centres = centres * (img.shape[1] / w, img.shape[0] / h)
    else:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        c, si = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(round(h * si + w * c)), int(round(h * c + w * si))
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        img = cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        centres = centres @ m[:, :2].T + m[:, 2] if len(centres) else centres
    return Scene(f"{s.name} {label}", img, centres, s.sides * scale)


def match(s: Scene, boxes: np.ndarray) -> tuple[int, int]:
    """(reference faces found, false positives) for detections ``boxes`` ``(x, y, w, h)`` in ``s``."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(s.centres) or not len(b):
        return 0, len(b)
    dc = b[:, :2] + b[:, 2:] / 2
    dist = np.linalg.norm(dc[:, None] - s.centres[None], axis=2) / s.sides[None]
    ratio = np.sqrt(b[:, 2] * b[:, 3])[:, None] / s.sides[None]
    cost = np.where((dist < 0.5) & (ratio > 0.5) & (ratio < 2.0), dist, np.inf)
    found = 0
    while np.isfinite(cost).any():
        i, j = np.unravel_index(np.argmin(cost), cost.shape)
        cost[i, :] = np.inf
        cost[:, j] = np.inf
        found += 1
    return found, len(b) - found


def load_detectors(names: list[str]) -> dict:
    """Detectors by name; one that cannot be made here (MTCNN without TensorFlow) is reported and skipped."""
    from deepfer.analysis.detect import make_detector
    from deepfer.errors import DeepFERError

    out = {}
    for name in names:
        if name == "mtcnn":
            _single_thread_tensorflow()
        try:
            out[name] = make_detector(name)
        except DeepFERError as exc:
            print(f"note: skipping {name}: {exc}", file=sys.stderr)
    return out


def _single_thread_tensorflow() -> None:
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except (ImportError, RuntimeError):  # no TensorFlow (MTCNN is skipped), or its pools already started
        pass


def photo_figures(detector, scenes: list[Scene]) -> dict:
    found = fp = expected = 0
    per_image = {}
    for s in scenes:
        f, p = match(s, detector.detect(s.image).boxes)
        per_image[s.name] = {"found": f, "expected": len(s.centres), "false": p}
        found, fp, expected = found + f, fp + p, expected + len(s.centres)
    return {"found": found, "expected": expected, "false": fp, "images": per_image}


def video_figures(detector, frames: list[np.ndarray], warmup: int = 5) -> dict:
    for f in frames[:warmup]:
        detector.detect(f)
    counts, ms = [], []
    for f in frames:
        t0 = time.perf_counter()
        n = len(detector.detect(f))
        ms.append((time.perf_counter() - t0) * 1000.0)
        counts.append(n)
    c = np.asarray(counts)
    return {"frames": len(frames), "one_face": int((c == 1).sum()), "extra": int((c >= 2).sum()), "none": int((c == 0).sum()),
            "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90))}


def main(argv: list[str] | None = None) -> int:
    from deepfer.config import shared_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detectors", default="haar,yunet,mtcnn", help="comma-separated (mtcnn is skipped when not importable; default: %(default)s)")
    ap.add_argument("--media", type=Path, default=None, help="folder with the shared photos and video (default: $DEEPFER_SHARED/media)")
    ap.add_argument("--json", default=None, metavar="OUT", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import cv2

    from deepfer.analysis.video import iter_frames
    from deepfer.errors import DeepFERError
    from deepfer.preprocess import read_image

    cv2.setNumThreads(1)
    media = args.media or shared_dir() / "media"
    try:
        photos = [scene(n, read_image(media / n), boxes) for n, boxes in REFERENCE_FACES.items()]
        frames = [f for _, _, f in iter_frames(media / VIDEO)]
    except DeepFERError as exc:
        print(f"error: {exc} (set DEEPFER_SHARED or --media)", file=sys.stderr)
        return 2
    copies = [transformed(s, label, *t) for s in photos for label, t in TRANSFORMS.items()]
    steep = [transformed(s, label, *t) for s in photos for label, t in STEEP.items()]
    detectors = load_detectors([d.strip() for d in args.detectors.split(",") if d.strip()])
    if not detectors:
        print("error: no detector could be made", file=sys.stderr)
        return 2

    results = {}
    load0 = os.getloadavg()[0]
    for name, det in detectors.items():
        results[name] = {"photos": photo_figures(det, photos), "transformed": photo_figures(det, copies),
                         "rotated_40": photo_figures(det, steep), "video": video_figures(det, frames)}
    load1 = os.getloadavg()[0]

    h, w = frames[0].shape[:2]
    print(f"shared media: {media}; load average {load0:.2f} -> {load1:.2f} on {os.cpu_count()} cores; one thread per detector")
    print("found/expected faces (+false positives); photos: test_image 6, justin 1, no-faces 0; "
          "transformed: each photo mirrored, rotated +-20 deg, shrunk to 25%")
    cols = ["detector", "photos", "transformed", "rotated +-40", f"{VIDEO}: 1 face", "extra boxes", "no face", f"ms/frame {w}x{h}"]
    table = []
    for name, r in results.items():
        v = r["video"]
        table.append([name, *(f"{r[k]['found']}/{r[k]['expected']} (+{r[k]['false']})" for k in ("photos", "transformed", "rotated_40")),
                      f"{v['one_face']}/{v['frames']}", str(v["extra"]), str(v["none"]), f"{v['median_ms']:.1f}"])
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(wd) for c, wd in zip(cols, widths)))
    for row in table:
        print("  ".join(x.rjust(wd) for x, wd in zip(row, widths)))
    if args.json:
        from deepfer.fileio import write_json_atomic

        write_json_atomic(args.json, {"media": str(media), "load_average": [load0, load1], "detectors": results})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
