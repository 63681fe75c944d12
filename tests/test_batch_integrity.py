"""Issue 13: a batch run can never mix up results, drop an input without a word, or read its own outputs.

Each test reproduces one of the issue's numbered cases (they failed before the run manifest)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from batch.engines.local import run_batch
from deepfer.analysis.video import read_frames, write_frames
from deepfer.outputs.layout import video_outputs
from deepfer.outputs.sinks import read_rows
from deepfer.outputs.video import CHECKPOINT_FRAMES, checkpoint_path

pytestmark = pytest.mark.shared

REPO = Path(__file__).resolve().parent.parent


def _write_video(dst: Path, src: Path, frames: int | None = None, flip: bool = False, repeat: int = 1) -> Path:
    """A new video from ``src``: its first ``frames`` frames, mirrored when ``flip``, ``repeat`` times over."""
    got, fps = read_frames(src, frames)
    return write_frames(dst, [cv2.flip(f, 1) if flip else f for f in got] * repeat, fps)


def _summary(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _outputs(out: Path) -> dict[str, object]:
    """Every output file's bytes (summaries without their timing field and manifest without times)."""
    got: dict[str, object] = {}
    for p in sorted(out.iterdir()):
        if p.name.endswith(".summary.json"):
            s = _summary(p)
            s.pop("analysis_fps", None)
            got[p.name] = s
        elif p.name not in ("manifest.json", ".deepfer-run.lock"):
            got[p.name] = p.read_bytes()
    return got


def test_resume_never_reuses_another_inputs_results(media, pipeline, tmp_path):
    """Case 1: in/y/a.mp4 analyzed, then in/x/a.mp4 added (sorts first): x's video is analyzed, y keeps its names."""
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "y").mkdir(parents=True)
    _write_video(src / "y" / "a.mp4", media / "street_phone.mp4", frames=40)
    run_batch([src], out, pipeline=pipeline, progress=False)
    first = (out / "a.csv").read_bytes()

    (src / "x").mkdir()
    _write_video(src / "x" / "a.mp4", media / "street_phone.mp4", frames=30, flip=True)
    report = run_batch([src], out, pipeline=pipeline, progress=False, resume=True)
    assert report.skipped == [str(src / "y" / "a.mp4")] and report.videos_analyzed == 1
    assert (out / "a.csv").read_bytes() == first  # y keeps its stem and its results
    assert _summary(out / "a.summary.json")["source"] == str((src / "y" / "a.mp4").resolve())
    assert _summary(out / "a_2.summary.json")["source"] == str((src / "x" / "a.mp4").resolve())
    assert len(read_rows(out / "a_2.csv")) >= 30 and (out / "a_2.csv").read_bytes() != first
    manifest = _summary(out / "manifest.json")
    assert {k: v["source"]["path"] for k, v in manifest["videos"].items()} == {
        "a": str((src / "y" / "a.mp4").resolve()), "a_2": str((src / "x" / "a.mp4").resolve())}

    # a source whose content changed is redone under its own stem; a changed option redoes everything
    _write_video(src / "y" / "a.mp4", media / "street_phone.mp4", frames=20)
    report = run_batch([src], out, pipeline=pipeline, progress=False, resume=True)
    assert report.skipped == [str(src / "x" / "a.mp4")] and report.videos_analyzed == 1
    assert _summary(out / "a.summary.json")["frames"] == 20
    report = run_batch([src], out, pipeline=pipeline, progress=False, resume=True, stride=2)
    assert report.skipped == [] and report.videos_analyzed == 2


def test_resume_redoes_images_whose_file_or_model_changed(media, pipeline, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    shutil.copy(media / "justin.jpg", src / "p.jpg")
    shutil.copy(media / "no-faces.jpg", src / "q.jpg")
    run_batch([src], out, pipeline=pipeline, progress=False)
    shutil.copy(media / "test_image.jpg", src / "p.jpg")  # same name, another photo
    report = run_batch([src], out, pipeline=pipeline, progress=False, resume=True)
    assert report.skipped == [str(src / "q.jpg")] and report.images == 1
    rows = read_rows(out / "images.csv")
    assert sum(r["path"] == str(src / "p.jpg") for r in rows) == 6  # the group photo's faces, not justin's one
    report = run_batch([src], out, pipeline=pipeline.with_detector("haar"), progress=False, resume=True)
    assert report.skipped == [] and report.images == 2  # another detector: nothing is reused


def test_output_names_never_collide_with_run_files(media, pipeline, tmp_path):
    """Case 3: videos named errors.tmp.mp4, images.tmp.mp4, a.tmp.mp4 beside a.mp4, manifest.mp4."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name in ("errors.tmp.mp4", "images.tmp.mp4", "a.mp4", "a.tmp.mp4", "manifest.mp4", "Errors.mp4"):
        _write_video(src / name, media / "street_phone.mp4", frames=12)
    shutil.copy(media / "justin.jpg", src / "justin.jpg")
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    report = run_batch([src], out, pipeline=pipeline, progress=False)
    assert [p for p, _ in report.errors] == [str(src / "broken.jpg")]
    assert [r["path"] for r in read_rows(out / "errors.csv")] == [str(src / "broken.jpg")]
    stems = sorted(v.stem for v in report.videos.values())
    assert stems == ["Errors_2", "a", "a.tmp_2", "errors.tmp_2", "images.tmp_2", "manifest_2"]
    assert read_rows(out / "images.csv")[0]["path"] == str(src / "justin.jpg")
    report = run_batch([src], out, pipeline=pipeline, progress=False, resume=True)  # crashed with KeyError: 'path'
    assert len(report.skipped) == 7 and report.videos_analyzed == 0


def test_nothing_is_skipped_without_a_word(media, pipeline, tmp_path, monkeypatch):
    """Case 5: an unlistable folder, broken and looping links, a GIF and a text file are all accounted for."""
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "locked").mkdir(parents=True)
    shutil.copy(media / "justin.jpg", src / "locked" / "hidden_face.jpg")
    shutil.copy(media / "justin.jpg", src / "justin.jpg")
    from PIL import Image

    Image.open(media / "justin.jpg").save(src / "anim.gif")
    (src / "notes.txt").write_text("interview notes")
    (src / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    (src / "loop.jpg").symlink_to(src / "loop.jpg")
    if os.geteuid() == 0:  # root lists any folder: make this one fail as it does for a user
        real_scandir = os.scandir

        def scandir(path):
            if Path(path) == src / "locked":
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr("batch.inputs.os.scandir", scandir)
    os.chmod(src / "locked", 0)
    try:
        report = run_batch([src], out, pipeline=pipeline, progress=False)
    finally:
        os.chmod(src / "locked", 0o755)
    errors = dict(report.errors)
    assert "broken symbolic link" in errors[str(src / "dangling.jpg")]
    assert "symbolic link loop" in errors[str(src / "loop.jpg")]
    assert "cannot list this folder: permission denied" in errors[str(src / "locked")]
    assert len(read_rows(out / "errors.csv")) == 3
    assert report.images == 2  # justin.jpg and anim.gif (its first frame)
    assert read_rows(out / "skipped.csv") == [{"path": str(src / "notes.txt"), "reason": "not an image or video file (.txt)"}]
    assert "not media" in report.summary_line()


def test_output_folder_inside_or_equal_to_the_input_is_never_an_input(media, pipeline, tmp_path):
    """Case 6: --out equal to the input folder with --annotate: each rerun analyzes the one video only."""
    src = tmp_path / "in"
    src.mkdir()
    _write_video(src / "clip.mp4", media / "street_phone.mp4", frames=20)
    shutil.copy(media / "justin.jpg", src / "justin.jpg")
    for _ in range(3):
        report = run_batch([src], src, pipeline=pipeline, progress=False, annotate=True)
        assert report.videos_analyzed == 1 and report.images == 1 and report.inputs == 2, report.summary_line()
    assert sorted(p.name for p in src.iterdir()) == [
        "clip.annotated.mp4", "clip.csv", "clip.mp4", "clip.summary.json", "errors.csv", "images.csv", "justin.jpg", "manifest.json"]


def _batch(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "batch", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_killed_long_video_resumes_from_its_last_checkpoint(media, pipeline, tmp_path):
    """Case 4: a long video killed twice mid-way resumes from its last checkpoint each time (rework
    bounded by one checkpoint interval), and ends byte-identical to an uninterrupted run."""
    src = tmp_path / "in"
    src.mkdir()
    video = _write_video(src / "long.mp4", media / "street_phone.mp4", repeat=8)  # 920 frames
    args = ["--annotate", "--no-progress", "-v"]
    reference = tmp_path / "reference"
    run_batch([video], reference, pipeline=pipeline, progress=False, annotate=True)

    out = tmp_path / "out"
    ckpt = checkpoint_path(video_outputs(out, "long"))
    reworked = []
    for kill in (1, 2):
        proc = _batch([str(video), "--out", str(out), *args, *(["--resume"] if kill > 1 else [])])
        deadline = time.monotonic() + 180
        need = kill * CHECKPOINT_FRAMES
        try:
            while not (ckpt.is_file() and json.loads(ckpt.read_text(encoding="utf-8") or "{}").get("next_index", 0) >= need):
                assert proc.poll() is None, f"batch ended before it could be interrupted: {proc.communicate()}"
                assert time.monotonic() < deadline, "no checkpoint in time"
                time.sleep(0.02)
            time.sleep(0.3)  # a few more chunks are analyzed, then lost
            rows = read_rows(out / "long.tmp.csv")
            proc.send_signal(signal.SIGKILL)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        analyzed_until = int(rows[-1]["frame"]) + 1
        state = json.loads(ckpt.read_text(encoding="utf-8"))
        reworked.append(analyzed_until - state["next_index"])
        assert 0 <= reworked[-1] <= CHECKPOINT_FRAMES + 32, reworked
        if kill > 1:
            assert f"resuming at frame {(kill - 1) * CHECKPOINT_FRAMES}" in stderr or re.search(r"resuming at frame \d+", stderr), stderr[-2000:]
    proc = _batch([str(video), "--out", str(out), *args, "--resume"])
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    assert re.search(r"resuming at frame [1-9]\d*", stderr), stderr[-2000:]
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]
    got, want = _outputs(out), _outputs(reference)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == want[name], f"{name} differs from the uninterrupted run"
    print(f"frames analyzed again after each kill: {reworked}")


def test_a_second_run_into_the_same_folder_stops_at_once(media, pipeline, tmp_path):
    from batch.errors import BatchError
    from batch.manifest import FolderLock

    out = tmp_path / "out"
    out.mkdir()
    held = FolderLock(out).acquire()  # another run holds the folder
    try:
        with pytest.raises(BatchError, match=r"another batch run \(pid \d+\) is writing to"):
            run_batch([media / "justin.jpg"], out, pipeline=pipeline, progress=False)
    finally:
        held.release()
    report = run_batch([media / "justin.jpg"], out, pipeline=pipeline, progress=False)
    assert report.images == 1
    assert run_batch([media / "justin.jpg"], out, pipeline=pipeline, progress=False).images == 1  # released after a run
    assert not (out / ".deepfer-run.lock").exists()
    (out / ".deepfer-run.lock").write_text("12345")  # left by a run that crashed: holds no lock
    assert run_batch([media / "justin.jpg"], out, pipeline=pipeline, progress=False).images == 1
