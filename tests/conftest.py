"""Shared fixtures: the one way tests reach ../shared, and tiny generated datasets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# aiortc's SRTP binding (used by the dashboard's live page) segfaults the process when it is first
# imported after TensorFlow; importing the dashboard package loads it first (see dashboard/__init__.py).
import dashboard  # noqa: E402, F401

REPO = Path(__file__).resolve().parent.parent
EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def shared_root() -> Path:
    """``$DEEPFER_SHARED`` or the ``shared/`` folder beside the checkout."""
    return Path(os.environ.get("DEEPFER_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder (FER2013 splits, media); tests using it skip where it is absent."""
    root = shared_root()
    if not (root / "media").is_dir() or not (root / "data" / "fer2013").is_dir():
        pytest.skip(f"shared data not found at {root} (set DEEPFER_SHARED to its path)")
    return root


@pytest.fixture(scope="session")
def media(shared) -> Path:
    return shared / "media"


def write_image(path: Path, img: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok, path
    buf.tofile(str(path))


def make_split(root: Path, per_class: int = 4, seed: int = 0, classes=EMOTIONS) -> Path:
    """A split folder with ``per_class`` images per class in mixed formats, sizes and colours.

    Each class has a distinct mean brightness, so a model can learn something in one epoch.
    """
    rng = np.random.default_rng(seed)
    formats = [".png", ".jpg", ".bmp"]
    for k, name in enumerate(classes):
        for i in range(per_class):
            size = int(rng.choice([48, 64, 100]))
            base = 30 + 30 * k
            img = np.clip(rng.normal(base, 10, (size, size)), 0, 255).astype(np.uint8)
            if i % 2:
                img = np.dstack([img, img, img])  # colour (BGR)
            write_image(root / name / f"img_{i}{formats[i % len(formats)]}", img)
    return root


@pytest.fixture()
def tiny_dataset(tmp_path) -> Path:
    """``root/train`` and ``root/validation`` with all seven classes."""
    root = tmp_path / "data"
    make_split(root / "train", per_class=6, seed=1)
    make_split(root / "validation", per_class=3, seed=2)
    return root


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    p = REPO / "models" / "deepfer.keras"
    assert p.is_file(), "the committed default model models/deepfer.keras is missing"
    return p


@pytest.fixture(scope="session")
def classifier(default_model_path):
    from deepfer.model.classifier import EmotionClassifier

    return EmotionClassifier.load(default_model_path)


@pytest.fixture(scope="session")
def pipeline(classifier):
    from deepfer.analysis.detect import make_detector
    from deepfer.analysis.pipeline import FacePipeline

    return FacePipeline(classifier, make_detector())  # the default detector (YuNet)
