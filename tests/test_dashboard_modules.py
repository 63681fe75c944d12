"""The dashboard's logic modules (no Streamlit runtime): RTC setting, training runs, dataset scan,
batch output reading, the live frame processor."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from .conftest import REPO, make_split
from .dashboard_factories import make_images_output, make_run, make_video_output

# ---------------------------------------------------------------- RTC configuration


def test_rtc_default_has_no_stun_server(tmp_path, monkeypatch):
    from dashboard.views import rtc

    monkeypatch.setattr(rtc, "DEFAULT_FILE", tmp_path / "absent.json")
    assert rtc.rtc_configuration(rtc.ice_servers({})[0]) == {"iceServers": []}  # what start_streamer passes
    assert rtc.ice_servers({})[1] == "default (none)"


def test_rtc_servers_from_env_and_file(tmp_path):
    from dashboard.views.rtc import ice_servers

    servers, src = ice_servers({"DEEPFER_ICE_SERVERS": '[{"urls": "stun:stun.example.org:3478"}]'})
    assert servers == [{"urls": ["stun:stun.example.org:3478"]}] and src == "$DEEPFER_ICE_SERVERS"
    f = tmp_path / "ice.json"
    f.write_text(json.dumps({"iceServers": [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]}))
    servers, src = ice_servers({"DEEPFER_ICE_SERVERS_FILE": str(f)})
    assert servers == [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}] and src == str(f)


@pytest.mark.parametrize("env, message", [
    ({"DEEPFER_ICE_SERVERS": "[{urls: stun}"}, "not valid JSON"),
    ({"DEEPFER_ICE_SERVERS": '{"urls": "stun:x"}'}, "expected a JSON list"),
    ({"DEEPFER_ICE_SERVERS": '[{"url": "stun:x"}]'}, "needs a 'urls' entry"),
    ({"DEEPFER_ICE_SERVERS": '[{"urls": "http://x"}]'}, "must start with stun:"),
    ({"DEEPFER_ICE_SERVERS_FILE": "/nonexistent/ice.json"}, "does not exist"),
])
def test_rtc_bad_settings_give_clear_errors(env, message):
    from dashboard.views.rtc import RTCConfigError, ice_servers

    with pytest.raises(RTCConfigError, match=message):
        ice_servers(env)


# ---------------------------------------------------------------- training runs


def test_committed_runs_are_found_with_history_and_evaluation():
    from dashboard.views import training_runs as charts

    runs = charts.find_runs(REPO / "models")
    names = [r.name for r in runs]
    assert names[0] == "deepfer" and "seed" in names
    for r in runs:
        assert r.history is not None and {"loss", "val_accuracy", "lr"} <= set(r.history.columns), r.problems
        assert r.evaluation is not None and np.asarray(r.evaluation["confusion_matrix"]).shape == (7, 7)
    table = charts.comparison_table(runs)
    assert table.loc[0, "evaluated accuracy"] == pytest.approx(runs[0].evaluation["accuracy"])
    assert len(charts.loss_figure(runs).data) == 2 * len(runs)
    cm = charts.confusion_figure(runs[0].evaluation, normalize=True).data[0].z
    assert np.allclose(np.asarray(cm).sum(axis=1), 1.0)
    assert len(charts.per_class_figure(runs[0].evaluation).data) == 3


def test_missing_and_empty_run_files_become_problems(tmp_path):
    from dashboard.views import training_runs as charts

    make_run(tmp_path / "models", history=False, evaluation=False)
    (tmp_path / "models" / "history.csv").write_text("")
    (tmp_path / "models" / "evaluation.json").write_text("{not json")
    make_run(tmp_path / "models" / "headeronly", evaluation=False, history=False)
    (tmp_path / "models" / "headeronly" / "history.csv").write_text("epoch,loss,accuracy\n")
    runs = charts.find_runs(tmp_path / "models")
    assert [r.name for r in runs] == ["tiny", "tiny"]
    assert any("is empty" in p for p in runs[0].problems) and any("not readable JSON" in p for p in runs[0].problems)
    assert any("no epochs" in p for p in runs[1].problems)
    assert runs[0].history is None and runs[0].evaluation is None
    assert charts.find_runs(tmp_path / "nothing") == []


# ---------------------------------------------------------------- dataset scan


def test_dataset_scan_counts_imbalance_and_unreadable(tmp_path):
    from dashboard.views.dataset import scan_dataset

    root = tmp_path / "data"
    make_split(root / "train", per_class=3)
    make_split(root / "validation", per_class=1, classes=("happy", "sad"))
    (root / "train" / "happy" / "broken.jpg").write_bytes(b"not an image")
    (root / "train" / "sad" / "empty.png").write_bytes(b"")
    scan = scan_dataset(root)
    counts = scan.counts().set_index(["split", "class"])["images"]
    assert counts["train", "happy"] == 4 and counts["validation", "angry"] == 0 and counts["validation", "sad"] == 1
    assert sorted(r for _, r in scan.unreadable) == ["empty file", "not a decodable image"]
    imb = scan.imbalance().set_index("split")
    assert imb.loc["train", "imbalance ratio"] == pytest.approx(4 / 3, abs=0.05)
    assert imb.loc["validation", "imbalance ratio"] == "inf (empty class)"
    samples = scan.samples("train", per_class=10)
    assert all("broken" not in str(p) for p in samples["happy"]) and len(samples["happy"]) == 3


def test_dataset_scan_errors(tmp_path):
    from dashboard.views.dataset import scan_dataset
    from deepfer.errors import DatasetError

    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    with pytest.raises(DatasetError, match="no split folders"):
        scan_dataset(tmp_path)
    single = make_split(tmp_path / "single", per_class=1)
    assert list(scan_dataset(single).files) == ["single"]


# ---------------------------------------------------------------- batch output


def test_batch_video_output_views(tmp_path):
    from dashboard.views import batch_results as br
    from deepfer.outputs import readers as bv

    make_video_output(tmp_path, frames=20)
    out = bv.find_outputs(tmp_path)
    assert list(out.videos) == ["clip"] and out.images_csv is None
    df = bv.load_video_csv(out.videos["clip"].csv)
    assert df["frame"].nunique() == 20 and df["face_id"].isna().sum() == 2
    share = br.share_of_time(df).set_index("face_id")
    assert share.loc[0, "happy"] == pytest.approx(10 / 18, abs=1e-4) and share.loc[0, "sad"] == pytest.approx(8 / 18, abs=1e-4)
    assert share.loc[1, "neutral"] == 1.0
    seg = br.segments(df)
    s0 = seg[seg["face_id"] == 0]
    assert s0["emotion"].tolist() == ["happy", "sad"] and s0["frames"].tolist() == [10, 8]
    assert s0["start_s"].tolist() == [0.0, 1.0]
    assert s0["end_s"].tolist() == [1.0, 1.8]  # exclusive: the last frame's time plus one frame step, as in summary.json
    # face 1 is seen every other frame: the summary's convention (a segment ends where the face is not seen) gives 9
    assert seg[seg["face_id"] == 1]["frames"].tolist() == [1] * 9
    summ = br.face_summary(df).set_index("face_id")
    assert summ.loc[0, "frames"] == 18 and summ.loc[1, "dominant emotion"] == "neutral"
    faces = bv.faces_of_frame(df, 4)
    assert len(faces) == 2 and faces.labels == ["happy", "neutral"] and faces.track_ids.tolist() == [0, 1]
    long = br.timeline_long(df)
    assert len(long) == 7 * 27 and set(long["face_id"]) == {"0", "1"}
    assert br.timeline_figure(df).data and br.share_figure(df).data and br.segments_figure(seg).data
    assert out.videos["clip"].source_video() is None  # the summary's video does not exist


def test_batch_smoothed_columns_and_images(tmp_path):
    from dashboard.views import batch_results as br
    from deepfer.outputs import readers as bv

    make_video_output(tmp_path / "v", smooth=True)
    df = bv.load_video_csv(tmp_path / "v" / "clip.csv")
    assert bv.prob_columns(df, smoothed=True)[0] == "smooth_angry" and bv.prob_columns(df)[0] == "angry"
    make_images_output(tmp_path / "o", tmp_path / "imgs")
    out = bv.find_outputs(tmp_path / "o")
    images = bv.load_images_csv(out.images_csv)
    assert images["path"].nunique() == 2 and len(bv.faces_only(images)) == 2
    assert bv.load_errors_csv(out.errors_csv).loc[0, "error"].startswith("not a readable image")
    uri = br.thumbnail_uri(images.loc[0, "path"], (20, 20, 60, 60))
    assert uri.startswith("data:image/png;base64,")
    assert br.thumbnail_uri(tmp_path / "imgs" / "missing.png") is None


def test_batch_output_errors(tmp_path):
    from deepfer.outputs import readers as bv

    with pytest.raises(bv.BatchOutputError, match="does not exist"):
        bv.find_outputs(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(bv.BatchOutputError, match="holds no batch output"):
        bv.find_outputs(tmp_path)
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(bv.BatchOutputError, match="missing column"):
        bv.load_video_csv(tmp_path / "other.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(bv.BatchOutputError, match="is empty"):
        bv.load_video_csv(tmp_path / "empty.csv")


def test_save_uploads_lists_empty_files_and_keeps_the_others(tmp_path):
    from dashboard.views.uploads import save_uploads

    class Upload:
        def __init__(self, name, data):
            self.name, self._data = name, data

        def getvalue(self):
            return self._data

    paths, refused = save_uploads([Upload("../../we ird name.mp4", b"x"), Upload("a.jpg", b""), Upload("we ird name.mp4", b"y")], tmp_path)
    assert paths == [tmp_path / "we_ird_name.mp4", tmp_path / "we_ird_name_2.mp4"]  # the same name twice: both kept
    assert refused == [("a.jpg", "empty file (0 bytes)")]


# ---------------------------------------------------------------- live processor


@pytest.mark.slow
def test_live_processor_tracks_smooths_and_queues(pipeline, media):
    from deepfer.analysis.live import LiveProcessor
    from deepfer.preprocess import read_image

    from .dashboard_factories import letterbox

    frame = letterbox(read_image(media / "justin.jpg"))
    proc = LiveProcessor(pipeline, smooth_s=0.3, queue_size=4)
    for _ in range(6):
        out = proc.process(frame)
    assert out.shape == frame.shape and not np.array_equal(out, frame)  # boxes were drawn
    recent = proc.recent()
    assert len(recent) == 6 and all(len(r.faces) == 1 for r in recent)
    assert {int(r.faces.track_ids[0]) for r in recent} == {0}  # one face keeps one id
    assert recent[-1].faces.labels == ["happy"]
    assert proc.results.qsize() == 4 and proc.results.get_nowait().frame == 2  # bounded, oldest dropped
    assert proc.median_latency_ms() > 0
    long = proc.recent_probabilities(60.0)
    assert set(long["emotion"]) == set(pipeline.classifier.labels) and len(long) == 6 * 7
    empty = proc.process(np.zeros((480, 640, 3), np.uint8))
    assert empty.shape == (480, 640, 3) and len(proc.recent()[-1].faces) == 0 and proc.last_error is None


@pytest.mark.slow
def test_live_processor_settings_and_failures(pipeline):
    from deepfer.analysis.live import LiveProcessor
    from deepfer.errors import DeepFERError

    proc = LiveProcessor(pipeline)
    with pytest.raises(DeepFERError, match="unknown detector"):
        proc.configure(detector="yolo")
    with pytest.raises(DeepFERError, match="between 0 and 1"):
        proc.configure(min_confidence=1.5)
    bad = np.zeros((10,), np.uint8)  # not an image: the frame comes back unchanged, the error is kept
    assert proc.process(bad) is bad and "ImageError" in proc.last_error


@pytest.mark.slow
def test_run_uploads_runs_the_batch_and_lists_bad_files(media, tmp_path):
    pytest.importorskip("batch.engines.local", reason="the batch module is not available")
    from dashboard.views.uploads import run_uploads
    from deepfer.outputs import readers as bv

    class Upload:
        def __init__(self, name, data):
            self.name, self._data = name, data

        def getvalue(self):
            return self._data

    seen = []
    files = [Upload("justin.jpg", (media / "justin.jpg").read_bytes()), Upload("broken.jpg", b"\x89PNG broken"),
             Upload("street phone.mp4", (media / "street_phone.mp4").read_bytes())]
    run = run_uploads(files, stride=10, annotate=False, on_progress=lambda f, m: seen.append(f), workdir=tmp_path)
    assert run.refused == []
    out = bv.find_outputs(run.out_dir)
    assert list(out.videos) == ["street_phone"] and seen and seen[-1] == pytest.approx(1.0)
    video = bv.load_video_csv(out.videos["street_phone"].csv)
    assert video["frame"].nunique() == 12
    assert out.videos["street_phone"].source_video() is None and not (run.out_dir.parent / "inputs").exists()  # uploads deleted
    images = bv.load_images_csv(out.images_csv)
    assert bv.faces_only(images)["emotion"].tolist() == ["happy"]
    assert bv.load_errors_csv(out.errors_csv)["path"].str.endswith("broken.jpg").tolist() == [True]


@pytest.mark.slow
def test_stream_finder_searches_the_whole_frame_only_every_n_frames(media):
    """The one stream detector (FaceFinder), with the live settings: a full pass every 6th frame, the face
    looked for around its last box between; a lost face is carried at most max_coast frames, then searched for."""
    from deepfer.analysis.detect import HaarDetector
    from deepfer.analysis.finder import FaceFinder
    from deepfer.analysis.stream import LIVE
    from deepfer.preprocess import read_image

    from .dashboard_factories import letterbox

    frame = letterbox(read_image(media / "justin.jpg"))
    full_calls = []

    class Counting(HaarDetector):
        def detect(self, image):
            if image.shape[:2] == frame.shape[:2]:
                full_calls.append(image.shape)
            return super().detect(image)

    finder = FaceFinder(Counting(), LIVE)
    boxes = [finder.find(frame).boxes for _ in range(14)]
    assert len(full_calls) == 3  # frames 0, 6 and 12; the others searched around the face only
    assert all(len(b) == 1 for b in boxes)
    assert np.abs(boxes[3] - boxes[0]).max() <= 0.2 * boxes[0][0, 2]  # the same face, about the same box
    blank = np.zeros_like(frame)
    carried = [len(finder.find(blank)) for _ in range(LIVE.max_coast + 1)]
    assert carried == [1] * LIVE.max_coast + [0] and len(full_calls) == 3  # coasted, then dropped
    finder.find(blank)
    assert len(full_calls) == 4  # no face left: the whole frame is searched
