"""A bounded fuzz run (benchmarks/fuzz_batch.py): mutated images and videos through ``python -m batch``
under a hard memory ceiling; every input ends in exactly one place, nothing crashes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.shared

REPO = Path(__file__).resolve().parent.parent


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("fuzz_batch", REPO / "benchmarks" / "fuzz_batch.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_mutated_inputs_are_all_accounted_for_under_a_memory_ceiling(media, tmp_path):
    fuzz = _fuzz_module()
    corpus = fuzz.make_corpus(media, tmp_path / "inputs", images=210, videos=21, seed=1)
    assert any("bomb" in p.name for p in corpus.inputs) and any(p.suffix == ".mp4" for p in corpus.inputs)
    r = fuzz.run_fuzz(corpus, tmp_path / "out", ceiling_mb=1536)
    assert r.exit_code == 1, r  # some inputs are broken: exit 1, not a crash (a killed child gives < 0)
    assert not r.traceback
    assert r.lost == [] and r.duplicated == []
    assert r.analyzed + r.errors == r.inputs == 231
    assert r.analyzed >= 30 and r.errors >= 100  # intact copies are analyzed, garbage is refused
    assert r.peak_mb < 1536
