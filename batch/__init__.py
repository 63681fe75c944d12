"""Batch emotion analysis of image folders and videos into per-frame CSVs, with face tracking.

``python -m batch INPUT... --out DIR``; from Python: :func:`batch.run_batch`.  Importing this
package is cheap: the runner (and TensorFlow behind it) is imported on first use.
"""

from __future__ import annotations

__all__ = ["BatchReport", "VideoOutputs", "process_video", "run_batch"]


def __getattr__(name: str):
    if name in __all__:
        from batch import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'batch' has no attribute {name!r}")
