"""Model files: the trained ``.keras`` / ``.h5`` and the serving artifact exported from them, each with
its metadata JSON (labels, input shape, architecture, validation figures...).

    models/deepfer.keras, deepfer.h5, deepfer.json         trained model (Keras 3), its metadata
    models/deepfer.int8.xml, deepfer.int8.bin, .int8.json  serving artifact (OpenVINO IR, int8), its metadata
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from deepfer.errors import ModelError
from deepfer.labels import EMOTIONS, INPUT_SHAPE

MODEL_SUFFIXES = (".keras", ".h5")
#: ``x.keras`` -> ``x.int8.xml`` (+ ``x.int8.bin``, ``x.int8.json``).
SERVING_SUFFIX = ".int8.xml"


def serving_path(model_path: str | Path) -> Path:
    """The serving artifact exported from a ``.keras`` / ``.h5`` model (whether it exists or not)."""
    p = Path(model_path)
    return p.with_name(p.stem + SERVING_SUFFIX)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (a 10 MB model: about 10 ms)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def metadata_path(model_path: str | Path) -> Path:
    """``x.keras`` / ``x.h5`` -> ``x.json``; ``x.int8.xml`` -> ``x.int8.json``."""
    p = Path(model_path)
    return p.with_suffix(".json")


def read_metadata(model_path: str | Path) -> dict:
    """The metadata JSON next to a model, or ``{}`` when there is none."""
    mp = metadata_path(model_path)
    if not mp.is_file():
        return {}
    try:
        return json.loads(mp.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{mp}: unreadable model metadata ({exc})") from exc


def save_model_files(model, stem: str | Path) -> tuple[Path, Path]:
    """Save ``stem.keras`` and ``stem.h5`` (each written to a temp name, then renamed)."""
    stem = Path(stem)
    out = []
    for suffix in MODEL_SUFFIXES:
        final = stem.with_suffix(suffix)
        tmp = final.with_name(final.stem + ".tmp" + suffix)
        model.save(tmp)
        os.replace(tmp, final)
        out.append(final)
    return out[0], out[1]


def load_keras_model(path: str | Path):
    """Load a ``.keras`` or ``.h5`` model and check DeepFER's contract: (N,48,48,1) in, 7 out."""
    path = Path(path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{path}: unsupported model format {path.suffix!r}; use .keras or .h5")
    if not path.exists():
        raise ModelError(f"model file {path} does not exist; train one with `python -m deepfer train` or pass --model")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: empty model file")
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise ModelError(f"{path}: could not load the model ({type(exc).__name__}: {exc})") from exc
    in_shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    out_shape = tuple(model.output_shape[1:]) if not isinstance(model.output_shape, list) else None
    if in_shape != INPUT_SHAPE or out_shape != (len(EMOTIONS),):
        raise ModelError(
            f"{path}: expected input (N, 48, 48, 1) and output (N, {len(EMOTIONS)}), got {model.input_shape} -> {model.output_shape}"
        )
    return model
