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


# --- the annotated-video writer: H.264 that browsers play, deterministic, joinable ----------------------


def _moving(n: int, size: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """Frames with texture and motion (an encoder has real work to do)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1], size[0] + n, 3), np.uint8)
    return [np.ascontiguousarray(base[:, i:i + size[0]]) for i in range(n)]


def _write(path, frames, fps=24.7, size=None):
    size = size or (frames[0].shape[1], frames[0].shape[0])
    with VideoSink(path, fps, size) as sink:
        for f in frames:
            sink.write(f)
    return path


def test_sink_writes_h264_yuv420p_with_its_index_first(tmp_path):
    import av

    path = _write(tmp_path / "a.mp4", _moving(30, (96, 64)))
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt, s.frames) == ("h264", "yuv420p", 30)
        assert float(s.average_rate) == pytest.approx(24.7)
        assert float(c.duration / 1e6) == pytest.approx(30 / 24.7, abs=1e-3)  # constant frame rate
    data = path.read_bytes()
    assert 0 < data.index(b"moov") < data.index(b"mdat")  # +faststart: playable before it is all downloaded


def test_sink_is_deterministic(tmp_path):
    frames = _moving(40, (96, 64))
    assert _write(tmp_path / "a.mp4", frames).read_bytes() == _write(tmp_path / "b.mp4", frames).read_bytes()


def test_odd_sizes_lose_their_last_column_and_row(tmp_path):
    frames = _moving(5, (33, 21))
    info = read_video_info(_write(tmp_path / "odd.mp4", frames))
    assert (info.width, info.height, info.frame_count) == (32, 20, 5)
    with pytest.raises(DeepFERError, match="cannot write a 1x9 video"):
        VideoSink(tmp_path / "x.mp4", 10, (1, 9))


def test_a_sink_without_frames_still_leaves_a_file(tmp_path):
    with VideoSink(tmp_path / "empty.mp4", 25, (64, 48)) as sink:
        pass
    assert sink.frames == 0 and (tmp_path / "empty.mp4").stat().st_size > 0


def test_concat_joins_parts_without_reencoding(tmp_path):
    import av

    from deepfer.analysis.video import concat_mp4

    frames = _moving(70, (96, 64))
    parts = [_write(tmp_path / f"p{k}.mp4", frames[k:k + 32]) for k in range(0, 70, 32)]  # 32 + 32 + 6 frames
    joined = concat_mp4(parts, tmp_path / "joined.mp4")
    assert concat_mp4(parts, tmp_path / "again.mp4").read_bytes() == joined.read_bytes()
    with av.open(str(joined)) as c:
        s = c.streams.video[0]
        packets = [p for p in c.demux(s) if p.dts is not None]
        assert len(packets) == 70 and [i for i, p in enumerate(packets) if p.is_keyframe] == [0, 32, 64]
        assert sum(len(bytes(p)) for p in packets) == sum(_payload(p) for p in parts)  # copied, not re-encoded
        assert float(c.duration / 1e6) == pytest.approx(70 / 24.7, abs=1e-3)
    with av.open(str(joined)) as c:
        times = [float(f.pts * f.time_base) for f in c.decode(video=0)]
    assert times == pytest.approx([i / 24.7 for i in range(70)], abs=1e-3)
    data = joined.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def _payload(path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(len(bytes(p)) for p in c.demux(video=0) if p.dts is not None)


def test_concat_refuses_parts_of_another_size(tmp_path):
    from deepfer.analysis.video import concat_mp4

    a = _write(tmp_path / "a.mp4", _moving(3, (96, 64)))
    b = _write(tmp_path / "b.mp4", _moving(3, (64, 64)))
    with pytest.raises(DeepFERError, match="cannot be joined"):
        concat_mp4([a, b], tmp_path / "ab.mp4")
