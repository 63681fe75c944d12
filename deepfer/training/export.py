"""``python -m deepfer export``: a trained ``.keras`` model -> its serving artifact (OpenVINO IR, int8).

Steps: Keras -> TensorFlow SavedModel (temporary) -> OpenVINO IR (float32) -> NNCF post-training
quantization to int8, calibrated on faces of the **training** split (never validation) -> ``x.int8.xml``
+ ``.bin`` beside ``x.keras``, and ``x.int8.json``: the model's metadata plus what was exported, from
which file (SHA-256), how it was calibrated and the validation accuracy of the float model and the
int8 model side by side.  Needs the ``train`` extra (TensorFlow, Keras, NNCF); serving needs only OpenVINO.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from deepfer.errors import ModelError
from deepfer.fileio import write_json_atomic as write_json
from deepfer.labels import EMOTIONS
from deepfer.model.io import file_sha256, load_keras_model, metadata_path, read_metadata, serving_path
from deepfer.training.data import FaceDataset
from deepfer.training.metrics import classification_report

log = logging.getLogger(__name__)

#: Training faces the int8 ranges are calibrated on (1,024 was within 0.2 points of float here).
CALIBRATION_FACES = 1024
#: NNCF presets: "performance" = symmetric int8 weights and activations (fastest kernels), "mixed" =
#: asymmetric activations (can be closer to float after ReLU-free layers).
PRESETS = ("performance", "mixed")


def calibration_faces(images: np.ndarray, n: int = CALIBRATION_FACES, seed: int = 0) -> np.ndarray:
    """``n`` faces drawn without replacement (fixed seed) from training images, as float32 pixels."""
    n = min(n, len(images))
    if n < 1:
        raise ModelError("no training faces to calibrate the int8 model on")
    idx = np.sort(np.random.default_rng(seed).choice(len(images), size=n, replace=False))
    return images[idx].astype(np.float32)


def to_openvino(model):
    """A Keras model -> an in-memory OpenVINO float32 model (through a temporary SavedModel)."""
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="deepfer-export-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        return ov.convert_model(str(saved))


def quantize(float_model, calib: np.ndarray, preset: str = "performance"):
    """NNCF post-training quantization of an OpenVINO model on calibration faces (one face per item)."""
    import nncf

    if preset not in PRESETS:
        raise ModelError(f"unknown preset {preset!r}; use {', '.join(PRESETS)}")
    dataset = nncf.Dataset([face[None] for face in calib])
    # The probabilities stay float: quantizing the softmax output (so that the flip-TTA average could run in
    # int8) would round every probability to steps of 1/256 and make small classes tie.
    keep_float = nncf.IgnoredScope(patterns=[".*tta_average.*"], types=["Softmax"], validate=False)
    return nncf.quantize(float_model, dataset, subset_size=len(calib), ignored_scope=keep_float,
                         preset=nncf.QuantizationPreset.PERFORMANCE if preset == "performance" else nncf.QuantizationPreset.MIXED)


def _save_ir(ov_model, xml: Path) -> None:
    """Write ``xml`` + ``.bin`` under temporary names, then rename (weights first): a crash leaves the old pair."""
    import openvino as ov

    tmp_xml = xml.with_name(xml.name.replace(".xml", ".tmp.xml"))
    ov.save_model(ov_model, str(tmp_xml), compress_to_fp16=False)
    os.replace(tmp_xml.with_suffix(".bin"), xml.with_suffix(".bin"))
    os.replace(tmp_xml, xml)


def _scores(labels: np.ndarray, probs: np.ndarray) -> dict:
    r = classification_report(labels, probs.argmax(1))
    return {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "per_class": r["per_class"]}


def export_serving(model_path: str | Path, train: FaceDataset, val: FaceDataset | None = None, *, model=None,
                   calibration: int = CALIBRATION_FACES, preset: str = "performance", seed: int = 0) -> dict:
    """Export ``model_path`` (``.keras``/``.h5``) to ``<stem>.int8.xml``; returns the serving metadata written.

    ``model``: the already loaded Keras model of ``model_path`` (saves a reload when training ends).
    """
    import nncf
    import openvino as ov

    from deepfer.model.runtimes import OpenVinoRunner
    from deepfer.training.train import predict_proba

    model_path = Path(model_path)
    keras_model = model if model is not None else load_keras_model(model_path)
    meta = copy.deepcopy(read_metadata(model_path))
    xml = serving_path(model_path)

    calib = calibration_faces(train.images, calibration, seed)
    log.info("exporting %s -> %s (OpenVINO %s, NNCF %s; %d training faces for calibration)",
             model_path, xml.name, ov.__version__, nncf.__version__, len(calib))
    int8 = quantize(to_openvino(keras_model), calib, preset)
    _save_ir(int8, xml)

    validation = None
    if val is not None and len(val):
        p_float = predict_proba(keras_model, val.images)
        p_int8 = OpenVinoRunner(xml)(val.images.astype(np.float32))
        f, q = _scores(val.labels, p_float), _scores(val.labels, p_int8)
        validation = {
            "source": val.source,
            "n": len(val),
            "float": f,
            "int8": q,
            "top1_agreement": float((p_float.argmax(1) == p_int8.argmax(1)).mean()),
            "accuracy_gap_points": round(100 * (f["accuracy"] - q["accuracy"]), 3),
            "max_abs_prob_diff": float(np.abs(p_float - p_int8).max()),
        }

    meta.update({
        "name": meta.get("name") or model_path.stem,
        "labels": meta.get("labels") or list(EMOTIONS),
    })
    meta.setdefault("files", {})["serving"] = xml.name
    meta["serving"] = {
        "runtime": "openvino",
        "precision": "int8",
        "file": xml.name,
        "weights": xml.with_suffix(".bin").name,
        "bin_sha256": file_sha256(xml.with_suffix(".bin")),
        "source": {"file": model_path.name, "sha256": file_sha256(model_path)},
        "openvino": ov.__version__,
        "nncf": nncf.__version__,
        "quantization": {
            "method": "NNCF post-training quantization (min-max ranges, fast bias correction)",
            "preset": preset,
            "calibration": {"split": "train", "source": train.source, "faces": int(len(calib)), "seed": seed},
        },
        "validation": validation,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_json(metadata_path(xml), meta)
    return meta


def format_export(meta: dict) -> str:
    s = meta["serving"]
    lines = [f"wrote {s['file']} (+ {s['weights']}, {Path(s['file']).with_suffix('.json').name}): "
             f"int8, calibrated on {s['quantization']['calibration']['faces']} training faces"]
    v = s.get("validation")
    if v:
        lines.append(f"validation ({v['n']} faces): float {v['float']['accuracy']:.4f} (macro-F1 {v['float']['macro_f1']:.4f}), "
                     f"int8 {v['int8']['accuracy']:.4f} (macro-F1 {v['int8']['macro_f1']:.4f}); gap {v['accuracy_gap_points']:.2f} points, "
                     f"top-1 agreement {v['top1_agreement']:.4f}")
    return "\n".join(lines)
