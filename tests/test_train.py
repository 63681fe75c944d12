"""One training epoch end to end on tiny generated data, model files and resume."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from deepfer.model.io import load_keras_model
from deepfer.training.train import TrainConfig, class_weights, cosine_lr, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from .conftest import make_split

    root = tmp_path_factory.mktemp("data")
    make_split(root / "train", per_class=6, seed=1)
    make_split(root / "validation", per_class=3, seed=2)
    out = root / "run"
    cfg = TrainConfig(arch="seed", epochs=1, batch_size=16, precision="float32", name="tiny")
    meta = train(root, out, cfg, verbose=0)
    return root, out, meta


def test_one_epoch_writes_every_output(trained):
    _, out, meta = trained
    for name in ("tiny.keras", "tiny.h5", "tiny.json", "history.csv", "evaluation.json", "checkpoint/last.keras", "checkpoint/state.json"):
        assert (out / name).is_file(), name
    assert meta["labels"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert meta["input_shape"] == [48, 48, 1] and meta["architecture"] == "seed"
    assert meta["parameters"] > 1_000_000
    assert meta["dataset"]["train"]["class_counts"]["disgust"] == 6
    assert meta["training"]["epochs_run"] == 1 and meta["training"]["train_seconds"] > 0
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert len(rows) == 1 and set(rows[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    ev = json.loads((out / "evaluation.json").read_text())
    rep = ev["validation"]
    assert rep["n"] == 21 and len(rep["confusion_matrix"]) == 7 and sum(map(sum, rep["confusion_matrix"])) == 21
    assert set(rep["per_class"]["happy"]) == {"precision", "recall", "f1", "support"}
    assert 0.0 <= rep["macro_f1"] <= 1.0


def test_training_ends_with_the_int8_serving_model(trained):
    from deepfer.model.classifier import EmotionClassifier
    from deepfer.model.io import file_sha256

    _, out, _ = trained
    serving = json.loads((out / "tiny.int8.json").read_text())["serving"]
    assert serving["source"]["sha256"] == file_sha256(out / "tiny.keras")
    assert serving["quantization"]["calibration"] == {"split": "train", "source": str(serving["quantization"]["calibration"]["source"]),
                                                      "faces": 42, "seed": 0}
    assert serving["validation"]["n"] == 21 and 0 <= serving["validation"]["top1_agreement"] <= 1
    clf = EmotionClassifier.load(out / "tiny.keras")
    assert (clf.runtime, clf.precision, clf.path.name) == ("openvino", "int8", "tiny.int8.xml")
    p = clf.predict(np.zeros((3, 48, 48, 1), np.uint8))
    assert p.shape == (3, 7)


def test_keras_and_h5_give_the_same_predictions(trained):
    _, out, _ = trained
    x = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 1)).astype("float32")
    a = np.asarray(load_keras_model(out / "tiny.keras").predict(x, verbose=0))
    b = np.asarray(load_keras_model(out / "tiny.h5").predict(x, verbose=0))
    assert a.shape == (5, 7)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-5)


def test_resume_continues_where_it_stopped(trained):
    root, out, _ = trained
    meta = train(root, out, TrainConfig(epochs=2), resume=True, verbose=0)
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert meta["training"]["epochs_run"] == 2
    assert meta["training"]["config"]["arch"] == "seed"  # the run's own settings are kept


def test_class_weights_lift_the_rare_class():
    labels = np.array([1] * 10 + [3] * 160 + [0] * 80)
    w = class_weights(labels, 0.5)
    assert w[1] > w[0] > w[3]
    assert np.mean([w[i] for i in labels]) == pytest.approx(1.0)
    assert class_weights(labels, 0.0)[1] == pytest.approx(1.0)


def test_cosine_schedule_warms_up_then_decays():
    cfg = TrainConfig(lr=0.1, epochs=20, warmup_epochs=2)
    lrs = [cosine_lr(e, cfg) for e in range(20)]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:])) and lrs[-1] < 0.02
