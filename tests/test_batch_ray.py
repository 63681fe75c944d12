"""``--engine ray``: the same outputs as the local engine on ../shared/media, a killed worker, a missing Ray.

One private local Ray (2 CPUs, loopback, no dashboard) serves the whole module; each run starts
its own model-holding workers in it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from batch.cli import main

MEDIA_FILES = ("justin.jpg", "test_image.jpg", "no-faces.jpg", "street_phone.mp4")


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
    from batch.engines.ray import _start_ray

    assert _start_ray(ray, None, 2), "a Ray instance was already running in the test process"
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(media, tmp_path_factory) -> Path:
    """The shared media, a second copy of the video, a broken video and a text file."""
    root = tmp_path_factory.mktemp("ray_inputs")
    for name in MEDIA_FILES:
        shutil.copyfile(media / name, root / name)
    shutil.copyfile(media / "street_phone.mp4", root / "street_copy.mp4")
    (root / "broken.mp4").write_bytes(b"not a video at all")
    (root / "notes.txt").write_text("not media\n", encoding="utf-8")
    return root


def _inputs(root: Path) -> list[str]:
    return [str(root), str(root / "notes.txt")]  # the folder skips .txt; named explicitly it is an error


def _local_cli(inputs: list, out: Path, *options: str):
    """``python -m batch`` (local engine) with the Ray workers' thread settings; see :func:`local_out`."""
    import subprocess

    from batch.engines.ray import worker_env

    env = {**os.environ, **worker_env(1)}
    return subprocess.run([sys.executable, "-m", "batch", *map(str, inputs), "--out", str(out), "--no-progress", *options], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def local_out(inputs, tmp_path_factory) -> Path:
    """The local engine's outputs, computed with the workers' thread settings (one compute thread).

    The classifier's floats depend on how many threads split its sums (oneDNN: up to 4e-7 between 1 and
    2 threads on this CPU, enough to change a 6th decimal now and then), so "the same rows" holds for the
    same thread count; the Ray workers use one thread each.
    """
    out = tmp_path_factory.mktemp("local_out")
    proc = _local_cli(_inputs(inputs), out)
    assert proc.returncode == 1, proc.stderr[-2000:]  # broken.mp4 and notes.txt
    return out


def assert_same_outputs(expected: Path, got: Path) -> None:
    """Every file of the local run, with the same bytes (summary JSON: all keys but the timing ``analysis_fps``)."""
    names = sorted(p.name for p in expected.iterdir())
    assert sorted(p.name for p in got.iterdir()) == names
    for name in names:
        a, b = expected / name, got / name
        if name.endswith(".summary.json"):
            ja, jb = (json.loads(p.read_text(encoding="utf-8")) for p in (a, b))
            assert ja.pop("analysis_fps") and jb.pop("analysis_fps")
            assert ja == jb, name
        else:
            assert a.read_bytes() == b.read_bytes(), name  # CSVs, and annotated videos (same frames, same encoder)


@pytest.mark.shared
def test_ray_cli_outputs_equal_local_then_resume(ray_local, inputs, local_out, tmp_path, capsys):
    out = tmp_path / "ray"
    rc = main([*_inputs(inputs), "--out", str(out), "--engine", "ray", "--workers", "2", "--no-progress"])
    assert rc == 1, "broken.mp4 and notes.txt are failed inputs"
    assert "2 FAILED" in capsys.readouterr().out
    assert_same_outputs(local_out, out)
    errors = (out / "errors.csv").read_text(encoding="utf-8")
    assert "broken.mp4" in errors and "notes.txt" in errors

    # an interrupted run: one video's outputs missing, a partial tmp left, images.csv unfinished
    from batch.engines.ray import run_batch_ray

    (out / "street_copy.csv").rename(out / "street_copy.tmp.csv")
    (out / "street_copy.summary.json").unlink()
    images = (out / "images.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "images.tmp.csv").write_text("".join(images[:3]), encoding="utf-8")
    (out / "images.csv").unlink()
    report = run_batch_ray(_inputs(inputs), out, resume=True, workers=2, progress=False)
    assert str(inputs / "street_phone.mp4") in report.skipped and str(inputs / "street_copy.mp4") not in report.skipped
    # redone by the workers: the partial video, the failed one, and the images after the cut in images.tmp.csv
    redone = set(report.worker_pids)
    assert {str(inputs / "street_copy.mp4"), str(inputs / "broken.mp4")} <= redone
    assert 0 < len(redone - {str(inputs / "street_copy.mp4"), str(inputs / "broken.mp4")}) < 3
    assert not redone & set(report.skipped)
    assert_same_outputs(local_out, out)


@pytest.mark.shared
def test_killed_worker_costs_a_retry_of_its_video_only(ray_local, inputs, local_out, tmp_path):
    from batch.engines.ray import run_batch_ray

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copyfile(inputs / "street_phone.mp4", videos / name)
    out = tmp_path / "out"
    killed: dict = {}

    def kill_when_both_mid_video(pids: list[int]) -> None:
        def watch() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    lines = [(out / f"{stem}.tmp.csv").read_text(encoding="utf-8").count("\n") for stem in ("a", "b")]
                except FileNotFoundError:  # not started yet, or renamed into place meanwhile
                    lines = []
                # both workers have written rows of their video (16 frames at a time), neither is near its end (115 frames)
                if len(lines) == 2 and all(2 < n <= 100 for n in lines):
                    os.kill(pids[0], signal.SIGKILL)
                    killed["pid"] = pids[0]
                    return
                time.sleep(0.005)

        threading.Thread(target=watch, daemon=True).start()

    report = run_batch_ray([videos], out, workers=2, progress=False, on_ready=kill_when_both_mid_video)
    assert killed, "the test never saw both videos in progress, so nothing was killed"
    assert report.ok, report.errors
    pids = set(report.worker_pids.values())
    assert killed["pid"] not in pids and len(pids) == 2, "one video must have been redone by the restarted worker"
    assert not list(out.glob("*.tmp*"))
    expected = (local_out / "street_phone.csv").read_text(encoding="utf-8")
    for stem in ("a", "b"):
        assert (out / f"{stem}.csv").read_text(encoding="utf-8") == expected, f"{stem}.csv: rows lost or duplicated"
        s = json.loads((out / f"{stem}.summary.json").read_text(encoding="utf-8"))
        assert s["frames_analyzed"] == 115


def test_missing_ray_is_a_clear_message(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    (tmp_path / "clip.mp4").write_bytes(b"")
    rc = main([str(tmp_path / "clip.mp4"), "--out", str(tmp_path / "out"), "--engine", "ray"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Ray" in err and "pip install -r requirements-ray.txt" in err and "Traceback" not in err


def test_ray_options_need_engine_ray(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path), "--out", str(tmp_path / "out"), "--workers", "2"])
    assert exc.value.code == 2
    assert "need --engine ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--engine {local,ray}" in capsys.readouterr().out


def test_unreachable_cluster_fails_fast_with_a_message(tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
    port = _free_port()  # nobody listens there
    (tmp_path / "a.jpg").write_bytes(b"")
    t0 = time.monotonic()
    rc = main([str(tmp_path / "a.jpg"), "--out", str(tmp_path / "out"), "--engine", "ray", "--address", f"127.0.0.1:{port}"])
    assert rc == 2 and time.monotonic() - t0 < 30
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in capsys.readouterr().err


def test_videos_are_handed_out_biggest_first(tmp_path):
    from batch.engines.ray import largest_first
    from batch.inputs import InputItem

    sizes = {"short.mp4": 10, "long.mp4": 1000, "medium.mp4": 100, "same.mp4": 100}
    items = []
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
        items.append(InputItem(tmp_path / name, "video"))
    items.append(InputItem(tmp_path / "gone.mp4", "video"))  # vanished since it was listed: last, reported by its worker
    assert [items[i].path.name for i in largest_first(items)] == ["long.mp4", "medium.mp4", "same.mp4", "short.mp4", "gone.mp4"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.shared
def test_cli_against_a_ray_head_started_like_a_real_cluster(ray_local, inputs, local_out, tmp_path):
    """`ray start --head` (loopback, in its own process group), then `python -m batch ... --address`, as README says.

    While that head runs, a run without --address must still start its own private Ray: plain
    ``ray.init()`` would join the head that `ray start` registered on this machine.
    """
    import socket
    import subprocess

    ray_cli = Path(sys.executable).with_name("ray")
    port = _free_port()
    head_log = tmp_path / "head.log"
    with head_log.open("wb") as log_file:
        head = subprocess.Popen([str(ray_cli), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
                                 "--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--disable-usage-stats"],
                                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert head.poll() is None, f"ray start --head exited: {head_log.read_text(errors='replace')[-2000:]}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not open its port within 120 s"
                time.sleep(0.5)
        out = tmp_path / "cluster"
        res = subprocess.run([sys.executable, "-m", "batch", *_inputs(inputs), "--out", str(out), "--engine", "ray",
                              "--address", f"127.0.0.1:{port}", "--no-progress"],
                             capture_output=True, text=True, timeout=600, check=False)
        assert res.returncode == 1, res.stderr[-3000:]  # broken.mp4 and notes.txt fail, as in the local run
        assert_same_outputs(local_out, out)
        # with that head still running, no --address still means a private local Ray (not "join the head")
        res = subprocess.run([sys.executable, "-m", "batch", str(inputs / "justin.jpg"), "--out", str(tmp_path / "private"),
                              "--engine", "ray", "--workers", "1", "--no-progress"],
                             capture_output=True, text=True, timeout=600, check=False)
        assert res.returncode == 0, res.stderr[-3000:]
        assert (tmp_path / "private" / "images.csv").read_text(encoding="utf-8").count("\n") == 2  # header + 1 face
    finally:
        head.terminate()  # `ray start --block` drains the node and stops its processes on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        try:  # whatever of the head's process group is left
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        current = Path("/tmp/ray/ray_current_cluster")  # where `ray start` says which cluster ray.init() should join
        if current.is_file() and current.read_text(encoding="utf-8").strip().endswith(f":{port}"):
            current.unlink()


@pytest.mark.shared
def test_interrupted_ray_run_keeps_finished_image_blocks_for_resume(ray_local, shared, tmp_path, monkeypatch):
    """Image rows are written as blocks finish (not at the end): Ctrl-C, then --resume, gives the uninterrupted rows."""
    import batch.engines.ray as engine

    photos = tmp_path / "photos"
    photos.mkdir()
    for src in sorted((shared / "data" / "fer2013" / "validation" / "happy").iterdir())[:12]:
        shutil.copyfile(src, photos / src.name)
    monkeypatch.setattr(engine, "IMAGE_CHUNK", 4)  # 3 blocks
    full = engine.run_batch_ray([photos], tmp_path / "full", workers=1, progress=False)
    assert full.ok and full.images == 12

    out = tmp_path / "out"

    def interrupt_after_two_blocks(frac: float, _msg: str) -> None:
        if frac >= 8 / 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.run_batch_ray([photos], out, workers=1, progress=False, on_progress=interrupt_after_two_blocks)
    partial = (out / "images.tmp.csv").read_text(encoding="utf-8").splitlines()
    assert len(partial) == 1 + 8, "the two finished blocks are on disk"
    assert not (out / "images.csv").exists()

    resumed = engine.run_batch_ray([photos], out, workers=1, progress=False, resume=True)
    assert resumed.ok
    assert len(resumed.skipped) == 7  # the last row of a partial file is redone, as in the local engine
    assert (out / "images.csv").read_text(encoding="utf-8") == (tmp_path / "full" / "images.csv").read_text(encoding="utf-8")


@pytest.mark.shared
def test_ray_equals_local_with_stride_smooth_annotate_and_sort_into(ray_local, media, pipeline, tmp_path):
    from batch.engines.ray import run_batch_ray

    src = tmp_path / "in"
    src.mkdir()
    for name in ("justin.jpg", "test_image.jpg", "no-faces.jpg", "street_phone.mp4"):
        shutil.copyfile(media / name, src / name)
    options = dict(stride=2, smooth_s=0.5, hold_s=0.5, annotate=True, progress=False)
    local = _local_cli([src], tmp_path / "local", "--stride", "2", "--smooth-s", "0.5", "--hold-s", "0.5", "--annotate", "--sort-into", str(tmp_path / "sorted_local"))
    remote = run_batch_ray([src], tmp_path / "ray", workers=2, sort_into=tmp_path / "sorted_ray", **options)
    assert local.returncode == 0 and remote.ok, local.stderr[-2000:]
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert "street_phone.annotated.mp4" in names
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")
    sorted_files = {str(p.relative_to(tmp_path / "sorted_local")) for p in (tmp_path / "sorted_local").rglob("*") if p.is_file()}
    assert sorted_files and sorted_files == {str(p.relative_to(tmp_path / "sorted_ray")) for p in (tmp_path / "sorted_ray").rglob("*") if p.is_file()}


@pytest.mark.shared
def test_progress_moves_within_a_video(ray_local, media, tmp_path):
    """Workers report how far they are into a video, so one long video does not leave the bar at 0 until it ends."""
    from batch.engines.ray import run_batch_ray

    seen: list[tuple[float, str]] = []
    report = run_batch_ray([media / "street_phone.mp4"], tmp_path / "out", workers=1, progress=False,
                           on_progress=lambda frac, msg: seen.append((frac, msg)))
    assert report.ok
    fracs = [f for f, _ in seen]
    assert fracs == sorted(fracs) and fracs[-1] == pytest.approx(1.0)
    inside = [(f, m) for f, m in seen if 0 < f < 1]
    assert inside, f"no progress between the start and the end of the video: {seen}"
    assert all("street_phone.mp4: " in m and m.endswith("%") for _, m in inside)


@pytest.mark.shared
@pytest.mark.slow
def test_one_long_video_split_in_ranges_equals_the_local_engine(ray_local, media, tmp_path):
    """Issue 16: a 3,000-frame recording (one face, then several) analyzed in time ranges on 2 workers gives
    the local engine's files byte for byte: CSV, summary (but its timing) and annotated video."""
    import importlib.util

    from batch.engines.ray import run_batch_ray
    from deepfer.analysis.video import read_video_info
    from deepfer.outputs.split import plan_ranges

    spec = importlib.util.spec_from_file_location("ray_vs_local", Path(__file__).resolve().parent.parent / "benchmarks" / "ray_vs_local.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    src = tmp_path / "in"
    src.mkdir()
    video = bench.long_recording(media, src / "long.mp4", 3000)
    ranges = plan_ranges(read_video_info(video).frame_count, 1, 2)
    assert ranges == [(0, 1536), (1536, None)]  # two ranges, starting on a 256-frame boundary
    local = _local_cli([video], tmp_path / "local", "--annotate")
    assert local.returncode == 0, local.stderr[-2000:]
    report = run_batch_ray([video], tmp_path / "ray", workers=2, annotate=True, progress=False)
    assert report.ok and report.frames == 3000
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")
    df = pd.read_csv(tmp_path / "ray" / "long.csv")
    assert df.groupby("frame")["face_id"].count().max() >= 2  # several faces in the pan
    assert not list((tmp_path / "ray").glob("*.tmp*"))
