"""Drawing faces on an image: boxes, emotion labels, confidences and face ids."""

from __future__ import annotations

import numpy as np

from deepfer.faces import Faces
from deepfer.labels import EMOTIONS

#: One BGR colour per emotion, in :data:`EMOTIONS` order.
COLORS_BGR: dict[str, tuple[int, int, int]] = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (150, 60, 150),
    "happy": (0, 200, 255),
    "neutral": (180, 180, 180),
    "sad": (200, 120, 40),
    "surprise": (0, 140, 255),
}


def annotate(image: np.ndarray, faces: Faces, min_confidence: float = 0.0) -> np.ndarray:
    """A BGR copy of ``image`` with each face boxed and labelled ``#id emotion 87%``.

    Faces below ``min_confidence`` are drawn grey and labelled ``uncertain``.
    """
    import cv2

    img = np.asarray(image)
    out = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img[:, :, :3].copy()
    thick = max(1, round(min(out.shape[:2]) / 300))
    font_scale = max(0.4, min(out.shape[:2]) / 900)
    for i in range(len(faces)):
        x, y, w, h = (int(v) for v in faces.boxes[i])
        if faces.probs is not None:
            k = int(faces.probs[i].argmax())
            conf = float(faces.probs[i, k])
            label = EMOTIONS[k] if conf >= min_confidence else "uncertain"
            color = COLORS_BGR[EMOTIONS[k]] if conf >= min_confidence else (128, 128, 128)
            text = f"{label} {conf:.0%}"
        else:
            color, text = (255, 255, 255), "face"
        if faces.track_ids[i] >= 0:
            text = f"#{faces.track_ids[i]} {text}"
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick + 1)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
        ty = y - 4 if y - th - 8 > 0 else y + h + th + 4
        cv2.rectangle(out, (x, ty - th - 4), (x + tw + 4, ty + base - 2), color, -1)
        cv2.putText(out, text, (x + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out
