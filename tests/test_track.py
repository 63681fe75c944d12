"""deepfer.analysis.track: stable face ids across frames, and per-face probability smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from deepfer.analysis.track import FaceTracker, ProbabilitySmoother
from deepfer.faces import Faces


def faces(*boxes, probs=None):
    b = np.asarray(boxes, np.int32).reshape(-1, 4)
    return Faces(b, np.ones(len(b), np.float32), probs)


def test_two_moving_faces_keep_their_ids():
    tr = FaceTracker()
    ids = []
    for t in range(20):
        a = (10 + 3 * t, 10, 50, 50)
        b = (300 - 3 * t, 200, 60, 60)
        order = (a, b) if t % 2 else (b, a)  # detector order must not matter
        out = tr.update(faces(*order))
        ids.append(dict(zip((tuple(map(int, x)) for x in out.boxes), out.track_ids.tolist()))[a])
    assert len(set(ids)) == 1
    assert sorted(tr.active_ids) == [0, 1]


def test_new_face_gets_new_id_and_lost_track_expires():
    tr = FaceTracker(max_missed=2)
    assert tr.update(faces((0, 0, 40, 40))).track_ids.tolist() == [0]
    assert tr.update(faces((0, 0, 40, 40), (200, 0, 40, 40))).track_ids.tolist() == [0, 1]
    for _ in range(2):  # face 1 missing for max_missed frames: still remembered
        tr.update(faces((0, 0, 40, 40)))
    assert tr.update(faces((0, 0, 40, 40), (202, 0, 40, 40))).track_ids.tolist() == [0, 1]
    for _ in range(3):  # missing longer: forgotten, a new id when it comes back
        tr.update(faces((0, 0, 40, 40)))
    assert tr.update(faces((0, 0, 40, 40), (200, 0, 40, 40))).track_ids.tolist() == [0, 2]


def test_centroid_fallback_for_fast_motion_and_empty_frames():
    tr = FaceTracker()
    tr.update(faces((100, 100, 50, 50)))
    assert len(tr.update(Faces.empty())) == 0
    out = tr.update(faces((125, 100, 50, 50)))  # IoU 0.33 -> still IoU; next one moves further
    assert out.track_ids.tolist() == [0]
    out = tr.update(faces((150, 105, 50, 50)))  # IoU ~0.27 < 0.3: centroid fallback keeps the id
    assert out.track_ids.tolist() == [0]
    out = tr.update(faces((400, 400, 50, 50)))  # far away: someone else
    assert out.track_ids.tolist() == [1]
    tr.reset()
    assert tr.update(faces((0, 0, 10, 10))).track_ids.tolist() == [0]


def test_smoother_averages_per_track():
    p1 = np.eye(7, dtype=np.float32)[[3]]
    p2 = np.eye(7, dtype=np.float32)[[5]]
    sm = ProbabilitySmoother(2)
    f = lambda p, tid: faces((0, 0, 10, 10), probs=p).with_track_ids(np.array([tid]))  # noqa: E731
    assert np.allclose(sm.update(f(p1, 0)), p1)
    out = sm.update(f(p2, 0))
    assert out[0, 3] == pytest.approx(0.5) and out[0, 5] == pytest.approx(0.5)
    assert np.allclose(sm.update(f(p2, 1)), p2)  # another face has its own history
    out = sm.update(f(p2, 0))  # window of 2: the first frame has left
    assert np.allclose(out, p2)
    assert np.allclose(out.sum(axis=1), 1.0)


def test_smoother_k1_and_untracked_are_unchanged():
    p = np.random.default_rng(0).dirichlet(np.ones(7), size=2).astype(np.float32)
    fs = faces((0, 0, 10, 10), (50, 0, 10, 10), probs=p)
    assert np.array_equal(ProbabilitySmoother(1).update(fs), p)
    sm = ProbabilitySmoother(5)
    sm.update(fs)
    assert np.allclose(sm.update(fs.with_probs(p[::-1])), p[::-1])  # track ids -1: no history
    with pytest.raises(ValueError):
        sm.update(faces((0, 0, 10, 10)))
