from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deepfer.apps.cli import main
from deepfer.labels import EMOTIONS

from .conftest import REPO, make_split


@pytest.mark.parametrize("cmd", ["train", "evaluate", "cache", "bench", "framing"])
def test_every_command_explains_itself(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    assert "usage: python -m deepfer " + cmd in capsys.readouterr().out


def test_module_entry_point_help():
    r = subprocess.run([sys.executable, "-m", "deepfer", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "train" in r.stdout and "evaluate" in r.stdout


def test_evaluate_writes_a_report(tmp_path, capsys):
    split = make_split(tmp_path / "val", per_class=2)
    out = tmp_path / "r.json"
    assert main(["evaluate", "--data", str(split), "--tta", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["n"] == 14 and rep["labels"] == list(EMOTIONS) and rep["tta_flip"] is True
    assert "macro-F1" in capsys.readouterr().out


def test_bad_data_gives_a_clear_error_and_exit_code(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path / "missing")]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
