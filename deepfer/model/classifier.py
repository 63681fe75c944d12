"""The emotion classifier: load a model once, classify batches of face crops.

Which file runs on which runtime (``runtime="auto"``, the default everywhere):

| ``--model`` | runs |
|---|---|
| none | the committed ``models/deepfer.keras``'s serving artifact ``models/deepfer.int8.xml`` on OpenVINO |
| ``x.keras`` / ``x.h5`` | ``x.int8.xml`` on OpenVINO when it exists, else the Keras model itself (needs TensorFlow) |
| ``x.int8.xml`` | that OpenVINO model |

``runtime="keras"`` always runs the ``.keras`` / ``.h5`` file on Keras; ``runtime="openvino"`` refuses
to fall back.  A serving artifact exported from a different ``.keras`` file than the one beside it, or
whose weights changed since export, is refused with a message saying how to re-export.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from deepfer.config import default_model_path, inference_threads
from deepfer.errors import ModelError
from deepfer.labels import EMOTIONS
from deepfer.model.io import MODEL_SUFFIXES, check_metadata, file_sha256, metadata_path, read_metadata, serving_path
from deepfer.model.runtimes import RUNTIMES, KerasRunner, OpenVinoRunner, keras_available, openvino_available
from deepfer.preprocess import stack_faces

log = logging.getLogger(__name__)


def resolve_model(path: str | Path | None = None, runtime: str = "auto") -> tuple[str, Path]:
    """``(runtime, file)`` that :meth:`EmotionClassifier.load` would use, without loading anything."""
    p = Path(path) if path else default_model_path()
    if runtime not in RUNTIMES:
        raise ModelError(f"unknown runtime {runtime!r}; use {', '.join(RUNTIMES)}")
    if p.suffix == ".xml":
        if runtime == "keras":
            raise ModelError(f"{p} is an OpenVINO serving model; --runtime keras needs the .keras/.h5 model it was exported from")
        return "openvino", p
    if p.suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{p}: unsupported model format {p.suffix!r}; use .keras, .h5 or an exported .int8.xml")
    if runtime == "keras":
        return "keras", p
    serving = serving_path(p)
    if runtime == "openvino" or (serving.is_file() and openvino_available()):
        if not serving.is_file():
            raise ModelError(f"{p} has no serving model {serving.name}: make it with `python -m deepfer export --model {p}`")
        return "openvino", serving
    if keras_available():
        if p.exists():
            log.info("%s has no serving model %s: running the Keras model (slower; `python -m deepfer export` makes one)", p, serving.name)
        return "keras", p
    if not serving.is_file():
        raise ModelError(f"{p} has no serving model {serving.name}, and Keras is not installed to run it directly: "
                         f"export it with `python -m deepfer export --model {p}` (needs pip install -e '.[train]'), "
                         "or install the Keras runtime: pip install -e '.[keras]'")
    raise ModelError("neither OpenVINO nor Keras is installed: pip install -e . (OpenVINO) or pip install -e '.[keras]'")


def check_serving_files(xml: Path, meta: dict, source: Path | None) -> None:
    """Refuse a serving model whose weights changed since export, or that was exported from another ``source``."""
    serving = meta.get("serving") or {}
    want_bin = serving.get("bin_sha256")
    weights = xml.with_suffix(".bin")
    if want_bin and weights.exists() and file_sha256(weights) != want_bin:
        meta_name = metadata_path(xml).name
        raise ModelError(f"{weights} differs from the weights recorded at export in {meta_name} (the weights are corrupt or "
                         f"replaced, or {meta_name} belongs to another model); re-export with `python -m deepfer export`")
    want_src = (serving.get("source") or {}).get("sha256")
    if source is not None and source.exists() and want_src and file_sha256(source) != want_src:
        raise ModelError(f"{xml.name} was exported from another {source.name} than the one beside it: re-export with "
                         f"`python -m deepfer export --model {source}`, or run the Keras model with --runtime keras")


class EmotionClassifier:
    """Classify 48x48 face crops (any size/colour is converted) into 7 emotion probabilities.

    ``runner``: an :class:`~deepfer.model.runtimes.OpenVinoRunner` or
    :class:`~deepfer.model.runtimes.KerasRunner`.  Thread-safe: one instance can serve many threads
    (calls are serialized by a lock).
    """

    def __init__(self, runner, metadata: dict | None = None, path: Path | None = None):
        self.metadata = metadata or {}
        self.path = path
        self._runner = runner
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path | None = None, runtime: str = "auto", precision: str = "auto",
             threads: int | None = None) -> EmotionClassifier:
        """Load a model (default: the committed one) on a runtime (see the module's table).

        ``precision`` applies to the Keras runtime only (``auto``: bfloat16 where native); ``threads``
        to OpenVINO (default ``$DEEPFER_THREADS``, else all cores).
        """
        given = Path(path) if path else default_model_path()
        chosen, p = resolve_model(given, runtime)
        meta = read_metadata(p)
        if chosen == "openvino":
            check_serving_files(p, meta, given if given.suffix in MODEL_SUFFIXES else None)
            runner = OpenVinoRunner(p, threads=threads if threads is not None else inference_threads())
            check_metadata(p, meta)  # the Keras loader checks a .keras model's own
        else:
            runner = KerasRunner(p, meta, precision=precision)
        labels = meta.get("labels")
        if labels and list(labels) != list(EMOTIONS):
            raise ModelError(f"{metadata_path(p)}: model labels {labels} differ from DeepFER's order {list(EMOTIONS)}")
        return cls(runner, meta, path=p)

    @property
    def labels(self) -> tuple[str, ...]:
        return EMOTIONS

    @property
    def runtime(self) -> str:
        """``openvino`` or ``keras``."""
        return self._runner.runtime

    @property
    def precision(self) -> str:
        """``int8``, ``float32`` or ``bfloat16``: what the runtime computes in."""
        return self._runner.precision

    @property
    def name(self) -> str:
        return self.metadata.get("name") or (self.path.stem if self.path else "model")

    def describe(self) -> str:
        """e.g. ``deepfer (vgg) on openvino int8``."""
        arch = self.metadata.get("architecture")
        return f"{self.name}{f' ({arch})' if arch else ''} on {self.runtime} {self.precision}"

    def predict(self, faces, batch_size: int = 256) -> np.ndarray:
        """``(N, 7)`` float32 probabilities for face crops: a list of images or a ``(N, 48, 48, 1)`` array."""
        x = stack_faces(faces).astype(np.float32)
        if len(x) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        with self._lock:
            probs = np.concatenate([self._runner(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
        return probs / probs.sum(axis=1, keepdims=True)
