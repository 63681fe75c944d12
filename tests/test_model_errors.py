"""Bad model files, metadata that does not match its model, and unreadable videos: messages that name the cause.

A tiny 48x48 model (one dense layer, built once) stands in for a valid model of another architecture;
the committed model's files are copied, truncated or paired with the wrong metadata.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from deepfer.errors import DeepFERError, ModelError
from deepfer.model.classifier import EmotionClassifier
from deepfer.model.io import load_keras_model, serving_path

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_non_root = pytest.mark.skipif(AS_ROOT, reason="running as root: chmod 000 does not stop root from reading a file "
                                                    "(the permission message is checked with a simulated denial below)")


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    """A valid model (raw 48x48x1 pixels in, 7 probabilities out) that is none of the registry's architectures."""
    keras = pytest.importorskip("keras")
    inp = keras.Input(shape=(48, 48, 1), name="pixels")
    out = keras.layers.Dense(7, activation="softmax", name="probabilities")(keras.layers.Flatten()(inp))
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    keras.Model(inp, out, name="tiny").save(path)
    return path


def _with_metadata(model: Path, folder: Path, meta: dict) -> Path:
    """A copy of ``model`` in ``folder`` with ``meta`` as the JSON beside it."""
    folder.mkdir()
    copy = folder / model.name
    shutil.copy(model, copy)
    copy.with_suffix(".json").write_text(json.dumps(meta))
    return copy


def _deny_reading(monkeypatch, path: Path) -> None:
    """Make opening ``path`` fail as chmod 000 does for a user who is not root."""
    import builtins

    import deepfer.errors

    def fake_open(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(deepfer.errors, "open", fake_open, raising=False)


# --- metadata that belongs to another model ----------------------------------------------------------


def test_metadata_of_another_architecture_names_both_files_and_what_to_do(tiny_keras, default_model_path, tmp_path):
    meta = json.loads(default_model_path.with_suffix(".json").read_text())  # architecture 'vgg', 57 weight arrays
    model = _with_metadata(tiny_keras, tmp_path / "m", meta)
    with pytest.raises(ModelError) as e:
        EmotionClassifier.load(model, runtime="keras")
    msg = str(e.value)
    assert f"{model.with_suffix('.json')} does not describe tiny.keras" in msg
    assert "architecture 'vgg' (57 weight arrays), the model has 2 weight arrays" in msg
    assert "use the tiny.json written with this model, or delete" in msg


@pytest.mark.parametrize("change, cause", [
    ({"labels": ["a", "b", "c", "d", "e"]}, "it lists 5 labels, the model has 7 outputs"),
    ({"input_shape": [64, 64, 3]}, r"it gives input shape \[64, 64, 3\], the model takes \[48, 48, 1\]"),
    ({"parameters": 12345}, "it records 12345 parameters, the model has 16135"),
    ({"flip_tta_in_model": True}, "it says flip-TTA is built into the model, the model has none"),
])
def test_metadata_that_contradicts_the_model(tiny_keras, tmp_path, change, cause):
    model = _with_metadata(tiny_keras, tmp_path / "m", {"name": "tiny", **change})
    with pytest.raises(ModelError, match=f"tiny.json does not describe tiny.keras: {cause}"):
        EmotionClassifier.load(model, runtime="keras")


def test_committed_models_match_their_metadata(default_model_path):
    for path in (default_model_path, default_model_path.with_suffix(".h5")):
        load_keras_model(path)  # the checks above never refuse a model with its own metadata


def _serving_copy(default_model_path: Path, folder: Path) -> Path:
    folder.mkdir()
    src = serving_path(default_model_path)
    for suffix in (".xml", ".bin", ".json"):
        shutil.copy(src.with_suffix(suffix), folder / src.with_suffix(suffix).name)
    return folder / src.name


def test_serving_metadata_with_other_labels_is_refused(default_model_path, tmp_path):
    xml = _serving_copy(default_model_path, tmp_path / "ov")
    meta = json.loads(xml.with_suffix(".json").read_text())
    xml.with_suffix(".json").write_text(json.dumps({**meta, "labels": meta["labels"][:5]}))
    with pytest.raises(ModelError, match="deepfer.int8.json does not describe deepfer.int8.xml: it lists 5 labels, "
                                         "the model has 7 outputs; use the deepfer.int8.json written with this model"):
        EmotionClassifier.load(xml)


def test_serving_metadata_of_another_export_is_named(default_model_path, tmp_path):
    xml = _serving_copy(default_model_path, tmp_path / "ov")
    meta = json.loads(xml.with_suffix(".json").read_text())
    meta["serving"]["bin_sha256"] = "0" * 64
    xml.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="recorded at export in deepfer.int8.json .*deepfer.int8.json belongs to another model"):
        EmotionClassifier.load(xml)


def test_metadata_that_is_not_an_object(tiny_keras, tmp_path):
    model = tiny_keras.parent / "odd" / "tiny.keras"
    model.parent.mkdir()
    shutil.copy(tiny_keras, model)
    model.with_suffix(".json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="tiny.json: model metadata must be a JSON object, not list"):
        EmotionClassifier.load(model, runtime="keras")


# --- model files that cannot be read --------------------------------------------------------------------


def _damaged(data: bytes, content: str) -> bytes:
    if content == "truncated":
        return data[:100_000]
    if content == "bit_flips":
        return data[:200_000] + bytes(b ^ 0xFF for b in data[200_000:200_100]) + data[200_100:]
    if content == "zip_of_text":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("notes.txt", "hello")
        return buf.getvalue()
    return {"jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(1000), "text": b"hello, not a model\n"}[content]


@pytest.mark.parametrize("content, cause", [
    ("truncated", "truncated or corrupt: not a zip archive"),
    ("jpeg", "truncated or corrupt: not a zip archive"),
    ("text", "truncated or corrupt: not a zip archive"),
    ("bit_flips", "truncated or corrupt: Bad CRC-32"),
    ("zip_of_text", "a zip archive without the config.json"),
])
def test_a_damaged_or_foreign_keras_file_is_not_a_readable_model(default_model_path, tmp_path, content, cause):
    if content == "bit_flips":
        pytest.importorskip("keras")
    bad = tmp_path / "x.keras"
    bad.write_bytes(_damaged(default_model_path.read_bytes(), content))
    shutil.copy(default_model_path.with_suffix(".json"), tmp_path / "x.json")
    with pytest.raises(ModelError, match=rf"x\.keras: not a readable Keras model \({cause}"):
        EmotionClassifier.load(bad, runtime="keras")


def test_a_truncated_h5_file_is_not_a_readable_model(default_model_path, tmp_path):
    pytest.importorskip("keras")
    bad = tmp_path / "x.h5"
    bad.write_bytes(default_model_path.with_suffix(".h5").read_bytes()[:100_000])
    with pytest.raises(ModelError, match=r"x\.h5: not a readable Keras model \(truncated or corrupt: .*truncated file"):
        EmotionClassifier.load(bad, runtime="keras")


def test_missing_folder_and_empty_model_paths(tmp_path):
    with pytest.raises(ModelError, match=r"none\.keras: no such file; train a model"):
        EmotionClassifier.load(tmp_path / "none.keras", runtime="keras")
    (tmp_path / "dir.keras").mkdir()
    with pytest.raises(ModelError, match=r"dir\.keras: a folder, not a file"):
        EmotionClassifier.load(tmp_path / "dir.keras", runtime="keras")
    (tmp_path / "zero.keras").write_bytes(b"")
    with pytest.raises(ModelError, match=r"zero\.keras: empty file \(0 bytes\)"):
        EmotionClassifier.load(tmp_path / "zero.keras", runtime="keras")


@needs_non_root
@pytest.mark.parametrize("runtime", ["keras", "openvino"])
def test_unreadable_model_file_is_permission_denied(default_model_path, tmp_path, runtime):
    if runtime == "keras":
        target = tmp_path / "x.keras"
        shutil.copy(default_model_path, target)
        locked = target
    else:
        target = _serving_copy(default_model_path, tmp_path / "ov")
        locked = target.with_suffix(".bin")
    locked.chmod(0)
    try:
        with pytest.raises(ModelError, match=f"permission denied: {locked}"):
            EmotionClassifier.load(target, runtime=runtime)
    finally:
        locked.chmod(0o644)


def test_permission_denied_message_simulated(tiny_keras, default_model_path, tmp_path, monkeypatch):
    """The same messages where the tests run as root, with the denial simulated."""
    _deny_reading(monkeypatch, tiny_keras)
    with pytest.raises(ModelError, match=f"permission denied: {tiny_keras}"):
        EmotionClassifier.load(tiny_keras, runtime="keras")
    xml = _serving_copy(default_model_path, tmp_path / "ov")
    _deny_reading(monkeypatch, xml.with_suffix(".bin"))
    with pytest.raises(ModelError, match=f"permission denied: {xml.with_suffix('.bin')}"):
        EmotionClassifier.load(xml)


def test_batch_prints_one_error_line_and_exits_2(tiny_keras, default_model_path, tmp_path, capsys):
    import cv2

    from batch.cli import main

    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
    truncated = tmp_path / "t.keras"
    truncated.write_bytes(default_model_path.read_bytes()[:100_000])
    mismatched = _with_metadata(tiny_keras, tmp_path / "m", json.loads(default_model_path.with_suffix(".json").read_text()))
    (tmp_path / "folder.keras").mkdir()
    cases = {truncated: "not a readable Keras model", mismatched: "does not describe tiny.keras",
             tmp_path / "folder.keras": "a folder, not a file", tmp_path / "none.keras": "no such file"}
    for model, cause in cases.items():
        rc = main([str(photo), "--out", str(tmp_path / f"out_{model.stem}"), "--model", str(model), "--runtime", "keras", "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert rc == 2, err
        assert err.startswith("error: ") and "\n" not in err and cause in err, err


# --- videos -------------------------------------------------------------------------------------------


def _clip(path: Path) -> Path:
    from deepfer.analysis.video import VideoSink

    with VideoSink(path, 10.0, (64, 48)) as sink:
        for _ in range(3):
            sink.write(np.zeros((48, 64, 3), np.uint8))
    return path


@needs_non_root
def test_unreadable_video_is_permission_denied(tmp_path):
    from deepfer.analysis.video import read_video_info

    clip = _clip(tmp_path / "clip.mp4")
    clip.chmod(0)
    try:
        with pytest.raises(DeepFERError, match=f"permission denied: {clip}"):
            read_video_info(clip)
    finally:
        clip.chmod(0o644)


def test_unreadable_video_is_permission_denied_simulated(tmp_path, monkeypatch):
    from deepfer.analysis.video import iter_frames, read_video_info

    clip = _clip(tmp_path / "clip.mp4")
    _deny_reading(monkeypatch, clip)
    with pytest.raises(DeepFERError, match=f"permission denied: {clip}"):
        read_video_info(clip)
    with pytest.raises(DeepFERError, match=f"permission denied: {clip}"):
        next(iter_frames(clip))


def test_a_folder_given_as_a_video(tmp_path):
    from deepfer.analysis.video import read_video_info

    (tmp_path / "clip.mp4").mkdir()
    with pytest.raises(DeepFERError, match=r"clip\.mp4: a folder, not a file"):
        read_video_info(tmp_path / "clip.mp4")
