"""The HTML report of a batch output folder and the Batch explorer's comparison of videos."""

from __future__ import annotations

import json

import pytest

from deepfer.labels import EMOTION_COLORS
from deepfer.outputs.report import build_report, shares_figure, timelines_figure, video_summaries, write_report

from .dashboard_factories import make_images_output, make_video_output


def _summary(folder, stem, segments):
    """A summary with one face whose segments are ``[(start, end, emotion), ...]``."""
    faces = {"0": {"frames": 10, "first_s": segments[0][0], "dominant": segments[0][2],
                   "share": {segments[0][2]: 1.0}, "segments": [{"start_s": a, "end_s": b, "emotion": e, "frames": 5} for a, b, e in segments]}}
    data = {"source": f"/data/{stem}.mp4", "duration_s": segments[-1][1], "frames_analyzed": 10, "frames_with_face": 10,
            "faces_tracked": 1, "overall": faces["0"], "faces": faces, "temporal": {"smooth_s": 0.2, "hold_s": 0.2}}
    (folder / f"{stem}.summary.json").write_text(json.dumps(data))


@pytest.fixture
def folder(tmp_path):
    out = make_video_output(tmp_path / "out", stem="interview_a", smooth=True)
    make_video_output(out, stem="interview_b", smooth=True)
    _summary(out, "interview_a", [(0.0, 2.0, "happy"), (2.0, 5.5, "neutral")])
    _summary(out, "interview_b", [(0.0, 3.0, "sad")])
    make_images_output(out, tmp_path / "imgs")
    return out


def test_comparison_figures_align_every_face_on_time(folder):
    summaries = video_summaries(folder)
    assert list(summaries) == ["interview_a", "interview_b"]
    tl = timelines_figure(summaries)
    happy = next(t for t in tl.data if t.name == "happy")
    assert list(happy.base) == [0.0] and list(happy.x) == [2.0] and list(happy.y) == ["interview_a · face 0"]
    assert happy.marker.color == EMOTION_COLORS["happy"]
    assert tl.layout.xaxis.title.text == "time in the video (s)" and tl.layout.height >= 140 + 2 * 34
    sh = shares_figure(summaries)
    assert [t.name for t in sh.data] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert sh.layout.xaxis.tickformat == ".0%"


def test_report_is_one_self_contained_page(folder):
    text = build_report(folder)
    assert text.startswith("<!doctype html>") and text.count("<script type=\"text/javascript\">/**") <= 1
    assert "<script src=" not in text and len(text) > 3_000_000  # plotly.js inlined (once): opens offline
    for needle in ("interview_a", "interview_b", "Share of time in each emotion", "Emotion over time", "Images (2, 2 faces)",
                   "Inputs that failed (1)", "smooth_s=0.2"):
        assert needle in text, needle
    path = write_report(folder)
    assert path.name == "report.html" and path.read_text(encoding="utf-8").endswith("</html>")


def test_report_from_the_command_lines(folder, capsys):
    from deepfer.apps.cli import main

    (folder / "report.html").unlink(missing_ok=True)
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.html").is_file() and str(folder / "report.html") in capsys.readouterr().out


def test_batch_explorer_compares_the_videos(monkeypatch, folder):
    from .test_dashboard_pages import page

    monkeypatch.setenv("DEEPFER_RESULTS_DIR", str(folder.parent))
    at = page("4_Batch_explorer.py").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="result").options[0] == "compare all videos"
    assert len(at.get("plotly_chart")) == 2 and len(at.dataframe) >= 1
    assert any("Download the HTML report" in b.proto.label for b in at.get("download_button"))
