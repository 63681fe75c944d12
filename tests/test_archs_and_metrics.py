from __future__ import annotations

import numpy as np
import pytest

from deepfer.model.archs import available, build_model, with_flip_tta
from deepfer.training.metrics import classification_report, confusion_matrix


def test_registry_lists_and_rejects_names():
    assert {"seed", "vgg", "vgg_wide"} <= set(available())
    with pytest.raises(KeyError, match="unknown architecture 'nope'.*seed"):
        build_model("nope")


def test_seed_matches_the_original_design():
    m = build_model("seed")
    convs = [l for l in m.layers if l.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [64, 128, 256, 512]
    kinds = [l.__class__.__name__ for l in m.layers]
    assert kinds.count("BatchNormalization") == 6 and kinds.count("MaxPooling2D") == 4
    assert [l.rate for l in m.layers if kinds[m.layers.index(l)] == "Dropout"][:4] == [0.25] * 4
    assert [l.units for l in m.layers if l.__class__.__name__ == "Dense"] == [256, 128, 7]


@pytest.mark.parametrize("name", ["seed", "vgg"])
def test_models_take_raw_pixels_and_return_probabilities(name):
    m = build_model(name)
    assert m.input_shape == (None, 48, 48, 1) and m.output_shape == (None, 7)
    assert any(l.__class__.__name__ == "Rescaling" for l in m.layers)
    p = np.asarray(m.predict(np.random.default_rng(0).integers(0, 256, (3, 48, 48, 1)).astype("float32"), verbose=0))
    assert p.shape == (3, 7) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_flip_tta_wrapper_is_symmetric():
    net = build_model("vgg")
    tta = with_flip_tta(net)
    x = np.random.default_rng(1).integers(0, 256, (4, 48, 48, 1)).astype("float32")
    a = np.asarray(tta.predict(x, verbose=0))
    b = np.asarray(tta.predict(x[:, :, ::-1], verbose=0))
    assert np.allclose(a, b, atol=1e-5)
    direct = 0.5 * (np.asarray(net.predict(x, verbose=0)) + np.asarray(net.predict(x[:, :, ::-1], verbose=0)))
    assert np.allclose(a, direct, atol=1e-5)


def test_metrics_on_a_known_case():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    cm = confusion_matrix(y, p, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    r = classification_report(y, p, ("a", "b", "c"))
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert r["per_class"]["b"]["recall"] == 1.0
    assert r["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx(np.mean([0.5, 0.8, 2 / 3]))
