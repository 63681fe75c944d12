"""Settings read from the environment, and the limits every front end applies: one place for both.

Every ``DEEPFER_*`` variable is read here, when a function is called (never at import), so a test
or a server can set it at any time.

| variable | default | used by |
|---|---|---|
| ``DEEPFER_MODEL`` | ``models/deepfer.keras`` of this checkout | every front end's default model |
| ``DEEPFER_MODELS_DIR`` | ``models/`` | the dashboard's Training page (runs to compare) |
| ``DEEPFER_DATA`` | ``$DEEPFER_SHARED/data/fer2013`` | the dashboard's Dataset page |
| ``DEEPFER_SHARED`` | ``../shared`` beside the checkout | tests, benchmarks, the Dataset page |
| ``DEEPFER_DASHBOARD_WORKDIR`` | ``<tmp>/deepfer-dashboard`` | batch runs on dashboard uploads |
| ``DEEPFER_RESULTS_DIR`` | ``$DEEPFER_DASHBOARD_WORKDIR`` | the only folder (and below) the Batch explorer opens |
| ``DEEPFER_MAX_PIXELS`` | ``40000000`` (:data:`MAX_PIXELS`) | largest image (width x height) any front end decodes |
| ``DEEPFER_ICE_SERVERS`` / ``DEEPFER_ICE_SERVERS_FILE`` | none | STUN/TURN for the live webcam page |
| ``DEEPFER_THREADS`` | all cores | compute threads of the OpenVINO classifier (Ray workers set 1) |
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from deepfer.errors import DeepFERError

#: The checkout (or installed tree) holding ``deepfer/``, ``models/`` and ``dashboard/``.
REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"

#: Largest image upload anywhere (dashboard Home page and Batch explorer, Gradio: image and video uploads), in MB.
MAX_UPLOAD_MB = 25
#: Largest video uploaded to the dashboard's Batch explorer, in MB.
MAX_BATCH_UPLOAD_MB = 500
#: Largest image, in pixels (width x height), DeepFER decodes by default, whatever the front end: a 1 MB PNG
#: can hold a 400-megapixel "decompression bomb" (3 GB once decoded).  ``$DEEPFER_MAX_PIXELS`` changes it.
MAX_PIXELS = 40_000_000

ENV_MODEL = "DEEPFER_MODEL"
ENV_MODELS_DIR = "DEEPFER_MODELS_DIR"
ENV_DATA = "DEEPFER_DATA"
ENV_SHARED = "DEEPFER_SHARED"
ENV_DASHBOARD_WORKDIR = "DEEPFER_DASHBOARD_WORKDIR"
ENV_RESULTS_DIR = "DEEPFER_RESULTS_DIR"
ENV_MAX_PIXELS = "DEEPFER_MAX_PIXELS"
ENV_ICE_SERVERS = "DEEPFER_ICE_SERVERS"
ENV_ICE_SERVERS_FILE = "DEEPFER_ICE_SERVERS_FILE"
ENV_THREADS = "DEEPFER_THREADS"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def default_model_path() -> Path:
    """``$DEEPFER_MODEL``, else the committed ``models/deepfer.keras``."""
    return _env_path(ENV_MODEL) or MODELS_DIR / "deepfer.keras"


def _env_positive_int(name: str) -> int | None:
    """The positive integer in ``$name`` (``_`` separators allowed: ``100_000_000``), ``None`` when unset or blank."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    digits = value.replace("_", "")
    if not digits.isdigit() or int(digits) < 1:
        raise DeepFERError(f"{name}={value!r}: expected a positive integer")
    return int(digits)


def inference_threads() -> int | None:
    """``$DEEPFER_THREADS`` (a positive integer), else ``None``: the runtime uses every core."""
    return _env_positive_int(ENV_THREADS)


def max_pixels() -> int:
    """``$DEEPFER_MAX_PIXELS`` (a positive integer), else :data:`MAX_PIXELS`: the largest image (width x height)
    that :func:`deepfer.preprocess.read_image` and :func:`~deepfer.preprocess.decode_image` accept."""
    return _env_positive_int(ENV_MAX_PIXELS) or MAX_PIXELS


def models_dir() -> Path:
    """``$DEEPFER_MODELS_DIR``, else the checkout's ``models/``."""
    return _env_path(ENV_MODELS_DIR) or MODELS_DIR


def shared_dir() -> Path:
    """``$DEEPFER_SHARED``, else ``shared/`` beside the checkout."""
    return _env_path(ENV_SHARED) or REPO_ROOT.parent / "shared"


def dataset_dir() -> Path | None:
    """``$DEEPFER_DATA``, else the shared FER2013 folders when they exist."""
    env = _env_path(ENV_DATA)
    if env is not None:
        return env
    shared = shared_dir() / "data" / "fer2013"
    return shared if shared.is_dir() else None


def dashboard_workdir() -> Path:
    """Where the dashboard keeps batch runs on uploads."""
    return _env_path(ENV_DASHBOARD_WORKDIR) or Path(tempfile.gettempdir()) / "deepfer-dashboard"


def results_root() -> Path:
    """``$DEEPFER_RESULTS_DIR``, else :func:`dashboard_workdir`: the folder under which the dashboard's Batch
    explorer opens batch outputs (so a dashboard exposed on a network is not a browser of the server's files)."""
    return _env_path(ENV_RESULTS_DIR) or dashboard_workdir()
