"""Helpers shared by the dashboard pages: cached model, model card, photo analysis."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from deepfer.config import MAX_UPLOAD_MB
from deepfer.errors import DeepFERError


def detector_choice(container=st, key: str | None = None) -> str:
    """A detector select box (the default detector first) in ``container``."""
    from deepfer.analysis.detect import DETECTOR_CHOICES, DETECTOR_HELP

    return container.selectbox("Face detector", DETECTOR_CHOICES, help=DETECTOR_HELP, key=key)


def load_pipeline(model_path: str | None = None, detector: str | None = None):
    """The classifier for ``model_path`` (default: ``$DEEPFER_MODEL`` or the committed model) with
    ``detector`` (default: the default detector), loaded once per server process and shared by sessions
    (the classifier is thread-safe); every detector shares the one loaded classifier."""
    from deepfer.config import default_model_path

    return _cached_with_detector(str(model_path or default_model_path()), detector or "")


@st.cache_resource(show_spinner="Loading the emotion model...")
def _cached_pipeline(model_path: str):
    from deepfer.analysis.pipeline import FacePipeline

    return FacePipeline.create(model_path)


@st.cache_resource(show_spinner=False)
def _cached_with_detector(model_path: str, detector: str):
    return _cached_pipeline(model_path).with_detector(detector)


def model_card(classifier) -> pd.DataFrame:
    """The loaded model as a field/value table: what it is, how accurate, what runs it here."""
    meta = classifier.metadata
    v = meta.get("validation", {})
    served = ((meta.get("serving") or {}).get("validation") or {}).get("int8") if classifier.precision == "int8" else None
    rows = {
        "name": meta.get("name", "?"),
        "architecture": meta.get("architecture", "?"),
        "parameters": f"{meta.get('parameters', 0):,}",
        "flip-TTA inside the model": str(meta.get("flip_tta_in_model", False)),
        "validation accuracy (FER2013 PublicTest)": f"{v['accuracy']:.2%}" if "accuracy" in v else "?",
        "validation macro-F1": f"{v['macro_f1']:.3f}" if "macro_f1" in v else "?",
        "labels": ", ".join(meta.get("labels", [])),
        "runs here on": f"{classifier.runtime} {classifier.precision} ({classifier.path.name if classifier.path else '?'})",
    }
    if served:
        rows["validation accuracy of this int8 model"] = f"{served['accuracy']:.2%} (macro-F1 {served['macro_f1']:.3f})"
    return pd.DataFrame({"field": list(rows), "value": list(rows.values())})


def analyze_upload(pipe, data: bytes):
    """Annotated BGR image and a per-face probability table for uploaded image bytes."""
    from deepfer.analysis.annotate import annotate
    from deepfer.labels import EMOTIONS
    from deepfer.preprocess import decode_image

    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise DeepFERError(f"the file is {len(data) / 1e6:.1f} MB; the limit is {MAX_UPLOAD_MB} MB")
    img = decode_image(data)
    faces = pipe.analyze(img)
    rows = [{"face": i + 1, "emotion": r["emotion"], "confidence": round(r["confidence"], 3),
             **{e: round(r["probabilities"][e], 3) for e in EMOTIONS}} for i, r in enumerate(faces.to_records())]
    return annotate(img, faces), pd.DataFrame(rows)
