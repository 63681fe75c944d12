"""Image -> Faces: detect, crop (FER2013 framing), classify. Written once for every front end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepfer.classify import EmotionClassifier
from deepfer.detect import FaceDetector, make_detector
from deepfer.faces import Faces
from deepfer.preprocess import DEFAULT_MARGIN, crop_face, to_gray


@dataclass
class FacePipeline:
    """``analyze(image)`` finds every face and classifies it.

    >>> pipe = FacePipeline.create()                  # committed model + Haar detector
    >>> faces = pipe.analyze(cv2.imread("photo.jpg"))  # Faces: boxes, scores, probs
    >>> faces.labels, faces.confidences
    """

    classifier: EmotionClassifier
    detector: FaceDetector
    margin: float = DEFAULT_MARGIN

    @classmethod
    def create(cls, model: str | None = None, detector: str = "haar", precision: str = "auto", **detector_options) -> FacePipeline:
        return cls(EmotionClassifier.load(model, precision=precision), make_detector(detector, **detector_options))

    def crops(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """The ``(N, 48, 48, 1)`` uint8 crops the classifier sees for ``faces`` in ``image``."""
        gray = to_gray(image)
        return np.stack([crop_face(gray, tuple(b), self.margin) for b in faces.boxes])[..., None] if len(faces) else np.zeros((0, 48, 48, 1), np.uint8)

    def classify(self, image: np.ndarray, faces: Faces) -> Faces:
        """Add probabilities to detected ``faces`` of ``image``."""
        if len(faces) == 0:
            return Faces.empty()
        return faces.with_probs(self.classifier.predict(self.crops(image, faces)))

    def analyze(self, image: np.ndarray) -> Faces:
        """Detect and classify every face in a BGR or gray image."""
        return self.classify(image, self.detector.detect(image))

    def analyze_crops(self, crops) -> Faces:
        """Classify images that are already face crops (one face filling each image)."""
        crops = list(crops) if not isinstance(crops, np.ndarray) else crops
        probs = self.classifier.predict(crops)
        sizes = [np.asarray(c).shape[:2] for c in crops]
        boxes = [[0, 0, w, h] for h, w in sizes]
        return Faces(np.asarray(boxes).reshape(-1, 4), np.ones(len(boxes), np.float32), probs)
