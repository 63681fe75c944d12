"""DeepFER: facial emotion recognition from 48x48 grayscale faces.

Importing this package is cheap: TensorFlow/Keras and OpenCV are imported lazily by the
modules that need them.
"""

from __future__ import annotations

from deepfer.labels import EMOTIONS, INPUT_SHAPE, INPUT_SIZE

__all__ = ["EMOTIONS", "INPUT_SHAPE", "INPUT_SIZE", "__version__"]
__version__ = "0.1.0"
