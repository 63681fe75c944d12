"""What users see: numbered faces on pictures and in images.csv, file names in tables, the charts (sizes,
legends, ticks, gaps, one palette), the dashboard's privacy settings and the deletion of uploaded files."""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfer.faces import Faces
from deepfer.labels import EMOTION_COLORS, EMOTIONS, bgr
from tests.dashboard_factories import make_images_output, make_video_output

REPO = Path(__file__).resolve().parent.parent


def _faces(boxes, winners, conf=0.8, track_ids=None) -> Faces:
    probs = np.full((len(boxes), 7), (1 - conf) / 6, np.float32)
    for i, k in enumerate(winners):
        probs[i, EMOTIONS.index(k)] = conf
    return Faces(np.array(boxes), np.ones(len(boxes)), probs, track_ids)


@pytest.fixture
def put_text(monkeypatch):
    """Every ``cv2.putText`` call of the annotator: ``(text, origin, font_scale)``, the drawing itself still done."""
    import cv2

    calls, real = [], cv2.putText

    def spy(img, text, org, font, scale, *args, **kwargs):
        calls.append((text, org, scale))
        return real(img, text, org, font, scale, *args, **kwargs)

    monkeypatch.setattr(cv2, "putText", spy)
    return calls


# ---------------------------------------------------------------- numbered faces


def test_photo_faces_are_numbered_in_table_order(put_text):
    from deepfer.analysis.annotate import annotate

    faces = _faces([(20, 60, 80, 80), (200, 60, 80, 80)], ["happy", "sad"], 0.8)
    out = annotate(np.zeros((240, 320, 3), np.uint8), faces)
    assert out.shape == (240, 320, 3)
    assert [t for t, _, _ in put_text] == ["1 happy 80%", "2 sad 80%"]


def test_tracked_faces_keep_their_ids_and_low_confidence_is_uncertain(put_text):
    from deepfer.analysis.annotate import annotate

    faces = _faces([(20, 60, 80, 80), (200, 60, 80, 80)], ["happy", "angry"], 0.4, track_ids=[7, 3])
    annotate(np.zeros((240, 320, 3), np.uint8), faces, min_confidence=0.5)
    assert [t for t, _, _ in put_text] == ["#7 uncertain 40%", "#3 uncertain 40%"]


def test_the_label_drawn_comes_from_faces_labels_and_confidences(put_text):
    """Not from the argmax of ``probs``: a video's faces carry an emotion decided over time."""
    from deepfer.analysis.annotate import annotate

    class Decided(Faces):
        labels = property(lambda self: ["surprise"] * len(self))
        confidences = property(lambda self: np.full(len(self), 0.55))

    f = _faces([(20, 60, 80, 80)], ["happy"], 0.9, track_ids=[2])
    annotate(np.zeros((240, 320, 3), np.uint8), Decided(f.boxes, f.det_scores, f.probs, f.track_ids))
    assert [t for t, _, _ in put_text] == ["#2 surprise 55%"]


def test_numbers_stay_inside_small_images_and_grow_with_large_ones(put_text):
    import cv2

    from deepfer.analysis.annotate import annotate

    crop = annotate(np.full((48, 48), 90, np.uint8), _faces([(0, 0, 48, 48)], ["happy"]))  # a face crop: the box is the image
    (text, (x, y), small), = put_text
    assert text.startswith("1 ") and 0 <= x < 48 and 0 < y < 48
    assert not np.array_equal(crop[:20], np.full((20, 48, 3), 90, np.uint8))  # the label is on the picture
    put_text.clear()
    annotate(np.zeros((3000, 4000, 3), np.uint8), _faces([(3900, 1000, 100, 100)], ["sad"]))  # at the right edge
    (text, (x, y), large), = put_text
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, large, max(1, round(3000 / 300)))
    assert large > 3 * small and x + tw <= 4000 and th >= 60  # about 2% of the picture's height


def test_images_csv_numbers_the_faces_of_each_image():
    from deepfer.outputs.columns import IMAGE_COLUMNS, image_rows

    rows = image_rows("a.jpg", _faces([(0, 0, 10, 10), (20, 0, 10, 10), (40, 0, 10, 10)], ["happy", "sad", "fear"]))
    assert [r["face_id"] for r in rows] == [1, 2, 3] and all(list(r) == list(IMAGE_COLUMNS) for r in rows)
    assert image_rows("b.jpg", Faces.empty())[0]["face_id"] == ""


def test_home_and_gradio_tables_number_faces_as_drawn():
    from deepfer.analysis.annotate import face_tags

    faces = _faces([(20, 60, 80, 80), (200, 60, 80, 80)], ["happy", "sad"])
    assert face_tags(faces) == ["1", "2"]
    gradio_app = pytest.importorskip("deepfer.apps.gradio_app")
    assert [r[0] for r in gradio_app.faces_table(faces)] == [1, 2]


# ---------------------------------------------------------------- tables: file names


def test_images_table_shows_file_names_and_the_path_last(tmp_path):
    from dashboard.views import batch_results as br
    from deepfer.outputs import readers as bv

    make_images_output(tmp_path / "out", tmp_path / "imgs")
    faces = bv.faces_only(bv.load_images_csv(tmp_path / "out" / "images.csv"))
    table = br.images_table(faces, within=[tmp_path])
    assert list(table.columns) == ["face", "file", "face_id", "emotion", "confidence", *EMOTIONS, "path"]
    assert table["file"].tolist() == ["a.png", "a.png"] and table["face"].str.startswith("data:image/png").all()
    (tmp_path / "imgs" / "a.png").unlink()  # a dashboard run's inputs are deleted after the run
    assert table.pipe(lambda t: br.images_table(faces, within=[tmp_path]))["face"].isna().all()
    errors = br.with_file_names(pd.DataFrame({"path": ["/tmp/x/y/broken.jpg"], "error": ["corrupt"]}))
    assert list(errors.columns) == ["file", "error", "path"] and errors["file"].iloc[0] == "broken.jpg"


# ---------------------------------------------------------------- charts


def _segments(n_faces: int) -> pd.DataFrame:
    rows = [{"face_id": f, "emotion": e, "start_s": s, "end_s": s + 1.0, "duration_s": 1.0, "frames": 10}
            for f in range(1, n_faces + 1) for s, e in ((0.0, "happy"), (1.0, "sad"), (2.0, "neutral"))]
    return pd.DataFrame(rows)


def test_segments_chart_height_legend_ticks_and_axes():
    from dashboard.views import batch_results as br

    one, five = br.segments_figure(_segments(1)), br.segments_figure(_segments(5))
    assert five.layout.height > one.layout.height >= 250
    assert five.layout.height - one.layout.height == 4 * 50
    assert [t.name for t in five.data] == ["happy", "neutral", "sad"]  # each emotion with a segment, in EMOTIONS order
    assert five.layout.legend.traceorder == "normal"
    assert five.layout.legend.orientation == "h"
    assert five.layout.yaxis.type == "category" and set(five.layout.yaxis.categoryarray) == {f"face {i}" for i in range(1, 6)}
    assert {y for t in five.data for y in t.y} == {f"face {i}" for i in range(1, 6)}
    assert five.layout.xaxis.title.text == "time (s)" and five.layout.yaxis.title.text == "face"


def test_every_batch_chart_labels_its_axes_and_uses_the_palette(tmp_path):
    from dashboard.views import batch_results as br
    from deepfer.outputs import readers as bv

    df = bv.load_video_csv(make_video_output(tmp_path) / "clip.csv")
    figs = [br.timeline_figure(df), br.share_figure(df), br.segments_figure(br.segments(df))]
    for fig in figs:
        layout = fig.layout.to_plotly_json()
        axes = [k for k in layout if k.startswith(("xaxis", "yaxis"))]
        assert axes and all(layout[k].get("title", {}).get("text") for k in axes if k in ("xaxis", "yaxis")), fig.layout.title.text
        for trace in fig.data:
            color = trace.marker.color if trace.type == "bar" else trace.line.color
            assert color == EMOTION_COLORS[trace.name.split(",")[0]]
    timeline = figs[0]
    assert {a.text for a in timeline.layout.annotations} == {"face 0", "face 1"}
    assert figs[1].data[0].x == ("face 0", "face 1")


def test_timeline_breaks_where_a_face_was_away(tmp_path):
    from dashboard.views import batch_results as br

    df = pd.DataFrame({"frame": [0, 1, 2, 30, 31], "timestamp_s": [0.0, 0.1, 0.2, 3.0, 3.1], "face_id": [1] * 5,
                       "x": [1] * 5, **{e: [1 / 7] * 5 for e in EMOTIONS}})
    long = br.timeline_long(df)
    happy = long[long["emotion"] == "happy"].sort_values("timestamp_s")
    assert happy["probability"].isna().tolist() == [False, False, False, True, False, False]


def _live_long(frames_by_face: dict[int, list[int]], fps: float = 10.0) -> pd.DataFrame:
    rows = [{"frame": f, "t_s": f / fps - 10.0, "face_id": fid, "emotion": e, "probability": 0.5}
            for fid, frames in frames_by_face.items() for f in frames for e in EMOTIONS]
    return pd.DataFrame(rows)


def test_live_chart_breaks_lines_where_a_face_was_not_seen():
    from dashboard.views.live import probability_figure

    fig = probability_figure(_live_long({0: [0, 1, 2, 3, 40, 41, 42], 1: [0, 2, 4, 6]}))  # face 1 seen every other frame
    by_name = {t.name: t for t in fig.data}
    gone = by_name["happy, face #0"]
    assert list(gone.y).count(None) == 1 and gone.connectgaps is False
    assert None not in list(by_name["happy, face #1"].y)  # a frame missed here and there is not a gap (0.2 s)
    assert fig.layout.xaxis.title.text == "seconds ago" and fig.layout.yaxis.title.text == "probability"
    assert {t.line.color for t in fig.data} == set(EMOTION_COLORS.values())
    assert by_name["happy, face #0"].line.dash != by_name["happy, face #1"].line.dash


def test_live_side_panel_lists_what_is_drawn(put_text):
    from types import SimpleNamespace

    from dashboard.views.live import faces_text
    from deepfer.analysis.annotate import annotate

    faces = _faces([(20, 60, 80, 80), (200, 60, 80, 80)], ["happy", "fear"], 0.45, track_ids=[0, 5])
    annotate(np.zeros((240, 320, 3), np.uint8), faces, min_confidence=0.3)
    text = faces_text(SimpleNamespace(frame=9, faces=faces), min_confidence=0.3)
    assert [f"- face **{t}**" for t, _, _ in put_text] == text.splitlines()[1:]


def test_one_palette_everywhere():
    from dashboard.views import live
    from deepfer.analysis.annotate import COLORS_BGR

    assert list(EMOTION_COLORS) == list(EMOTIONS) == list(COLORS_BGR)
    assert all(COLORS_BGR[e] == bgr(EMOTION_COLORS[e]) for e in EMOTIONS)
    assert bgr("#ff8000") == (0, 128, 255)
    assert live.probability_figure(_live_long({0: [0, 1]})).data[0].line.color in EMOTION_COLORS.values()


def test_gradio_video_plot_uses_the_palette(tmp_path):
    gradio_app = pytest.importorskip("deepfer.apps.gradio_app")
    csv = make_video_output(tmp_path) / "clip.csv"
    fig = gradio_app.emotion_plot(csv)
    assert [(t.name, t.line.color) for t in fig.data] == list(EMOTION_COLORS.items())
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


# ---------------------------------------------------------------- privacy


def test_streamlit_config_serves_locally_without_statistics():
    from deepfer.config import MAX_BATCH_UPLOAD_MB

    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert cfg["server"]["address"] == "127.0.0.1"
    assert cfg["server"]["maxUploadSize"] == MAX_BATCH_UPLOAD_MB
    assert cfg["browser"]["gatherUsageStats"] is False


def test_streamlit_reads_the_config_from_the_repository_root(monkeypatch):
    from streamlit import config

    monkeypatch.chdir(REPO)
    assert str(REPO / ".streamlit" / "config.toml") in config.get_config_files("config.toml")


class _Upload:
    def __init__(self, name: str, data: bytes):
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


@pytest.fixture
def fake_batch(monkeypatch):
    """``run_batch`` replaced by one that records whether its inputs exist and writes an images.csv, or fails."""
    engines = pytest.importorskip("batch.engines.local")
    import dashboard.views.model as model_view

    seen: dict = {}

    def run_batch(inputs, out_dir, **kwargs):
        seen["inputs"] = [Path(p) for p in inputs]
        seen["existed"] = all(Path(p).is_file() for p in inputs)
        if seen.get("fail"):
            raise RuntimeError("boom")
        make_images_output(Path(out_dir), Path(out_dir).parent / "unused")

    monkeypatch.setattr(engines, "run_batch", run_batch)
    monkeypatch.setattr(model_view, "load_pipeline", lambda detector=None: None)
    return seen


def test_uploads_are_deleted_when_the_run_ends(fake_batch, tmp_path):
    from dashboard.views.uploads import delete_run, run_folder_of, run_uploads
    from deepfer.errors import DeepFERError

    run = run_uploads([_Upload("me.jpg", b"jpeg bytes")], workdir=tmp_path)
    assert fake_batch["existed"] and fake_batch["inputs"][0].name == "me.jpg"
    assert not fake_batch["inputs"][0].parent.exists()  # inputs/ gone
    assert (run.out_dir / "images.csv").is_file()  # the results stay for the explorer
    fake_batch["fail"] = True
    with pytest.raises(DeepFERError, match="boom"):
        run_uploads([_Upload("you.jpg", b"jpeg bytes")], workdir=tmp_path)
    assert not fake_batch["inputs"][0].parent.exists()
    assert [p.name for p in tmp_path.iterdir()] == [run.out_dir.parent.name]  # nothing left of the failed run
    assert run_folder_of(run.out_dir, tmp_path) == run.out_dir.parent.resolve()
    with pytest.raises(DeepFERError, match="not a run of uploads"):
        delete_run(tmp_path, tmp_path)
    delete_run(run.out_dir, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_runs_older_than_a_day_are_pruned_when_a_run_starts(fake_batch, tmp_path):
    from dashboard.views.uploads import run_uploads

    old, recent, other = tmp_path / "batch-old", tmp_path / "batch-recent", tmp_path / "mine"
    for d in (old, recent, other):
        (d / "output").mkdir(parents=True)
    two_days_ago = time.time() - 2 * 24 * 3600
    for d in (old, other):
        os.utime(d, (two_days_ago, two_days_ago))
    run = run_uploads([_Upload("me.jpg", b"jpeg bytes")], workdir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["batch-recent", "mine", run.out_dir.parent.name])


def test_explorer_works_on_a_run_whose_inputs_are_gone_and_deletes_it(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DEEPFER_DASHBOARD_WORKDIR", str(tmp_path))
    monkeypatch.delenv("DEEPFER_RESULTS_DIR", raising=False)
    out = tmp_path / "batch-20260101-000000-abc" / "output"
    make_images_output(out, tmp_path / "batch-20260101-000000-abc" / "inputs")
    make_video_output(out, stem="clip")
    import shutil

    shutil.rmtree(tmp_path / "batch-20260101-000000-abc" / "inputs")
    at = AppTest.from_file(str(REPO / "dashboard" / "pages" / "4_Batch_explorer.py"), default_timeout=120).run()
    assert not at.exception and at.selectbox(key="run").value == out
    at.selectbox(key="result").set_value("images").run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert list(table.columns)[:3] == ["face", "file", "face_id"] and table["file"].tolist() == ["a.png", "a.png"]
    assert table["face_id"].tolist() == [1, 2] and table["face"].isna().all()  # the pictures are gone
    at.selectbox(key="result").set_value("video: clip").run()
    assert not at.exception and len(at.get("plotly_chart")) == 3
    delete = [b for b in at.button if b.label == "Delete this run"]
    assert delete
    delete[0].click().run()
    assert not at.exception and not (tmp_path / "batch-20260101-000000-abc").exists()
    assert any("Deleted" in s.value for s in at.success)
