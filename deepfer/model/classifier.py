"""The emotion classifier: load a model once, classify batches of face crops."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from deepfer.config import default_model_path
from deepfer.errors import ModelError
from deepfer.labels import EMOTIONS
from deepfer.model.io import load_keras_model, read_metadata
from deepfer.preprocess import stack_faces

log = logging.getLogger(__name__)


_BUCKETS = (1, 4, 16, 64, 256)


def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AVX512-BF16 or AMX-BF16 (bfloat16 convolutions run natively)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class EmotionClassifier:
    """Classify 48x48 face crops (any size/colour is converted) into 7 emotion probabilities.

    ``precision="auto"`` runs the float32 model in bfloat16 where the CPU computes it natively
    (about 1.7x faster here, accuracy within 0.2 points on validation); ``"float32"`` never does.
    Thread-safe: one instance can serve many threads (calls are serialized by a lock).
    """

    def __init__(self, model, metadata: dict | None = None, precision: str = "auto", path: Path | None = None):
        self.metadata = metadata or {}
        self.path = path
        self.precision = "float32"
        self._model = model
        if precision not in ("auto", "float32", "bfloat16"):
            raise ModelError(f"unknown precision {precision!r}; use auto, float32 or bfloat16")
        want_bf16 = precision == "bfloat16" or (precision == "auto" and cpu_has_native_bf16())
        arch = self.metadata.get("architecture")
        if want_bf16 and arch:
            from deepfer.model.archs import available, build_inference_model

            if arch in available():
                tta = bool(self.metadata.get("flip_tta_in_model", False))
                self._model = build_inference_model(arch, model, tta=tta, policy="mixed_bfloat16")
                self.precision = "bfloat16"
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path | None = None, precision: str = "auto") -> EmotionClassifier:
        """Load ``.keras`` / ``.h5`` (default: the committed ``models/deepfer.keras``) with its metadata."""
        p = Path(path) if path else default_model_path()
        model = load_keras_model(p)
        meta = read_metadata(p)
        labels = meta.get("labels")
        if labels and list(labels) != list(EMOTIONS):
            raise ModelError(f"{p}: model labels {labels} differ from DeepFER's order {list(EMOTIONS)}")
        return cls(model, meta, precision=precision, path=p)

    @property
    def labels(self) -> tuple[str, ...]:
        return EMOTIONS

    @property
    def name(self) -> str:
        return self.metadata.get("name") or (self.path.stem if self.path else self._model.name)

    def predict(self, faces, batch_size: int = 256) -> np.ndarray:
        """``(N, 7)`` float32 probabilities for face crops: a list of images or a ``(N, 48, 48, 1)`` array."""
        x = stack_faces(faces).astype(np.float32)
        if len(x) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        out = []
        with self._lock:
            for i in range(0, len(x), batch_size):
                chunk = x[i : i + batch_size]
                n = len(chunk)
                # Pad to a few fixed batch sizes so the compiled graph is traced a handful of times,
                # not once per face count.
                size = next((b for b in _BUCKETS if b >= n), n)
                if size > n:
                    chunk = np.concatenate([chunk, np.zeros((size - n, *chunk.shape[1:]), np.float32)])
                out.append(np.asarray(self._model.predict_on_batch(chunk), dtype=np.float32)[:n])
        probs = np.concatenate(out)
        return probs / probs.sum(axis=1, keepdims=True)
