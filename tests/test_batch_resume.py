"""Kill a running ``python -m batch`` mid-way, ``--resume`` it, and get what an uninterrupted run gives."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch.engines.local import run_batch

pytestmark = [pytest.mark.shared, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent


def _batch(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "batch", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outputs(out: Path) -> dict[str, object]:
    """Every output file's content; summaries without their timing field (not the lock file: it holds a pid)."""
    got: dict[str, object] = {}
    for p in sorted(out.iterdir()):
        if p.name == ".deepfer-run.lock":
            continue
        if p.suffix == ".json":
            s = json.loads(p.read_text(encoding="utf-8"))
            s.pop("analysis_fps", None)
            got[p.name] = s
        else:
            got[p.name] = p.read_text(encoding="utf-8").splitlines()
    return got


def test_kill_and_resume_matches_an_uninterrupted_run(media, pipeline, tmp_path):
    src = tmp_path / "inputs"
    src.mkdir()
    for name in ("clip_a", "clip_b", "clip_c"):
        shutil.copy(media / "street_phone.mp4", src / f"{name}.mp4")
    shutil.copy(media / "justin.jpg", src / "justin.jpg")
    shutil.copy(media / "no-faces.jpg", src / "no-faces.jpg")
    args = ["--smooth-s", "0.5", "--no-progress"]

    reference = tmp_path / "reference"
    run_batch([src], reference, smooth_s=0.5, pipeline=pipeline, progress=False)

    out = tmp_path / "out"
    proc = _batch([str(src), "--out", str(out), *args])
    partial = out / "clip_b.tmp.csv"
    deadline = time.monotonic() + 120
    try:
        # kill while clip_b is half written (clip_a and the images are finished by then)
        while not (partial.is_file() and partial.read_text(encoding="utf-8").count("\n") > 5):
            assert proc.poll() is None, f"batch ended before it could be interrupted: {proc.communicate()}"
            assert time.monotonic() < deadline, "batch did not reach clip_b in time"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert (out / "clip_a.csv").is_file() and (out / "clip_a.summary.json").is_file()
    assert not (out / "clip_c.summary.json").exists()  # the run really was cut short
    done_a = (out / "clip_a.csv").stat().st_mtime_ns

    proc = _batch([str(src), "--out", str(out), *args, "--resume"])
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr[-2000:]
    assert "already done" in stdout
    assert (out / "clip_a.csv").stat().st_mtime_ns == done_a  # finished work is not redone
    assert not list(out.glob("*.tmp*"))
    assert _outputs(out) == _outputs(reference)
