"""deepfer.analysis.track: stable face ids across frames, and per-face probability smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from deepfer.analysis.temporal import RAW, TemporalFilter, TemporalSettings
from deepfer.analysis.track import FaceTracker
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


def _tracked(p, tid=0):
    return faces((0, 0, 10, 10), probs=np.asarray(p, np.float32).reshape(1, 7)).with_track_ids(np.array([tid]))


def test_temporal_filter_smooths_in_seconds_not_frames():
    """The same step in probability, seen at 10 and at 50 frames/s, is smoothed the same way over time."""
    calm, happy = np.eye(7)[4], np.eye(7)[3]
    settings = TemporalSettings(smooth_s=0.5, hold_s=0.0)
    after = {}
    for fps in (10, 50):
        tf = TemporalFilter(settings)
        tf.update(_tracked(calm), 0.0)
        for k in range(1, fps + 1):  # one second of "happy"
            out = tf.update(_tracked(happy), k / fps)
        after[fps] = float(out.smoothed[0, 3])
    assert after[10] == pytest.approx(1 - np.exp(-2.0), abs=1e-5) and after[50] == pytest.approx(after[10], abs=1e-5)


def test_hysteresis_needs_a_lead_of_hold_seconds():
    tf = TemporalFilter(TemporalSettings(smooth_s=0.0, hold_s=1.0))
    neutral, happy = np.eye(7)[4], np.eye(7)[3]
    assert tf.update(_tracked(neutral), 0.0).labels == ["neutral"]
    for t in (0.1, 0.5, 0.9):  # a lead of 0.9 s is not enough
        out = tf.update(_tracked(happy), t)
        assert out.labels == ["neutral"] and out.raw_label_ids.tolist() == [3]
    assert tf.update(_tracked(neutral), 1.0).labels == ["neutral"]  # the lead is broken: it starts again
    labels = [tf.update(_tracked(happy), t).labels[0] for t in (1.1, 1.6, 2.05, 2.1)]
    assert labels == ["neutral", "neutral", "neutral", "happy"]  # happy from 1.1 s, shown after 1.0 s of lead
    out = tf.update(_tracked(happy), 2.2)
    assert out.confidences[0] == pytest.approx(1.0)


def test_temporal_filter_faces_apart_gaps_and_raw():
    p = np.random.default_rng(0).dirichlet(np.ones(7), size=2).astype(np.float32)
    untracked = faces((0, 0, 10, 10), (50, 0, 10, 10), probs=p)
    out = TemporalFilter().update(untracked, 0.0)  # no track ids: each frame on its own
    assert np.array_equal(out.smoothed, p) and out.label_ids.tolist() == p.argmax(1).tolist()
    tf = TemporalFilter(TemporalSettings(smooth_s=1.0, hold_s=0.0, gap_s=2.0))
    tf.update(_tracked(np.eye(7)[0], tid=0), 0.0)
    tf.update(_tracked(np.eye(7)[1], tid=1), 0.0)
    assert tf.update(_tracked(np.eye(7)[2], tid=0), 0.5).smoothed[0, 0] > 0.5  # face 0's own history
    assert tf.update(_tracked(np.eye(7)[2], tid=0), 5.0).smoothed[0].tolist() == np.eye(7)[2].tolist()  # after a gap: afresh
    raw = TemporalFilter(RAW)
    raw.update(_tracked(np.eye(7)[0]), 0.0)
    assert raw.update(_tracked(np.eye(7)[5]), 0.04).labels == ["sad"]
    with pytest.raises(ValueError):
        TemporalSettings(smooth_s=-1)
    with pytest.raises(ValueError):
        tf.update(faces((0, 0, 10, 10)), 6.0)
