"""The canonical class order and input geometry, shared by every stage."""

from __future__ import annotations

#: The seven emotions, in the order of every model output and every CSV column.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NUM_CLASSES = len(EMOTIONS)

#: The one colour of each emotion, as ``#rrggbb``: every chart (dashboard, Gradio) and, as BGR
#: (:func:`bgr`, :data:`deepfer.analysis.annotate.COLORS_BGR`), every box drawn on an image or video.
EMOTION_COLORS: dict[str, str] = {
    "angry": "#dc2828",
    "disgust": "#288c28",
    "fear": "#963c96",
    "happy": "#ffc800",
    "neutral": "#b4b4b4",
    "sad": "#2878c8",
    "surprise": "#ff8c00",
}
INPUT_SIZE = 48
INPUT_SHAPE: tuple[int, int, int] = (INPUT_SIZE, INPUT_SIZE, 1)

#: ``emotion`` codes of the original ``fer2013.csv`` (0=Angry, 1=Disgust, 2=Fear, 3=Happy,
#: 4=Sad, 5=Surprise, 6=Neutral) mapped to indices into :data:`EMOTIONS`.
FER2013_CSV_CODES: dict[int, int] = {0: 0, 1: 1, 2: 2, 3: 3, 4: 5, 5: 6, 6: 4}

#: ``Usage`` values of ``fer2013.csv`` and the split names used by the class-folder layout.
FER2013_USAGE_TO_SPLIT: dict[str, str] = {
    "Training": "train",
    "PublicTest": "validation",
    "PrivateTest": "test",
}


def label_index(name: str) -> int:
    """Index of an emotion name (case-insensitive); ``ValueError`` for an unknown one."""
    key = name.strip().lower()
    try:
        return EMOTIONS.index(key)
    except ValueError:
        raise ValueError(f"unknown emotion {name!r}; expected one of {', '.join(EMOTIONS)}") from None


def bgr(hex_color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` as OpenCV's ``(b, g, r)``."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r
