"""Batch emotion analysis of image folders and videos into per-frame CSVs, with face tracking.

``python -m batch INPUT... --out DIR``; from Python: :func:`batch.run_batch` (and ``batch.analyze_video``
for one video).  Importing this package is cheap: the engine is imported on first use.
"""

from __future__ import annotations

#: public name -> the module that defines it
_EXPORTS = {
    "run_batch": "batch.engines.local",
    "BatchReport": "batch.results",
    "analyze_video": "deepfer.outputs.video",
    "VideoOutputs": "deepfer.outputs.layout",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'batch' has no attribute {name!r}")
