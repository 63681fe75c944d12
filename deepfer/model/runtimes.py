"""The two ways a model runs: OpenVINO (the serving artifact, int8; no TensorFlow) and Keras.

A runner is a callable ``(N, 48, 48, 1) float32 pixels -> (N, 7) probabilities`` with a ``runtime``
and a ``precision`` name.  :class:`~deepfer.model.classifier.EmotionClassifier` picks one and adds
the rest (stacking, batching, a lock).  Neither runtime is imported until a runner is built.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from deepfer.errors import ModelError
from deepfer.labels import EMOTIONS, INPUT_SHAPE
from deepfer.model.io import load_keras_model, readable

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "openvino", "keras")

#: Ops that exist only in a quantized OpenVINO graph.
_INT8_OPS = {"FakeQuantize", "FakeConvert"}


def openvino_available() -> bool:
    """True where the ``openvino`` package can be imported (the default install has it)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def keras_available() -> bool:
    """True where Keras and TensorFlow are installed (``pip install .[keras]`` or ``.[train]``)."""
    import importlib.util

    return importlib.util.find_spec("keras") is not None and importlib.util.find_spec("tensorflow") is not None


class OpenVinoRunner:
    """An OpenVINO IR (``.xml`` + ``.bin``) compiled for the CPU, tuned for latency.

    ``threads``: compute threads (``None``: OpenVINO's choice, all cores).  One infer request, used
    under the classifier's lock; batches of any size go through the same compiled model.
    """

    runtime = "openvino"

    def __init__(self, path: str | Path, threads: int | None = None):
        path = Path(path)
        if not path.exists():
            raise ModelError(f"serving model {path} does not exist; make it with `python -m deepfer export`")
        if not path.with_suffix(".bin").exists():
            raise ModelError(f"{path}: its weights file {path.with_suffix('.bin').name} is missing; re-export with `python -m deepfer export`")
        readable(path)  # permission, a folder...
        readable(path.with_suffix(".bin"), allow_empty=True)  # a model without weights has an empty one
        if not openvino_available():
            raise ModelError(f"{path} needs OpenVINO: pip install openvino (part of DeepFER's default install)")
        import openvino as ov

        core = ov.Core()
        try:
            model = core.read_model(path)
            check_io(path, [tuple(i.get_partial_shape()) for i in model.inputs], [tuple(o.get_partial_shape()) for o in model.outputs])
            config = {"PERFORMANCE_HINT": "LATENCY"}
            if threads:
                config["INFERENCE_NUM_THREADS"] = int(threads)
            self._compiled = core.compile_model(model, "CPU", config)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 (OpenVINO raises RuntimeError subclasses with long C++ messages)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{path}: not a usable OpenVINO model ({first}); re-export with `python -m deepfer export`") from exc
        self._request = self._compiled.create_infer_request()
        self.precision = "int8" if any(op.get_type_name() in _INT8_OPS for op in model.get_ops()) else "float32"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.array(self._request.infer({0: x})[0], dtype=np.float32)  # a copy: the request reuses its buffer


class KerasRunner:
    """A ``.keras`` / ``.h5`` model on Keras (TensorFlow).  ``precision="auto"`` runs a float32 model in
    bfloat16 where the CPU computes it natively (AVX512-BF16 or AMX); ``"float32"`` never does."""

    runtime = "keras"
    _BUCKETS = (1, 4, 16, 64, 256)

    def __init__(self, path: str | Path, metadata: dict, precision: str = "auto"):
        if precision not in ("auto", "float32", "bfloat16"):
            raise ModelError(f"unknown precision {precision!r}; use auto, float32 or bfloat16")
        if not keras_available():
            raise ModelError(f"{path} needs Keras and TensorFlow for --runtime keras: pip install -e '.[keras]'")
        self._model = load_keras_model(path)
        self.precision = "float32"
        arch = metadata.get("architecture")
        if (precision == "bfloat16" or (precision == "auto" and cpu_has_native_bf16())) and arch:
            from deepfer.model.archs import available, build_inference_model

            if arch in available():
                tta = bool(metadata.get("flip_tta_in_model", False))
                try:
                    self._model = build_inference_model(arch, self._model, tta=tta, policy="mixed_bfloat16")
                except ValueError as exc:
                    raise ModelError(f"{path}: the weights do not fit architecture {arch!r} named in its metadata ({exc})") from exc
                self.precision = "bfloat16"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        # Pad to a few fixed batch sizes so the compiled graph is traced a handful of times, not once per face count.
        size = next((b for b in self._BUCKETS if b >= n), n)
        if size > n:
            x = np.concatenate([x, np.zeros((size - n, *x.shape[1:]), np.float32)])
        return np.asarray(self._model.predict_on_batch(x), dtype=np.float32)[:n]


def check_io(path: Path, inputs: list[tuple], outputs: list[tuple]) -> None:
    """DeepFER's contract, whatever the runtime: one ``(N, 48, 48, 1)`` input, one ``(N, 7)`` output."""

    def dims(shape) -> tuple:
        return tuple(int(str(d)) if str(d).lstrip("-").isdigit() else None for d in shape[1:])

    if len(inputs) != 1 or len(outputs) != 1 or dims(inputs[0]) != INPUT_SHAPE or dims(outputs[0]) != (len(EMOTIONS),):
        raise ModelError(f"{path}: expected input (N, 48, 48, 1) and output (N, {len(EMOTIONS)}), got {inputs} -> {outputs}")


def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AVX512-BF16 or AMX-BF16 (bfloat16 convolutions run natively)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
