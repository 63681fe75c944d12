"""The serving runtime: the committed int8 OpenVINO model against its float Keras source, the
inference path without TensorFlow, the Keras fallback, and bad serving files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from deepfer.errors import ModelError
from deepfer.model.classifier import EmotionClassifier, resolve_model
from deepfer.model.io import file_sha256, serving_path

REPO = Path(__file__).resolve().parents[1]


def test_committed_serving_model_matches_its_source(default_model_path):
    xml = serving_path(default_model_path)
    assert xml.name == "deepfer.int8.xml" and xml.with_suffix(".bin").is_file()
    meta = json.loads(xml.with_suffix(".json").read_text())
    s = meta["serving"]
    assert s["runtime"] == "openvino" and s["precision"] == "int8"
    assert s["source"] == {"file": "deepfer.keras", "sha256": file_sha256(default_model_path)}
    assert s["bin_sha256"] == file_sha256(xml.with_suffix(".bin"))
    assert s["quantization"]["calibration"]["split"] == "train"
    v = s["validation"]
    assert v["n"] == 3589 and abs(v["accuracy_gap_points"]) <= 0.3


def test_default_classifier_is_int8_openvino(classifier, default_model_path):
    assert (classifier.runtime, classifier.precision) == ("openvino", "int8")
    assert classifier.path == serving_path(default_model_path)
    assert "openvino int8" in classifier.describe()


@pytest.mark.shared
@pytest.mark.slow
def test_int8_agrees_with_the_float_model_on_validation(shared, classifier, default_model_path):
    from deepfer.training.data import load_any_split

    ds = load_any_split(shared / "data" / "fer2013" / "validation", progress=False)
    keras_clf = EmotionClassifier.load(default_model_path, runtime="keras", precision="float32")
    p_float, p_int8 = keras_clf.predict(ds.images), classifier.predict(ds.images)
    agreement = (p_float.argmax(1) == p_int8.argmax(1)).mean()
    acc_float, acc_int8 = (p_float.argmax(1) == ds.labels).mean(), (p_int8.argmax(1) == ds.labels).mean()
    print(f"top-1 agreement {agreement:.4f}; accuracy float {acc_float:.4f}, int8 {acc_int8:.4f}")
    assert agreement >= 0.97
    assert abs(acc_float - acc_int8) <= 0.003, "int8 within 0.3 points of the float model"
    assert acc_int8 >= 0.68
    assert np.abs(p_float - p_int8).mean() < 0.02


def _no_tensorflow_probe(code: str, tmp_path: Path) -> dict:
    """Run ``code`` in a fresh interpreter, then report which heavy packages it imported."""
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(code) + textwrap.dedent("""
        import json, sys
        heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "nncf", "mtcnn", "torch"})
        print("PROBE", json.dumps(heavy))
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [x for x in out.stdout.splitlines() if x.startswith("PROBE ")][-1]
    return {"heavy": json.loads(line[6:]), "stdout": out.stdout}


@pytest.mark.shared
def test_inference_path_imports_no_tensorflow(media, tmp_path):
    """The Python API on a photo and a video, and ``python -m batch`` (its main, in-process)."""
    got = _no_tensorflow_probe(f"""
        import cv2
        from deepfer.analysis.pipeline import FacePipeline
        from deepfer.analysis.stream import OFFLINE, StreamAnalyzer
        from deepfer.analysis.video import iter_frames
        pipe = FacePipeline.create()
        faces = pipe.analyze(cv2.imread({str(media / 'test_image.jpg')!r}))
        assert len(faces) >= 5, len(faces)
        frames = [f for _, f in zip(range(20), iter_frames({str(media / 'street_phone.mp4')!r}))]
        n = sum(len(a.faces) for chunk in StreamAnalyzer(pipe, OFFLINE).run(frames) for a in chunk)
        assert n >= 10, n
        from batch.cli import main
        assert main([{str(media / 'justin.jpg')!r}, "--out", "out", "--no-progress"]) == 0
    """, tmp_path)
    assert got["heavy"] == [], f"the inference path imported {got['heavy']}"
    assert (tmp_path / "out" / "images.csv").is_file()


def test_keras_runtime_is_chosen_only_when_asked_or_needed(default_model_path, tmp_path):
    assert resolve_model(default_model_path) == ("openvino", serving_path(default_model_path))
    assert resolve_model(default_model_path, "keras") == ("keras", default_model_path)
    assert resolve_model(serving_path(default_model_path)) == ("openvino", serving_path(default_model_path))
    lonely = tmp_path / "m.keras"
    shutil.copy(default_model_path, lonely)  # no m.int8.xml beside it
    assert resolve_model(lonely) == ("keras", lonely)  # the fallback: Keras is installed here
    with pytest.raises(ModelError, match="has no serving model m.int8.xml"):
        resolve_model(lonely, "openvino")
    with pytest.raises(ModelError, match="OpenVINO serving model; --runtime keras needs"):
        resolve_model(serving_path(default_model_path), "keras")
    with pytest.raises(ModelError, match="unknown runtime"):
        resolve_model(default_model_path, "onnx")


def test_fallback_without_keras_says_how_to_export(tmp_path, monkeypatch):
    import deepfer.model.classifier as classifier_module

    monkeypatch.setattr(classifier_module, "keras_available", lambda: False)
    lonely = tmp_path / "m.keras"
    lonely.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"python -m deepfer export --model .*m\.keras"):
        resolve_model(lonely)


def test_keras_fallback_predicts_like_the_serving_model(classifier, default_model_path, tmp_path):
    lonely = tmp_path / "m.keras"
    shutil.copy(default_model_path, lonely)
    keras_clf = EmotionClassifier.load(lonely)
    assert keras_clf.runtime == "keras"
    faces = np.random.default_rng(1).integers(0, 256, (64, 48, 48, 1), dtype=np.uint8)
    assert np.abs(keras_clf.predict(faces) - classifier.predict(faces)).mean() < 0.03  # noise faces: the hardest case for int8 ranges


def _serving_copy(default_model_path: Path, folder: Path, with_source: bool = True) -> Path:
    folder.mkdir()
    src = serving_path(default_model_path)
    for suffix in (".xml", ".bin", ".json"):
        shutil.copy(src.with_suffix(suffix), folder / src.with_suffix(suffix).name)
    if with_source:
        shutil.copy(default_model_path, folder / default_model_path.name)
    return folder / src.name


def test_a_copied_serving_model_loads(default_model_path, tmp_path):
    xml = _serving_copy(default_model_path, tmp_path / "ok")
    clf = EmotionClassifier.load(xml.parent / "deepfer.keras")
    assert (clf.runtime, clf.path) == ("openvino", xml)
    assert EmotionClassifier.load(xml).predict(np.zeros((2, 48, 48, 1), np.uint8)).shape == (2, 7)


def test_changed_weights_are_refused(default_model_path, tmp_path):
    xml = _serving_copy(default_model_path, tmp_path / "changed")
    data = bytearray(xml.with_suffix(".bin").read_bytes())
    data[len(data) // 2] ^= 0xFF
    xml.with_suffix(".bin").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="differs from the weights recorded at export"):
        EmotionClassifier.load(xml)


def test_serving_model_of_another_source_is_refused(default_model_path, tmp_path):
    xml = _serving_copy(default_model_path, tmp_path / "other")
    (xml.parent / "deepfer.keras").write_bytes(default_model_path.read_bytes() + b"retrained")
    with pytest.raises(ModelError, match="was exported from another deepfer.keras"):
        EmotionClassifier.load(xml.parent / "deepfer.keras")
    # explicitly asking for the Keras model still works
    assert resolve_model(xml.parent / "deepfer.keras", "keras")[0] == "keras"


@pytest.mark.parametrize("damage", ["truncated_bin", "garbage_xml", "missing_bin"])
def test_corrupt_serving_files_give_a_clear_error(default_model_path, tmp_path, damage):
    xml = _serving_copy(default_model_path, tmp_path / damage, with_source=False)
    xml.with_suffix(".json").unlink()  # no recorded checksums: OpenVINO itself must notice
    if damage == "truncated_bin":
        b = xml.with_suffix(".bin")
        b.write_bytes(b.read_bytes()[:1000])
    elif damage == "garbage_xml":
        xml.write_text("<net><layers>oops")
    else:
        xml.with_suffix(".bin").unlink()
    with pytest.raises(ModelError, match=r"deepfer\.int8\.(xml|bin)"):
        EmotionClassifier.load(xml)


def test_wrong_shapes_are_refused(tmp_path):
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([-1, 32, 32, 3], np.float32, name="pixels")
    model = ov.Model([ops.relu(x)], [x], "wrong")
    path = tmp_path / "wrong.int8.xml"
    ov.save_model(model, str(path))
    with pytest.raises(ModelError, match=r"expected input \(N, 48, 48, 1\)"):
        EmotionClassifier.load(path)


def test_threads_setting(monkeypatch, default_model_path):
    from deepfer.config import inference_threads
    from deepfer.errors import DeepFERError

    monkeypatch.setenv("DEEPFER_THREADS", "1")
    assert inference_threads() == 1
    clf = EmotionClassifier.load(default_model_path)
    assert clf._runner._compiled.get_property("INFERENCE_NUM_THREADS") == 1
    monkeypatch.setenv("DEEPFER_THREADS", "zero")
    with pytest.raises(DeepFERError, match="DEEPFER_THREADS"):
        inference_threads()


def test_front_ends_import_no_tensorflow(tmp_path):
    """The Gradio app built on the default pipeline, and the dashboard's serving views (all but Training)."""
    got = _no_tensorflow_probe("""
        from deepfer.analysis.pipeline import FacePipeline
        from deepfer.apps.gradio_app import build_app
        import dashboard.views.model, dashboard.views.batch_results, dashboard.views.live, dashboard.views.uploads
        build_app(FacePipeline.create())
    """, tmp_path)
    assert got["heavy"] == [], f"the front ends imported {got['heavy']}"
