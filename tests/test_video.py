"""deepfer.analysis.video: VideoInfo, streaming frames with true indices and timestamps, the mp4 writer."""

from __future__ import annotations

import numpy as np
import pytest

from deepfer.analysis.video import VideoSink, iter_frames, read_video_info
from deepfer.errors import DeepFERError


def _synthetic(path, n=12, fps=29.97, size=(64, 48)):
    with VideoSink(path, fps, size) as sink:
        for i in range(n):
            frame = np.full((size[1], size[0], 3), 20 * i % 255, np.uint8)
            sink.write(frame)
    return path


def test_sink_round_trip_keeps_fractional_fps(tmp_path):
    path = _synthetic(tmp_path / "clip.mp4")
    info = read_video_info(path)
    assert (info.width, info.height, info.frame_count) == (64, 48, 12)
    assert info.fps == pytest.approx(29.97, abs=1e-3)  # 29.97 is not 29 or 30
    frames = list(iter_frames(path))
    assert [i for i, _, _ in frames] == list(range(12))
    assert [t for _, t, _ in frames] == pytest.approx([i / info.fps for i in range(12)])
    assert frames[0][2].shape == (48, 64, 3)


def test_stride_keeps_true_frame_numbers(tmp_path):
    path = _synthetic(tmp_path / "clip.mp4", n=10)
    stats: dict = {}
    got = [(i, t) for i, t, _ in iter_frames(path, stride=3, stats=stats)]
    assert [i for i, _ in got] == [0, 3, 6, 9]
    assert got[1][1] == pytest.approx(3 / stats["fps"])
    assert stats["frames"] == 10
    with pytest.raises(ValueError):
        next(iter_frames(path, stride=0))


def test_sink_converts_gray_and_resizes(tmp_path):
    with VideoSink(tmp_path / "g.mp4", 10.0, (32, 32)) as sink:
        sink.write(np.zeros((20, 20), np.uint8))
        assert sink.frames == 1
    assert read_video_info(tmp_path / "g.mp4").width == 32


def test_street_phone_info_and_frames(media):
    info = read_video_info(media / "street_phone.mp4")
    assert (info.width, info.height, info.frame_count) == (596, 336, 115)
    assert 24.5 < info.fps < 24.9 and info.fps != int(info.fps)
    assert info.duration_s == pytest.approx(115 / info.fps)
    idx = [i for i, _, _ in iter_frames(info.path, stride=10)]
    assert idx == list(range(0, 115, 10))


@pytest.mark.parametrize("content, message", [(None, "no such file"), (b"", "empty file"), (b"hello, not a video", "not a readable video")])
def test_bad_videos_raise_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad clip é.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DeepFERError, match=message):
        read_video_info(path)
    with pytest.raises(DeepFERError, match=message):
        next(iter_frames(path))


def test_truncated_mp4_is_an_error(media, tmp_path):
    data = (media / "street_phone.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DeepFERError, match="not a readable video"):
        read_video_info(cut)
