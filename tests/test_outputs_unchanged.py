"""The batch outputs on the shared media against those frozen before the one-analysis-core refactor
(``tests/golden/batch_media``; see ``tests/golden/scenarios.py``).

Both run with ``--detector haar``, the default detector when they were frozen.  What a frame's
analysis gives must not change: the same rows, frames, boxes, face ids, detector scores and per-frame
probabilities (byte for byte on the Keras runtime; within a few hundredths on the int8 serving model),
the same per-frame argmax (now ``raw_emotion`` in video CSVs), the same failures and sorted copies.
What was changed on purpose since the freeze is left out and tested on its own: the emotion decided
over time (``emotion``/``confidence``, ``smooth_*``, summary segments: tests/test_track.py,
tests/test_batch_golden.py), presentation timestamps (the clip's frames are 40 ms apart in the
container, which declares 24.70 fps: frame / fps drifted to 55 ms by its end; tests/test_timestamps.py), the annotated video's drawing (its frame count is compared), image face
numbers, and the run files added later (manifest.json, skipped.csv).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from deepfer.labels import EMOTIONS
from tests.golden.scenarios import GOLDEN, SCENARIOS, normalized, read_golden, run

pytestmark = pytest.mark.shared

#: Per-frame columns that must not change (``emotion`` of a frozen video CSV is compared with ``raw_emotion``).
FRAME_COLUMNS = ["frame", "face_id", "x", "y", "w", "h", "det_score"]
IMAGE_COLUMNS = ["path", "x", "y", "w", "h", "det_score"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("golden")


@pytest.fixture(scope="module")
def work_int8(tmp_path_factory):
    return tmp_path_factory.mktemp("golden_int8")


def _compare(expected: dict[str, str], got: dict[str, str], exact: bool) -> None:
    assert sorted(got) == sorted(expected), "the set of output files changed"
    tol = 0.0 if exact else 0.15
    for key in expected:
        if key.endswith(".csv") and "errors" not in key:
            a, b = pd.read_csv(io.StringIO(expected[key])), pd.read_csv(io.StringIO(got[key]))
            assert len(a) == len(b), key
            image = "images" in key
            same = IMAGE_COLUMNS if image else FRAME_COLUMNS
            pd.testing.assert_frame_equal(a[same], b[same], obj=key)  # paths, frames, boxes, face ids
            probs = list(EMOTIONS)
            assert np.nanmax(np.abs(a[probs].to_numpy() - b[probs].to_numpy())) <= tol, key
            label = "emotion" if image else "raw_emotion"
            agree = (a["emotion"].fillna("") == b[label].fillna("")).mean()
            assert agree >= (1.0 if exact or image else 0.95), f"{key}: per-frame labels agree on {agree:.1%} of rows"
            if not image:
                ta, tb = (d.drop_duplicates("frame")["timestamp_s"].to_numpy() for d in (a, b))
                # presentation times now (40 ms apart in this clip) against frame / 24.70 (its declared fps) then
                assert np.abs(ta - tb).max() < 0.06, f"{key}: timestamps"
        elif key.endswith(".json"):
            ja, jb = json.loads(expected[key]), json.loads(got[key])
            for field in ("frames", "fps", "duration_s", "frames_analyzed", "frames_with_face", "face_rows", "faces_tracked", "model", "stride"):
                assert ja[field] == jb[field], f"{key}: {field}"
            if exact and "smooth" not in json.dumps(ja.get("smooth", 0)) and not ja.get("smooth"):
                for fid, block in ja["faces"].items():  # frozen without smoothing: its shares were the per-frame ones
                    assert jb["faces"][fid]["share_raw"] == block["share"], f"{key}: face {fid} per-frame shares"
        elif key.endswith(".mp4"):
            assert got[key].split(":")[1] == expected[key].split(":")[1], f"{key}: frame count"
        else:  # errors.csv, --sort-into copies
            assert got[key] == expected[key], key


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_keras_outputs_match_the_frozen_ones(media, work, name):
    code, _ = run(media, work, name, extra=("--runtime", "keras", "--detector", "haar"))
    assert code == int((GOLDEN / name / "exit_code").read_text())
    _compare(read_golden(name), normalized(work, name), exact=True)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_int8_outputs_keep_rows_boxes_and_labels(media, work_int8, name):
    code, _ = run(media, work_int8, name, extra=("--detector", "haar"))
    assert code == int((GOLDEN / name / "exit_code").read_text())
    _compare(read_golden(name), normalized(work_int8, name), exact=False)
