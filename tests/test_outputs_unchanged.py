"""The batch outputs on the shared media are byte-identical to those of the code before the
one-analysis-core refactor (frozen in ``tests/golden/batch_media``; see ``tests/golden/scenarios.py``)."""

from __future__ import annotations

import pytest

from tests.golden.scenarios import GOLDEN, SCENARIOS, normalized, read_golden, run

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("golden")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_batch_outputs_match_the_frozen_ones(media, work, name):
    code, _ = run(media, work, name)
    expected = read_golden(name)
    got = normalized(work, name)
    assert code == int((GOLDEN / name / "exit_code").read_text())
    assert sorted(got) == sorted(expected), "the set of output files changed"
    for key in expected:
        assert got[key] == expected[key], f"{name}: {key} differs from the frozen output"
