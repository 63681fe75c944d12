"""The batch outputs on the shared media against those frozen before the one-analysis-core refactor
(``tests/golden/batch_media``; see ``tests/golden/scenarios.py``).

Both run with ``--detector haar``, the default detector when they were frozen.  On the Keras runtime
they are byte-identical: the analysis core did not change a number.  On the default
runtime (the int8 OpenVINO serving model) the same files hold the same rows, boxes and face ids; the
probabilities move by a few hundredths and a label may change where two emotions were nearly tied.
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


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("golden")


@pytest.fixture(scope="module")
def work_int8(tmp_path_factory):
    return tmp_path_factory.mktemp("golden_int8")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_keras_outputs_match_the_frozen_ones(media, work, name):
    code, _ = run(media, work, name, extra=("--runtime", "keras", "--detector", "haar"))
    expected = read_golden(name)
    got = normalized(work, name)
    assert code == int((GOLDEN / name / "exit_code").read_text())
    assert sorted(got) == sorted(expected), "the set of output files changed"
    for key in expected:
        assert got[key] == expected[key], f"{name}: {key} differs from the frozen output"


def _prob_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c in EMOTIONS or c.startswith("smooth_")]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_int8_outputs_keep_rows_boxes_and_labels(media, work_int8, name):
    code, _ = run(media, work_int8, name, extra=("--detector", "haar"))
    expected = read_golden(name)
    got = normalized(work_int8, name)
    assert code == int((GOLDEN / name / "exit_code").read_text())
    assert sorted(got) == sorted(expected), "the set of output files changed"
    for key in expected:
        if key.endswith(".csv") and "errors" not in key:
            a, b = pd.read_csv(io.StringIO(expected[key])), pd.read_csv(io.StringIO(got[key]))
            assert list(a.columns) == list(b.columns) and len(a) == len(b), key
            probs = _prob_columns(a)
            same = [c for c in a.columns if c not in probs + ["emotion", "confidence"]]
            pd.testing.assert_frame_equal(a[same], b[same], obj=key)  # paths, frames, times, boxes, face ids
            assert np.nanmax(np.abs(a[probs].to_numpy() - b[probs].to_numpy())) < 0.15, key
            agree = (a["emotion"].fillna("") == b["emotion"].fillna("")).mean()
            assert agree >= (1.0 if "images" in key else 0.95), f"{key}: labels agree on {agree:.1%} of rows"
        elif key.endswith(".json"):
            ja, jb = json.loads(expected[key]), json.loads(got[key])
            assert set(ja) == set(jb), key
            for field in ("frames", "fps", "duration_s", "frames_analyzed", "frames_with_face", "face_rows", "faces_tracked", "model"):
                if field in ja:
                    assert ja[field] == jb[field], f"{key}: {field}"
        elif key.endswith("errors.csv") or key.startswith("sorted/"):
            assert got[key] == expected[key], key  # the same failures; the same photos sorted the same way
