"""Image -> Faces: detect, crop (FER2013 framing), classify.  The single-image case of the analysis;
:class:`~deepfer.analysis.stream.StreamAnalyzer` runs the same steps frame after frame."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from deepfer.analysis.detect import DEFAULT_DETECTOR, FaceDetector, make_detector
from deepfer.errors import ImageError
from deepfer.faces import Faces
from deepfer.labels import EMOTIONS, INPUT_SIZE
from deepfer.model.classifier import EmotionClassifier
from deepfer.preprocess import DEFAULT_MARGIN, crop_face, to_gray

#: Images no larger than this (both sides, pixels) are taken to be face crops already (FER2013 style):
#: the whole image is classified, nothing is detected.
CROP_MAX_SIDE = 64
#: A face crop's shorter side must be at least this many pixels, or the image is refused (ImageError): a 48x48
#: model input upscaled more than 3x from fewer pixels holds no facial detail (a 1x1 image would be one grey
#: value classified as an emotion), and no detector finds faces that small (Haar's smallest is 20 px).
MIN_CROP_SIDE = 16


@dataclass
class FacePipeline:
    """``analyze(image)`` finds every face and classifies it.

    >>> pipe = FacePipeline.create()                  # committed model + Haar detector
    >>> faces = pipe.analyze(cv2.imread("photo.jpg"))  # Faces: boxes, scores, probs
    >>> faces.labels, faces.confidences

    Safe to share between threads: the classifier serializes its calls and every detector of
    :mod:`deepfer.analysis.detect` is thread-safe.
    """

    classifier: EmotionClassifier
    detector: FaceDetector

    @classmethod
    def create(cls, model: str | None = None, detector: str = DEFAULT_DETECTOR, runtime: str = "auto", **detector_options) -> FacePipeline:
        """A model (default: the committed one, on its int8 OpenVINO serving model) and a detector by name."""
        return cls(EmotionClassifier.load(model, runtime=runtime), make_detector(detector, **detector_options))

    def with_detector(self, name: str | None) -> FacePipeline:
        """This pipeline with detector ``name`` (itself when ``name`` is empty or its own), sharing the classifier:
        switching detectors never loads the model again.  An unknown name raises DeepFERError."""
        if not name or name == self.detector.name:
            return self
        return replace(self, detector=make_detector(name))

    def crops(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """The ``(N, 48, 48, 1)`` uint8 crops the classifier sees for ``faces`` in ``image``."""
        if not len(faces):
            return np.zeros((0, INPUT_SIZE, INPUT_SIZE, 1), np.uint8)
        gray = to_gray(image)
        margin, side = getattr(self.detector, "framing", (DEFAULT_MARGIN, "longer"))
        return np.stack([crop_face(gray, tuple(b), margin, side) for b in faces.boxes])[..., None]

    def locate(self, image: np.ndarray) -> tuple[Faces, np.ndarray]:
        """Faces (unclassified) in a BGR or gray image and their crops.  An image no larger than
        :data:`CROP_MAX_SIDE` is one face filling the image; one with a side under :data:`MIN_CROP_SIDE`
        is refused (ImageError)."""
        gray = to_gray(image)
        if max(gray.shape) <= CROP_MAX_SIDE:
            h, w = gray.shape
            if min(h, w) < MIN_CROP_SIDE:
                raise ImageError(f"image too small: {w}x{h} pixels; a face crop must be at least {MIN_CROP_SIDE}x{MIN_CROP_SIDE}")
            faces = Faces(np.array([[0, 0, w, h]]), np.ones(1, np.float32))
            return faces, gray[None, ..., None] if gray.shape == (INPUT_SIZE, INPUT_SIZE) else self.crops(gray, faces)
        faces = self.detector.detect(gray)
        return faces, self.crops(gray, faces)

    def predict(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Probabilities for several images' crops in ONE classifier call (batches are cheaper per face)."""
        sizes = [len(c) for c in crops]
        nonempty = [c for c in crops if len(c)]
        probs = self.classifier.predict(np.concatenate(nonempty)) if nonempty else np.zeros((0, len(EMOTIONS)), np.float32)
        bounds = np.cumsum([0, *sizes])
        return [probs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def classify(self, located: list[tuple[Faces, np.ndarray]]) -> list[Faces]:
        """Classify the faces of several images (from :meth:`locate`) in one batch."""
        probs = self.predict([c for _, c in located])
        return [faces.with_probs(p) if len(faces) else Faces.empty() for (faces, _), p in zip(located, probs)]

    def analyze(self, image: np.ndarray) -> Faces:
        """Detect and classify every face in a BGR or gray image."""
        return self.classify([self.locate(image)])[0]

    def analyze_crops(self, crops) -> Faces:
        """Classify images that are already face crops (one face filling each image)."""
        crops = list(crops) if not isinstance(crops, np.ndarray) else crops
        probs = self.classifier.predict(crops)
        sizes = [np.asarray(c).shape[:2] for c in crops]
        boxes = [[0, 0, w, h] for h, w in sizes]
        return Faces(np.asarray(boxes).reshape(-1, 4), np.ones(len(boxes), np.float32), probs)
