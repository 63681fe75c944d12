"""Every dashboard page under ``streamlit.testing.v1.AppTest``: renders with the committed files,
and shows a clear message (not a traceback) when they are missing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from .conftest import REPO, make_split
from .dashboard_factories import make_images_output, make_run, make_video_output

PAGES = REPO / "dashboard" / "pages"


def page(name: str):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(PAGES / name), default_timeout=120)


def texts(at) -> str:
    parts = [e.value for kind in ("error", "warning", "info", "success", "markdown", "caption") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


# ---------------------------------------------------------------- Training


def test_training_page_with_the_committed_runs(monkeypatch):
    monkeypatch.delenv("DEEPFER_MODELS_DIR", raising=False)
    at = page("1_Training.py").run()
    assert not at.exception
    assert not at.error and not at.warning
    assert "deepfer" in texts(at) and "seed" in texts(at)
    assert len(at.get("plotly_chart")) >= 6  # loss, accuracy, lr, 2 confusion matrices, per-class
    assert at.selectbox[0].options == ["deepfer", "seed"]
    at.selectbox[0].set_value("seed").run()
    assert not at.exception


def test_training_page_without_models(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFER_MODELS_DIR", str(tmp_path / "nothing"))
    at = page("1_Training.py").run()
    assert not at.exception
    assert any("No training runs found" in e.value for e in at.error)


def test_training_page_with_a_missing_and_an_empty_history(monkeypatch, tmp_path):
    make_run(tmp_path, history=False)
    (tmp_path / "history.csv").write_text("")
    monkeypatch.setenv("DEEPFER_MODELS_DIR", str(tmp_path))
    at = page("1_Training.py").run()
    assert not at.exception
    assert any("is empty" in w.value for w in at.warning)
    assert any("has a usable history.csv" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 3  # evaluation still shown


# ---------------------------------------------------------------- Dataset


def test_dataset_page_on_a_small_dataset(monkeypatch, tmp_path):
    root = tmp_path / "data"
    make_split(root / "train", per_class=2)
    make_split(root / "validation", per_class=1)
    (root / "train" / "fear" / "broken.jpg").write_bytes(b"broken")
    monkeypatch.setenv("DEEPFER_DATA", str(root))
    at = page("2_Dataset.py").run()
    assert not at.exception
    assert at.text_input[0].value == str(root)
    assert any("1 unreadable file" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 1
    assert "**fear** (3 images)" in texts(at)  # the broken file is counted but not shown
    assert len(at.get("image")) == 7


def test_dataset_page_with_a_missing_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFER_DATA", str(tmp_path / "missing"))
    at = page("2_Dataset.py").run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)
    at.text_input[0].set_value("").run()
    assert not at.exception and any("Type the path" in i.value for i in at.info)


@pytest.mark.slow
def test_dataset_page_defaults_to_the_shared_fer2013(monkeypatch, shared):
    monkeypatch.delenv("DEEPFER_DATA", raising=False)
    monkeypatch.setenv("DEEPFER_SHARED", str(shared))
    at = page("2_Dataset.py").run()
    assert not at.exception and not at.error
    assert at.text_input[0].value == str(shared / "data" / "fer2013")
    assert any("Unreadable files: 0" in s.value for s in at.success)
    assert "**happy** (7215 images)" in texts(at)


# ---------------------------------------------------------------- Live webcam


class _Playing:
    """``ctx.state`` that reports playing for ``n`` checks, then stopped."""

    def __init__(self, n: int):
        self.n = n

    @property
    def playing(self) -> bool:
        self.n -= 1
        return self.n >= 0


@pytest.mark.slow
def test_live_page_shows_faces_latency_and_chart(monkeypatch, media):
    """The WebRTC component needs a browser (see the browser test); here a stand-in feeds one real
    frame through the page's processor, as the video thread would."""
    import dashboard.views.live as live_view
    from deepfer.preprocess import read_image

    frame = read_image(media / "justin.jpg")

    def fake_streamer(processor, servers):
        assert servers == []  # no STUN server by default
        processor.process(frame)
        return SimpleNamespace(state=_Playing(3))

    monkeypatch.delenv("DEEPFER_ICE_SERVERS", raising=False)
    monkeypatch.delenv("DEEPFER_ICE_SERVERS_FILE", raising=False)
    monkeypatch.setattr(live_view, "start_streamer", fake_streamer)
    at = page("3_Live_webcam.py").run()
    assert not at.exception
    assert "face **#0 happy " in texts(at)  # "#0 happy 52%", as drawn on the video
    assert "Per-frame processing:" in texts(at)
    assert len(at.get("plotly_chart")) == 1
    assert [s.label for s in at.selectbox] == ["Face detector"] and at.selectbox[0].value == "yunet" and len(at.slider) == 2


@pytest.mark.slow
def test_live_page_when_stopped_and_with_a_bad_stun_setting(monkeypatch):
    import dashboard.views.live as live_view

    monkeypatch.setattr(live_view, "start_streamer", lambda processor, servers: SimpleNamespace(state=SimpleNamespace(playing=False)))
    monkeypatch.setenv("DEEPFER_ICE_SERVERS", "not json")
    at = page("3_Live_webcam.py").run()
    assert not at.exception
    assert any("DEEPFER_ICE_SERVERS is not valid JSON" in e.value for e in at.error)
    assert any("camera is off" in i.value for i in at.info)


def test_live_page_reports_a_missing_model(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFER_MODEL", str(tmp_path / "missing.keras"))
    at = page("3_Live_webcam.py").run()
    assert not at.exception
    assert any("could not be loaded" in e.value for e in at.error)


# ---------------------------------------------------------------- Batch explorer


def test_batch_page_on_a_video_output(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFER_RESULTS_DIR", str(tmp_path))
    at = page("4_Batch_explorer.py").run()
    assert not at.exception and any("No batch output under" in i.value for i in at.info)
    make_video_output(tmp_path / "run", smooth=True)
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="run").options == [str(tmp_path / "run")]  # the runs under the root are offered
    assert at.selectbox(key="result").options == ["video: clip"]
    assert len(at.get("plotly_chart")) == 3  # timeline, share of time, segments
    assert len(at.get("download_button")) == 3  # the folder's HTML report, the CSV and the summary JSON
    assert not at.get("video")  # no annotated video, no player
    assert any("not available" in i.value for i in at.info)  # no video file: numbers only
    at.toggle[0].set_value(True).run()
    assert not at.exception


def test_batch_page_plays_and_offers_the_annotated_video(monkeypatch, tmp_path):
    import numpy as np

    from deepfer.analysis.video import VideoSink

    monkeypatch.setenv("DEEPFER_RESULTS_DIR", str(tmp_path))
    make_video_output(tmp_path / "run", smooth=True)
    with VideoSink(tmp_path / "run" / "clip.annotated.mp4", 10.0, (160, 120)) as sink:
        for i in range(20):
            sink.write(np.full((120, 160, 3), 10 * i, np.uint8))
    at = page("4_Batch_explorer.py").run()
    assert not at.exception and not at.error
    assert len(at.get("video")) == 1  # the H.264 annotated video, in a player
    assert [b.proto.label for b in at.get("download_button")] == [
        "Download the HTML report (all videos, images and failures in one page)", "Download the per-frame CSV", "Download the summary JSON", "Download the annotated video"]


def test_batch_page_explains_an_old_annotated_video_it_cannot_play(monkeypatch, tmp_path):
    import cv2
    import numpy as np

    monkeypatch.setenv("DEEPFER_RESULTS_DIR", str(tmp_path))
    make_video_output(tmp_path / "run")
    old = cv2.VideoWriter(str(tmp_path / "run" / "clip.annotated.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for _ in range(5):
        old.write(np.zeros((120, 160, 3), np.uint8))
    old.release()
    at = page("4_Batch_explorer.py").run()
    assert not at.exception and not at.get("video")
    assert "browsers cannot play" in texts(at)
    assert len(at.get("download_button")) == 4  # it can still be downloaded (with the report, CSV, summary)


def test_batch_page_on_images_and_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFER_RESULTS_DIR", str(tmp_path))
    make_images_output(tmp_path / "out", tmp_path / "imgs")
    make_video_output(tmp_path / "out", stem="empty", frames=2)  # only frames without a face
    at = page("4_Batch_explorer.py").run()
    at.text_input(key="folder").set_value(str(tmp_path / "out")).run()
    assert not at.exception
    assert at.selectbox(key="result").options == ["video: empty", "images"]
    assert any("No face was found in empty" in i.value for i in at.info)
    at.selectbox(key="result").set_value("images").run()
    assert not at.exception
    assert "2 image(s), 2 face(s), 1 image(s) without a face" in texts(at)
    assert len(at.get("download_button")) == 3  # errors.csv, the HTML report and images.csv
    at.slider[0].set_value((0.5, 1.0)).run()
    assert "1 face(s) shown" in texts(at)


def test_batch_page_on_a_folder_without_output(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFER_RESULTS_DIR", str(tmp_path))
    at = page("4_Batch_explorer.py").run()
    at.text_input(key="folder").set_value(str(tmp_path)).run()
    assert not at.exception
    assert any("holds no batch output" in e.value for e in at.error)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    at.run()
    assert not at.exception and any("missing column" in e.value for e in at.error)
