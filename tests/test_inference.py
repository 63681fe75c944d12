"""The committed model and the Python API on real photos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepfer.errors import ModelError
from deepfer.faces import FACE_COLUMNS, Faces
from deepfer.labels import EMOTIONS
from deepfer.preprocess import read_image


def test_committed_model_files_and_metadata(default_model_path):
    meta = json.loads(default_model_path.with_suffix(".json").read_text())
    assert meta["labels"] == list(EMOTIONS) and meta["input_shape"] == [48, 48, 1]
    assert default_model_path.with_suffix(".h5").is_file()
    for f in ("history.csv", "evaluation.json"):
        assert (default_model_path.parent / f).is_file()
    for f in ("history.csv", "evaluation.json", "seed.json"):
        assert (default_model_path.parent / "seed" / f).is_file()


def test_classifier_batches_and_single_faces(classifier):
    faces = np.random.default_rng(0).integers(0, 256, (300, 48, 48, 1), dtype=np.uint8)
    p = classifier.predict(faces)
    assert p.shape == (300, 7) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-4)
    np.testing.assert_allclose(classifier.predict(faces[7]), p[7:8], atol=2e-2)
    assert classifier.predict([]).shape == (0, 7)


def test_bad_model_paths(tmp_path):
    from deepfer.model.classifier import EmotionClassifier

    with pytest.raises(ModelError, match="no such file"):
        EmotionClassifier.load(tmp_path / "none.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable Keras model"):
        EmotionClassifier.load(bad)
    with pytest.raises(ModelError, match="unsupported model format"):
        EmotionClassifier.load(tmp_path / "m.onnx")


def test_faces_result_type():
    f = Faces(np.array([[1, 2, 3, 4], [5, 6, 7, 8]]), np.array([0.9, 0.5]), np.eye(7)[[3, 6]])
    assert len(f) == 2 and f.labels == ["happy", "surprise"]
    assert len(f[f.det_scores > 0.6]) == 1 and f[1].labels == ["surprise"]
    rows = f.with_track_ids(np.array([4, 9])).rows()
    assert list(rows[0]) == list(FACE_COLUMNS) and rows[1]["face_id"] == 9
    assert f.to_records()[0]["probabilities"]["happy"] == 1.0
    with pytest.raises(ValueError):
        Faces(np.zeros((2, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="not classified"):
        _ = Faces(np.zeros((1, 4)), np.zeros(1)).labels


@pytest.mark.shared
def test_real_photos(pipeline, media):
    justin = pipeline.analyze(read_image(media / "justin.jpg"))
    assert len(justin) == 1 and justin.labels == ["happy"] and justin.confidences[0] > 0.5
    np.testing.assert_allclose(justin.probs.sum(1), 1.0, atol=1e-4)
    group = pipeline.analyze(read_image(media / "test_image.jpg"))
    assert len(group) >= 5
    assert len(pipeline.analyze(read_image(media / "no-faces.jpg"))) == 0


@pytest.mark.shared
@pytest.mark.slow
def test_default_model_reaches_the_validation_target(shared):
    """The accuracy the README and model card quote (not a timing test)."""
    from deepfer.model.io import load_keras_model
    from deepfer.training.data import load_split
    from deepfer.training.metrics import classification_report
    from deepfer.training.train import predict_proba

    ds = load_split(shared / "data" / "fer2013" / "validation", progress=False)
    model = load_keras_model(__import__("deepfer.config").config.default_model_path())
    rep = classification_report(ds.labels, predict_proba(model, ds.images).argmax(1))
    assert rep["n"] == 3589
    assert rep["accuracy"] >= 0.68


def test_switching_detectors_shares_the_classifier(pipeline):
    from deepfer.errors import DeepFERError

    haar = pipeline.with_detector("haar")
    assert haar.detector.name == "haar" and haar.classifier is pipeline.classifier
    assert pipeline.with_detector(None) is pipeline and pipeline.with_detector(pipeline.detector.name) is pipeline
    with pytest.raises(DeepFERError, match="unknown detector"):
        pipeline.with_detector("nope")
