"""Each row's ``timestamp_s`` is the frame's presentation time in the container, also on a
variable-frame-rate video (phone and screen recordings), where ``frame / fps`` drifts."""

from __future__ import annotations

import fractions
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfer.analysis.video import iter_frames


def _vfr_video(path: Path, frames: int = 90, seed: int = 0) -> list[float]:
    """An H.264 mp4 whose frames come at irregular times (1/60 to 1/10 s apart); their true times."""
    import av

    rng = random.Random(seed)
    tb = fractions.Fraction(1, 90000)
    truth, t = [], 0.0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = tb
        for i in range(frames):
            img = np.full((240, 320, 3), (i * 3) % 255, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = int(round(t / tb)), tb
            truth.append(float(frame.pts * tb))
            for packet in stream.encode(frame):
                out.mux(packet)
            t += rng.choice([1 / 30, 1 / 30, 1 / 15, 1 / 60, 0.1])
        for packet in stream.encode():
            out.mux(packet)
    return truth


def test_timestamps_are_presentation_times_on_variable_frame_rate_video(tmp_path):
    truth = _vfr_video(tmp_path / "vfr.mp4")
    stats: dict = {}
    got = [ts for _, ts, _ in iter_frames(tmp_path / "vfr.mp4", stats=stats)]
    assert len(got) == len(truth) and stats["timestamps"] == "container"
    intervals = np.diff(truth)
    assert np.abs(np.array(got) - truth).max() < intervals.min()  # within one frame interval (here: exact)
    naive = np.arange(len(truth)) / stats["fps"]
    assert np.abs(naive - truth).max() > 0.1  # what frame / fps would have written


@pytest.mark.shared
def test_video_csv_and_summary_carry_the_container_times(tmp_path, pipeline):
    from deepfer.outputs.video import analyze_video

    truth = _vfr_video(tmp_path / "vfr.mp4", frames=60, seed=1)
    out = analyze_video(tmp_path / "vfr.mp4", tmp_path / "out", pipeline, stride=2)
    df = pd.read_csv(out.csv_path).drop_duplicates("frame")
    assert np.allclose(df["timestamp_s"].to_numpy(), np.array(truth)[df["frame"].to_numpy()], atol=1e-5)
    summary = json.loads(out.summary_path.read_text(encoding="utf-8"))
    assert summary["timestamps"] == "presentation times from the container"
    assert summary["temporal"]["smooth_s"] == 0.2 and summary["temporal"]["hold_s"] == 0.2
