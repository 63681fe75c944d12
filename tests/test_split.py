"""A video analyzed in time ranges (deepfer.outputs.split, what the Ray engine runs for a long video) gives
exactly the one-pass files; a range's kept results are reused only for the same input and settings."""

from __future__ import annotations

import json

import pytest

from deepfer.analysis.video import read_frames, write_frames
from deepfer.outputs.layout import video_outputs
from deepfer.outputs.split import detect_range, draw_range, finish_annotated, load_range, plan_ranges, range_path, save_range, write_decided
from deepfer.outputs.video import analyze_video

pytestmark = pytest.mark.shared


def test_plan_ranges_follows_length_and_workers():
    assert plan_ranges(300, 1, 2) == [(0, None)]  # short: whole
    assert plan_ranges(3000, 1, 1) == [(0, None)]  # one worker: whole
    assert plan_ranges(3000, 1, 2) == [(0, 1536), (1536, None)]
    assert plan_ranges(3000, 2, 2) == [(0, 1536), (1536, None)]  # starts on 256 analyzed frames: 768 x 2
    assert plan_ranges(9200, 1, 4) == [(0, 2304), (2304, 4608), (4608, 6912), (6912, None)]
    assert plan_ranges(1100, 1, 8) == [(0, 768), (768, None)]  # ranges of at least 512 analyzed frames


def test_ranges_equal_one_pass_and_resume_per_range(media, pipeline, tmp_path):
    frames, _ = read_frames(media / "street_phone.mp4")
    video = write_frames(tmp_path / "long.mp4", frames * 5, 25.0)  # 575 frames
    one = analyze_video(video, tmp_path / "one", pipeline, annotate=True, checkpoint_key="k")

    ranges = [(0, 256), (256, None)]
    out = video_outputs(tmp_path / "split", "long")
    out.csv_path.parent.mkdir()
    found = [detect_range(video, pipeline, 1, a, b) for a, b in ranges]
    save_range(out, "key-1", found[0])
    assert load_range(out, "another key", 0, 256) is None and load_range(out, "key-1", 0, 512) is None
    kept = load_range(out, "key-1", 0, 256)  # what a resumed run reuses instead of analyzing the range again
    assert [(i, t) for i, t, _ in kept.frames] == [(i, t) for i, t, _ in found[0].frames]
    split, decided = write_decided(video, tmp_path / "split", [kept, found[1]], annotate=True, stem="long")
    assert not range_path(out, 0).exists()  # kept results are removed once the video is written
    parts = [p for a, b in ranges for p in draw_range(video, split, decided, 1, a, b)]
    finish_annotated(video, split, parts, 1)
    assert split.csv_path.read_bytes() == one.csv_path.read_bytes()
    assert split.annotated_path.read_bytes() == one.annotated_path.read_bytes()
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (one.summary_path, split.summary_path))
    assert a.pop("analysis_fps") and b.pop("analysis_fps") and a == b
