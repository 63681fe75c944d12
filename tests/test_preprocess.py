from __future__ import annotations

import numpy as np
import pytest

import deepfer.preprocess as pre
from deepfer.errors import ImageError

from .conftest import make_split


def test_to_model_input_gray_colour_alpha_and_sizes():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (100, 80), dtype=np.uint8)
    bgr = np.dstack([gray] * 3)
    bgra = np.dstack([gray] * 3 + [np.full_like(gray, 255)])
    outs = [pre.to_model_input(x) for x in (gray, bgr, bgra, gray[..., None])]
    for o in outs:
        assert o.shape == (48, 48) and o.dtype == np.uint8
    assert all(np.array_equal(outs[0], o) for o in outs[1:])
    small = pre.to_model_input(rng.integers(0, 256, (20, 20), dtype=np.uint8))
    assert small.shape == (48, 48)
    floats = pre.to_model_input(gray.astype(np.float32) / 255.0)
    assert np.abs(floats.astype(int) - outs[0].astype(int)).max() <= 1


def test_square_box_margin_and_crop_beyond_border():
    assert pre.square_box((10, 20, 100, 80), 0.0, (500, 500)) == (10, 10, 110, 110)
    x0, y0, x1, y1 = pre.square_box((10, 20, 100, 100), 0.25, (500, 500))
    assert (x1 - x0, y1 - y0) == (150, 150) and (x0, y0) == (-15, -5)
    img = np.zeros((60, 60), np.uint8)
    img[:, 30:] = 200
    crop = pre.crop_face(img, (0, 0, 60, 60), margin=0.5)  # extends past every side: replicated border
    assert crop.shape == (48, 48)
    assert crop[:, 0].max() == 0 and crop[:, -1].min() == 200
    with pytest.raises(ImageError):
        pre.crop_face(img, (500, 500, 10, 10))


def test_read_and_decode_errors(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        pre.read_image(tmp_path / "missing.jpg")
    (tmp_path / "zero.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="0 bytes"):
        pre.read_image(tmp_path / "zero.jpg")
    with pytest.raises(ImageError, match="not a readable image"):
        pre.decode_image(b"GIF89a garbage")


def test_unicode_and_space_paths(tmp_path):
    split = make_split(tmp_path / "dossier été" / "train", per_class=1)
    img = pre.read_image(next((split / "happy").iterdir()))
    assert img.ndim == 3


def test_training_and_inference_share_one_preprocessing_function(monkeypatch, tmp_path, classifier):
    """Dataset loading (training/evaluation) and the classifier (serving) both go through
    ``deepfer.preprocess.to_model_input``; replacing it changes both."""
    calls = {"n": 0}
    real = pre.to_model_input

    def spy(img, size=48):
        calls["n"] += 1
        return real(img, size)

    import deepfer.training.data as data

    monkeypatch.setattr(pre, "to_model_input", spy)
    monkeypatch.setattr(data, "to_model_input", spy)
    split = make_split(tmp_path / "train", per_class=1)
    data.load_split(split, progress=False)
    assert calls["n"] == 7
    face = np.full((64, 64, 3), 128, np.uint8)
    classifier.predict([face, face])
    assert calls["n"] == 9
    # and the crops the pipeline classifies are the same function's output
    from deepfer.preprocess import crop_face

    monkeypatch.setattr(pre, "to_model_input", real)
    big = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    assert np.array_equal(crop_face(big, (50, 50, 100, 100), 0.0), real(big[50:150, 50:150]))
