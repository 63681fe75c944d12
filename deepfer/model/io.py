"""Model files: the trained ``.keras`` / ``.h5`` and the serving artifact exported from them, each with
its metadata JSON (labels, input shape, architecture, validation figures...).

    models/deepfer.keras, deepfer.h5, deepfer.json         trained model (Keras 3), its metadata
    models/deepfer.int8.xml, deepfer.int8.bin, .int8.json  serving artifact (OpenVINO IR, int8), its metadata
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from pathlib import Path

from deepfer.errors import ModelError, unreadable_file
from deepfer.labels import EMOTIONS, INPUT_SHAPE

MODEL_SUFFIXES = (".keras", ".h5")
#: ``x.keras`` -> ``x.int8.xml`` (+ ``x.int8.bin``, ``x.int8.json``).
SERVING_SUFFIX = ".int8.xml"


def serving_path(model_path: str | Path) -> Path:
    """The serving artifact exported from a ``.keras`` / ``.h5`` model (whether it exists or not)."""
    p = Path(model_path)
    return p.with_name(p.stem + SERVING_SUFFIX)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (a 10 MB model: about 10 ms); :class:`ModelError` naming why it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise ModelError(unreadable_file(path) or f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return h.hexdigest()


def metadata_path(model_path: str | Path) -> Path:
    """``x.keras`` / ``x.h5`` -> ``x.json``; ``x.int8.xml`` -> ``x.int8.json``."""
    p = Path(model_path)
    return p.with_suffix(".json")


def readable(path: str | Path, allow_empty: bool = False) -> Path:
    """``path``, or :class:`ModelError` saying why it cannot be read (missing, a folder, permission, empty)."""
    if (problem := unreadable_file(path, allow_empty)) is not None:
        raise ModelError(problem)
    return Path(path)


def read_metadata(model_path: str | Path) -> dict:
    """The metadata JSON next to a model, or ``{}`` when there is none."""
    mp = metadata_path(model_path)
    if not mp.is_file():
        return {}
    if (problem := unreadable_file(mp)) is not None:
        raise ModelError(f"unreadable model metadata: {problem}")
    try:
        meta = json.loads(mp.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{mp}: unreadable model metadata ({exc})") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"{mp}: model metadata must be a JSON object, not {type(meta).__name__}; "
                         f"use the {mp.name} written with the model, or delete it")
    return meta


def metadata_problem(meta: dict) -> str | None:
    """What a model's metadata says that contradicts DeepFER's contract, which every loaded model
    meets (input ``(48, 48, 1)``, one output per label); ``None`` when nothing does."""
    shape = meta.get("input_shape")
    if shape is not None and (not isinstance(shape, list | tuple) or tuple(shape) != INPUT_SHAPE):
        return f"it gives input shape {shape}, the model takes {list(INPUT_SHAPE)}"
    labels = meta.get("labels")
    if labels is not None and (not isinstance(labels, list | tuple) or len(labels) != len(EMOTIONS)):
        count = len(labels) if isinstance(labels, list | tuple) else repr(labels)
        return f"it lists {count} labels, the model has {len(EMOTIONS)} outputs"
    return None


def keras_metadata_problem(model, meta: dict) -> str | None:
    """What a Keras model's metadata says about its architecture that the model contradicts, or ``None``.

    An architecture of the registry is rebuilt (a fraction of a second) and its weight shapes compared;
    the parameter count and whether flip-TTA is built in are compared when the metadata records them.
    """
    from deepfer.model.archs import available, build_model, has_flip_tta, inner_network

    arch = meta.get("architecture")
    net = inner_network(model, arch) if isinstance(arch, str) else model
    if arch in available():
        want = [tuple(w.shape) for w in build_model(arch).weights]
        got = [tuple(w.shape) for w in net.weights]
        if len(want) != len(got):
            return f"it names architecture {arch!r} ({len(want)} weight arrays), the model has {len(got)} weight arrays"
        if want != got:
            i = next(i for i, (a, b) in enumerate(zip(want, got)) if a != b)
            return f"it names architecture {arch!r}, whose weight array {i} has shape {want[i]}; the model's has {got[i]}"
    params = meta.get("parameters")
    if isinstance(params, int) and params != net.count_params():
        return f"it records {params} parameters, the model has {net.count_params()}"
    tta = meta.get("flip_tta_in_model")
    if isinstance(tta, bool) and tta != has_flip_tta(model):
        return f"it says flip-TTA is {'' if tta else 'not '}built into the model, the model has {'it' if not tta else 'none'}"
    return None


def check_metadata(model_path: str | Path, meta: dict, model=None) -> None:
    """Refuse metadata that does not describe the model beside it (``model``: the loaded Keras model,
    for the architecture checks), with a message naming both files and what to do."""
    problem = metadata_problem(meta) or (keras_metadata_problem(model, meta) if model is not None else None)
    if problem:
        mp = metadata_path(model_path)
        raise ModelError(f"{mp} does not describe {Path(model_path).name}: {problem}; use the {mp.name} written with "
                         f"this model, or delete {mp} to run the model without metadata")


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
    """Load a ``.keras`` or ``.h5`` model and check DeepFER's contract, (N,48,48,1) in and 7 out, and that
    the metadata JSON beside it (if any) describes it."""
    path = Path(path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{path}: unsupported model format {path.suffix!r}; use .keras or .h5")
    if (problem := unreadable_file(path)) is not None:
        hint = "" if os.path.lexists(path) else "; train a model with `python -m deepfer train` or pass --model"
        raise ModelError(problem + hint)
    if path.suffix == ".keras" and (problem := _keras_archive_problem(path)) is not None:
        raise ModelError(f"{path}: not a readable Keras model ({problem})")
    model = _load(path)
    in_shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    out_shape = tuple(model.output_shape[1:]) if not isinstance(model.output_shape, list) else None
    if in_shape != INPUT_SHAPE or out_shape != (len(EMOTIONS),):
        raise ModelError(
            f"{path}: expected input (N, 48, 48, 1) and output (N, {len(EMOTIONS)}), got {model.input_shape} -> {model.output_shape}"
        )
    check_metadata(path, read_metadata(path), model)
    return model


def _keras_archive_problem(path: Path) -> str | None:
    """Why a ``.keras`` file is not a Keras archive (a zip holding ``config.json``), or ``None``.
    Keras itself says "File not found" for a file that is not a zip."""
    if not zipfile.is_zipfile(path):
        return "truncated or corrupt: not a zip archive, as every .keras file is"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile) as exc:
        return f"truncated or corrupt: {exc}"
    return None if "config.json" in names else "a zip archive without the config.json of every .keras file"


def _load(path: Path):
    """``keras.saving.load_model``, its failures as :class:`ModelError`: a damaged file (an unreadable zip
    member, an HDF5 error) as truncated or corrupt, anything else as not loadable."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ModelError(f"{path}: not a readable Keras model (truncated or corrupt: {_first_line(exc)})") from exc
    except Exception as exc:
        raise ModelError(f"{path}: could not load the model ({type(exc).__name__}: {_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
