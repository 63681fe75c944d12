"""The YuNet detector (shipped weights, landmarks, threads, errors) and the crop geometry for its boxes."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest

import deepfer.preprocess as pre
from deepfer.analysis.detect import DETECTORS, YUNET_WEIGHTS, YuNetDetector, make_detector
from deepfer.errors import DeepFERError, ModelError
from deepfer.faces import Faces
from deepfer.preprocess import read_image

YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    return make_detector("yunet")


def rotated(img: np.ndarray, angle: float) -> np.ndarray:
    """``img`` rotated counter-clockwise by ``angle`` degrees about its centre, on a canvas that keeps every pixel."""
    import cv2

    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(img, m, (nw, nh))


def test_weights_are_shipped_with_licence_and_origin():
    assert YUNET_WEIGHTS.is_file(), f"{YUNET_WEIGHTS} missing"
    assert hashlib.sha256(YUNET_WEIGHTS.read_bytes()).hexdigest() == YUNET_SHA256
    folder = YUNET_WEIGHTS.parent
    assert "Apache License" in (folder / "LICENSE").read_text()
    readme = (folder / "README.md").read_text()
    assert YUNET_SHA256 in readme and "0047ac24afb1a50a0c6105001c89d1b5b805dbf1" in readme


def test_registered_by_name_and_the_default(yunet):
    from batch.cli import build_parser
    from deepfer.analysis.pipeline import FacePipeline

    assert "yunet" in DETECTORS and yunet.name == "yunet"
    assert make_detector().name == "yunet"
    assert FacePipeline.create().detector.name == "yunet"
    assert build_parser().parse_args(["x", "--out", "y"]).detector == "yunet"
    assert yunet.framing == (0.15, "width") and make_detector("haar").framing == (0.0, "longer")


@pytest.mark.shared
def test_group_photo_and_no_faces(yunet, media):
    group = yunet.detect(read_image(media / "test_image.jpg"))
    assert len(group) == 6
    assert group.landmarks is not None and group.landmarks.shape == (6, 5, 2) and group.landmarks.dtype == np.float32
    assert (group.det_scores >= 0.6).all()
    assert len(yunet.detect(read_image(media / "no-faces.jpg"))) == 0
    assert len(yunet.detect(read_image(media / "justin.jpg"))) == 1


@pytest.mark.shared
def test_landmarks_lie_inside_their_boxes_and_eyes_are_ordered(yunet, media):
    faces = yunet.detect(read_image(media / "test_image.jpg"))
    x, y, w, h = (faces.boxes[:, k, None].astype(np.float32) for k in range(4))
    lx, ly = faces.landmarks[..., 0], faces.landmarks[..., 1]
    assert ((lx >= x) & (lx <= x + w) & (ly >= y) & (ly <= y + h)).all()
    # the person's right eye (landmark 0) is on the image's left in these frontal, unmirrored faces
    assert (faces.landmarks[:, 0, 0] < faces.landmarks[:, 1, 0]).all()


@pytest.mark.shared
@pytest.mark.parametrize("transform", ["mirrored", "rot+20", "rot-20"])
def test_mirrored_and_rotated_copies_find_every_face(yunet, media, transform):
    img = read_image(media / "test_image.jpg")
    img = img[:, ::-1].copy() if transform == "mirrored" else rotated(img, float(transform[3:]))
    assert len(yunet.detect(img)) == 6


@pytest.mark.shared
def test_gray_and_bgra_input_and_boxes_in_frame_coordinates(yunet, media):
    import cv2

    bgr = read_image(media / "test_image.jpg")
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    from_gray = yunet.detect(gray)
    assert len(from_gray) == 6
    assert len(yunet.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))) == 6
    h, w = bgr.shape[:2]
    b = from_gray.boxes
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 0] + b[:, 2] <= w).all() and (b[:, 1] + b[:, 3] <= h).all()
    assert b[:, 2].max() > 300  # the selfie face, at full resolution (the frame is shrunk to 640 px to detect)


@pytest.mark.shared
def test_usable_from_two_threads_at_once(yunet, media):
    """Two threads, different frame sizes (each thread's network keeps its own input size)."""
    big = read_image(media / "test_image.jpg")
    small = read_image(media / "justin.jpg")
    expected = {"big": len(yunet.detect(big)), "small": len(yunet.detect(small))}
    results: dict[str, list[int]] = {"big": [], "small": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(key, img):
        try:
            start.wait()
            for _ in range(15):
                results[key].append(len(yunet.detect(img)))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=("big", big)), threading.Thread(target=work, args=("small", small))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results["big"] == [expected["big"]] * 15 and results["small"] == [expected["small"]] * 15


def test_missing_or_corrupt_weights_give_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        YuNetDetector(weights=tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(YUNET_WEIGHTS.read_bytes()[:50_000])  # a truncated download
    with pytest.raises(ModelError, match=str(bad)):
        YuNetDetector(weights=bad)
    with pytest.raises(DeepFERError, match="unknown detector"):
        make_detector("yunet2")


def test_blank_and_empty_images(yunet):
    assert len(yunet.detect(np.zeros((200, 300), np.uint8))) == 0
    assert len(yunet.detect(np.zeros((0, 0, 3), np.uint8))) == 0
    assert len(yunet.detect(np.full((120, 80, 3), 0.5, np.float32))) == 0


def test_faces_carry_landmarks_through_selection_and_scaling():
    lm = np.arange(3 * 10, dtype=np.float32).reshape(3, 5, 2)
    f = Faces(np.array([[0, 0, 10, 10], [5, 5, 10, 10], [20, 20, 4, 4]]), np.array([0.9, 0.5, 0.7]), landmarks=lm)
    assert np.array_equal(f[1].landmarks, lm[1:2])
    assert np.array_equal(f[f.det_scores > 0.6].landmarks, lm[[0, 2]])
    assert np.array_equal(f[1:].landmarks, lm[1:])
    assert np.array_equal(f.with_probs(np.eye(7)[:3]).with_track_ids(np.arange(3)).landmarks, lm)
    assert np.allclose(f.scaled(2.0).landmarks, lm * 2)
    assert Faces(np.zeros((1, 4)), np.ones(1)).landmarks is None and Faces(np.zeros((1, 4)), np.ones(1))[0].landmarks is None
    with pytest.raises(ValueError, match="landmark"):
        Faces(np.zeros((2, 4)), np.ones(2), landmarks=lm)


# --- crop geometry for YuNet's boxes (deepfer.preprocess) ---


def test_square_box_of_a_tall_box_is_centred_on_it():
    x0, y0, x1, y1 = pre.square_box((100, 100, 80, 100), 0.1, (500, 500))
    assert x1 - x0 == y1 - y0 == 120
    assert (x0 + x1) / 2 == 140 and (y0 + y1) / 2 == 150
    x0, y0, x1, y1 = pre.square_box((100, 100, 80, 100), 0.125, (500, 500), side="width")  # YuNet's tall boxes: 1.25 x width
    assert x1 - x0 == y1 - y0 == 100 and (x0, y0) == (90, 100)
    with pytest.raises(ValueError, match="side"):
        pre.square_box((0, 0, 10, 10), 0.0, (50, 50), side="height")


def _face_like(size: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic image with two dark 'eyes' on a level line, and their centres (right eye on the image's left)."""
    import cv2

    img = np.full((size, size), 180, np.uint8)
    cv2.ellipse(img, (size // 2, size // 2 + 10), (60, 80), 0, 0, 360, 120, -1)
    right, left = np.array([75.0, 85.0]), np.array([125.0, 85.0])
    for c in (right, left):
        cv2.circle(img, (int(c[0]), int(c[1])), 9, 20, -1)
    return img, right, left


def _eye_centres(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the two dark blobs, left-to-right in the image."""
    import cv2

    n, _, stats, centroids = cv2.connectedComponentsWithStats((img < 60).astype(np.uint8))
    blobs = sorted((centroids[i] for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] > 50), key=lambda c: c[0])
    assert len(blobs) == 2, f"found {len(blobs)} eye blobs"
    return blobs[0], blobs[1]


@pytest.mark.parametrize("angle", [-30.0, -12.0, 7.0, 25.0])
def test_align_upright_levels_a_face_rotated_by_a_known_angle(angle):
    import cv2

    img, right, left = _face_like()
    m = cv2.getRotationMatrix2D((100.0, 100.0), angle, 1.0)
    tilted = cv2.warpAffine(img, m, (200, 200), borderMode=cv2.BORDER_REPLICATE)
    r, lft = (m @ np.array([*p, 1.0]) for p in (right, left))
    assert abs(pre.eye_roll(lft, r) + angle) < 0.5  # counter-clockwise on screen = negative roll
    upright, _ = pre.align_upright(tilted, lft, r)
    a, b = _eye_centres(upright)
    assert abs(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0]))) < 2.0
    assert np.linalg.norm((a + b) / 2 - (r + lft) / 2) < 2.0  # rotated about the eye midpoint


def test_crop_upright_equals_crop_face_for_level_eyes_and_levels_tilted_ones():
    import cv2

    img, right, left = _face_like()
    box = (40, 30, 120, 150)
    lm = np.array([right, left, [100, 120], [80, 150], [120, 150]])
    for margin in (-0.05, 0.0, 0.2, 0.6):  # 0.6: the square extends past the image (replicated border)
        for side in pre.SQUARE_SIDES:
            assert np.array_equal(pre.crop_face_upright(img, box, lm, margin, side), pre.crop_face(img, box, margin, side))
    m = cv2.getRotationMatrix2D((100.0, 100.0), 20.0, 1.0)
    tilted = cv2.warpAffine(img, m, (200, 200), borderMode=cv2.BORDER_REPLICATE)
    lm_t = np.array([m @ np.array([*p, 1.0]) for p in lm])
    crop = pre.crop_face_upright(tilted, box, lm_t, 0.0)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    a, b = _eye_centres(cv2.resize(crop, (192, 192), interpolation=cv2.INTER_LINEAR))
    assert abs(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0]))) < 2.0
    with pytest.raises(DeepFERError):
        pre.crop_face_upright(img, (500, 500, 10, 10), lm)


class _StubClassifier:
    """Says 'happy' (id 3) for every face: enough to check the framing experiment's bookkeeping."""

    def predict(self, faces):
        faces = np.asarray(faces)
        return np.tile(np.eye(7, dtype=np.float32)[3], (len(faces), 1))


@pytest.mark.shared
def test_framing_experiment_rows_for_haar_and_yunet(shared):
    from deepfer.training.framing import best_framing, framing_runs, framing_table

    files = sorted((shared / "data" / "fer2013" / "validation" / "happy").iterdir())[:12]
    images = np.stack([pre.to_model_input(read_image(f)) for f in files])[..., None]
    labels = np.full(len(images), 3)
    clf = _StubClassifier()
    runs = framing_runs(clf, make_detector("haar"), images, [0.0, 0.1]) + framing_runs(clf, make_detector("yunet"), images, [0.0, 0.1])
    rows = framing_table(runs, labels, clf.predict(images).argmax(1))
    kinds = {(r["detector"], r["framing"]) for r in rows}
    assert kinds == {("haar", "square"), ("yunet", "square"), ("yunet", "square-width"), ("yunet", "upright"), ("yunet", "upright-width")}
    assert all(r["accuracy"] == 1.0 and r["reference_accuracy"] == 1.0 for r in rows if r["detected"])
    assert max(r["detected"] for r in rows if r["detector"] == "yunet") >= 8
    assert best_framing(rows)["accuracy"] == 1.0
