"""Drawing faces on an image: boxes, emotion labels, confidences and face numbers or ids."""

from __future__ import annotations

import numpy as np

from deepfer.faces import Faces
from deepfer.labels import EMOTION_COLORS, EMOTIONS, bgr

#: One BGR colour per emotion, in :data:`EMOTIONS` order: :data:`deepfer.labels.EMOTION_COLORS`, the charts' colours.
COLORS_BGR: dict[str, tuple[int, int, int]] = {e: bgr(EMOTION_COLORS[e]) for e in EMOTIONS}
#: Faces below the minimum confidence, and faces not classified yet.
UNCERTAIN_BGR = (128, 128, 128)
UNCLASSIFIED_BGR = (255, 255, 255)


def face_tags(faces: Faces) -> list[str]:
    """What names each face on the picture and in the tables: ``#id`` for a tracked face (a video, a camera),
    else its number ``1``, ``2``, ... in the order of ``faces`` (a photo: the order of the table rows and of
    ``face_id`` in ``images.csv``)."""
    return [f"#{int(t)}" if t >= 0 else str(i + 1) for i, t in enumerate(faces.track_ids)]


def face_labels(faces: Faces, min_confidence: float = 0.0) -> list[str]:
    """``emotion 87%`` of each face, from ``faces.labels`` and ``faces.confidences`` (``uncertain 31%`` below
    ``min_confidence``; ``face`` when not classified): the words drawn, and those a UI lists beside the picture."""
    if not faces.classified:
        return ["face"] * len(faces)
    return [f"{lab if conf >= min_confidence else 'uncertain'} {conf:.0%}" for lab, conf in zip(faces.labels, faces.confidences)]


def _colors(faces: Faces, min_confidence: float) -> list[tuple[int, int, int]]:
    if not faces.classified:
        return [UNCLASSIFIED_BGR] * len(faces)
    return [COLORS_BGR[lab] if conf >= min_confidence else UNCERTAIN_BGR for lab, conf in zip(faces.labels, faces.confidences)]


def annotate(image: np.ndarray, faces: Faces, min_confidence: float = 0.0) -> np.ndarray:
    """A BGR copy of ``image`` with each face boxed and labelled ``#id emotion 87%`` (tracked faces) or
    ``1 emotion 87%`` (faces numbered in order: a photo), the text scaled with the image.

    Faces below ``min_confidence`` are drawn grey and labelled ``uncertain``.
    """
    import cv2

    img = np.asarray(image)
    out = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img[:, :, :3].copy()
    height, width = out.shape[:2]
    thick = max(1, round(min(height, width) / 300))
    font_scale = max(0.4, min(height, width) / 900)
    font = cv2.FONT_HERSHEY_SIMPLEX
    placed: list[tuple[int, int, int, int]] = []  # label rectangles drawn so far (x1, y1, x2, y2)
    for (x, y, w, h), tag, label, color in zip(faces.boxes.tolist(), face_tags(faces), face_labels(faces, min_confidence),
                                               _colors(faces, min_confidence)):
        text = f"{tag} {label}"
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick + 1)
        (tw, th), base = cv2.getTextSize(text, font, font_scale, thick)
        tx = max(0, min(x, width - tw - 4))  # within the image, the number first
        above, below, inside = y - 4, y + h + th + 4, max(y, 0) + th + 6
        fits = [ty for ok, ty in ((y - th - 8 > 0, above), (below + base <= height, below), (True, inside)) if ok]
        # the first place that fits and hides no earlier label (a group photo), else the first that fits
        ty = next((t for t in fits if not any(_overlap((tx, t - th - 4, tx + tw + 4, t + base - 2), r) for r in placed)), fits[0])
        placed.append((tx, ty - th - 4, tx + tw + 4, ty + base - 2))
        cv2.rectangle(out, (tx, ty - th - 4), (tx + tw + 4, ty + base - 2), color, -1)
        cv2.putText(out, text, (tx + 2, ty - 2), font, font_scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
