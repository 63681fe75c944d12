"""Golden tests of the batch outputs on the real media in ../shared/media."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from batch.engines.local import run_batch
from deepfer.analysis.video import iter_frames, read_video_info
from deepfer.labels import EMOTIONS
from deepfer.outputs.columns import IMAGE_COLUMNS, SMOOTH_COLUMNS, VIDEO_COLUMNS
from deepfer.outputs.video import analyze_video as process_video

pytestmark = pytest.mark.shared


def _pts(video) -> np.ndarray:
    """Each frame's presentation time in seconds, as PyAV decodes them."""
    import av

    with av.open(str(video)) as c:
        s = c.streams.video[0]
        return np.array([float(f.pts * s.time_base) for f in c.decode(s)]) - float((s.start_time or 0) * s.time_base)


@pytest.fixture(scope="module")
def street(media, pipeline, tmp_path_factory):
    """street_phone.mp4 analyzed once with --annotate and the default temporal model (shared by the tests below)."""
    out = tmp_path_factory.mktemp("street")
    vo = process_video(media / "street_phone.mp4", out, pipeline, annotate=True)
    return vo, pd.read_csv(vo.csv_path, keep_default_na=False)


def test_video_csv_has_a_row_for_every_frame(street, media):
    vo, df = street
    assert tuple(df.columns) == VIDEO_COLUMNS
    assert sorted(df["frame"].unique()) == list(range(115))
    first = df.drop_duplicates("frame")
    # presentation times from the container (40 ms apart here; the container declares 24.70 fps)
    assert np.allclose(first["timestamp_s"].astype(float), _pts(media / "street_phone.mp4"), atol=1e-5)
    assert vo.csv_path.name == "street_phone.csv" and not list(vo.csv_path.parent.glob("*.tmp*"))


def test_video_face_found_and_tracked(street):
    _, df = street
    faces = df[df["face_id"] != ""]
    assert faces["frame"].nunique() >= 0.99 * 115  # YuNet: the face in every frame (Haar: 114 of 115)
    assert faces["face_id"].value_counts().iloc[0] >= 0.95 * len(faces)
    probs = faces[list(EMOTIONS)].astype(float).to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    smooth = faces[list(SMOOTH_COLUMNS)].astype(float).to_numpy()
    assert np.allclose(smooth.sum(axis=1), 1.0, atol=1e-4)
    assert (faces["raw_emotion"] == [EMOTIONS[i] for i in probs.argmax(axis=1)]).all()
    conf = smooth[np.arange(len(faces)), [EMOTIONS.index(e) for e in faces["emotion"]]]
    assert np.allclose(faces["confidence"].astype(float), conf, atol=1e-6)  # the shown emotion's smoothed probability
    one = faces[faces["face_id"] == faces["face_id"].value_counts().index[0]]
    changes = (one["emotion"] != one["emotion"].shift()).sum() - 1
    assert changes <= (one["timestamp_s"].astype(float).max() - one["timestamp_s"].astype(float).min()) / 1.0 + 1  # hold 1 s
    # one face, no second box on the street light or the chest
    assert faces.groupby("frame").size().max() == 1


def test_video_summary_and_annotated_copy(street):
    vo, df = street
    s = json.loads(vo.summary_path.read_text(encoding="utf-8"))
    assert s["frames"] == 115 and s["frames_analyzed"] == 115 and 24.5 < s["fps"] < 24.9
    assert s["faces_tracked"] >= 1 and s["frames_with_face"] >= 110
    for block in [s["overall"], *s["faces"].values()]:
        assert sum(block["share"].values()) == pytest.approx(1.0, abs=1e-3)
        segs = block["segments"]
        assert all(g["start_s"] < g["end_s"] and g["emotion"] in EMOTIONS for g in segs)
        assert all(a["end_s"] <= b["start_s"] + 1e-6 for a, b in zip(segs, segs[1:]))
    assert vo.annotated_path.name == "street_phone.annotated.mp4"
    info = read_video_info(vo.annotated_path)
    assert (info.width, info.height, info.frame_count) == (596, 336, 115)


def test_stride_keeps_true_frame_numbers(media, pipeline, tmp_path):
    vo = process_video(media / "street_phone.mp4", tmp_path, pipeline, stride=4, annotate=True)
    df = pd.read_csv(vo.csv_path, keep_default_na=False)
    assert sorted(df["frame"].unique()) == list(range(0, 115, 4))
    src, ann = read_video_info(media / "street_phone.mp4"), read_video_info(vo.annotated_path)
    assert ann.frame_count == 29 and abs(ann.duration_s - src.duration_s) < 0.3  # plays in real time, not 4x fast
    assert json.loads(vo.summary_path.read_text())["frames"] == 115
    assert np.allclose(df["timestamp_s"], _pts(media / "street_phone.mp4")[df["frame"].to_numpy()], atol=1e-5)


def test_images_csv_and_sort_into(media, pipeline, tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    for name in ("justin.jpg", "test_image.jpg", "no-faces.jpg"):
        shutil.copy(media / name, src / name)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    progress = []
    report = run_batch([src], tmp_path / "out", sort_into=tmp_path / "sorted", pipeline=pipeline, progress=False,
                       on_progress=lambda f, m: progress.append(f))
    assert report.ok and report.images == 3
    df = pd.read_csv(report.images_csv, keep_default_na=False)
    assert tuple(df.columns) == IMAGE_COLUMNS
    per = df.groupby("path").size()
    assert per[str(src / "test_image.jpg")] == 6  # every face, no false positive (Haar found 5)
    assert per[str(src / "justin.jpg")] == 1
    none = df[df["path"] == str(src / "no-faces.jpg")]
    assert len(none) == 1 and (none.drop(columns="path") == "").all(axis=None)
    emotion = df[df["path"] == str(src / "justin.jpg")]["emotion"].iloc[0]
    assert (tmp_path / "sorted" / emotion / "justin.jpg").read_bytes() == before["justin.jpg"]
    assert (tmp_path / "sorted" / "_multiple" / "test_image.jpg").is_file()
    assert (tmp_path / "sorted" / "_no_face" / "no-faces.jpg").is_file()
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # originals untouched
    assert progress and progress[-1] == pytest.approx(1.0) and progress == sorted(progress)
    assert (tmp_path / "out" / "errors.csv").read_text().strip() == "path,error"


def test_folder_of_face_crops(shared, pipeline, tmp_path):
    """48x48 FER2013 crops are classified whole (no detector on a 48x48 crop)."""
    src = shared / "data" / "fer2013" / "validation" / "happy"
    crops = sorted(src.glob("*.jpg"))[:40]
    for p in crops:
        shutil.copy(p, tmp_path / p.name)
    report = run_batch([tmp_path], tmp_path / "out", pipeline=pipeline, progress=False)
    df = pd.read_csv(report.images_csv, keep_default_na=False)
    assert len(df) == 40 and (df["w"] == 48).all()
    assert (df["emotion"] == "happy").mean() > 0.6


def test_frames_stream(media):
    """iter_frames streams: frames are decoded as they are consumed, never all at once (a 2-hour video
    must not be held in memory), and closing it early stops the decoding."""
    stats: dict = {}
    gen = iter_frames(media / "street_phone.mp4", stats=stats)
    assert stats == {}  # nothing opened or decoded before the first frame is asked for
    first = [next(gen)[0] for _ in range(3)]
    assert first == [0, 1, 2] and stats["frames"] == 2  # 3 frames handed out, the 3rd not yet counted as done
    gen.close()
    assert stats["frames"] == 2 and stats["frames"] < 115


def test_progress_is_reported_in_the_callers_thread(media, pipeline, tmp_path):
    """The dashboard draws its progress bar from the callback: it must run in the calling thread."""
    import threading

    seen = []
    process_video(media / "street_phone.mp4", tmp_path, pipeline, stride=5,
                  on_progress=lambda f, m: seen.append((f, m, threading.current_thread() is threading.main_thread())))
    assert seen and all(main for *_, main in seen)
    assert [f for f, *_ in seen] == sorted(f for f, *_ in seen) and seen[-1][0] == pytest.approx(1.0, abs=0.05)
    assert "street_phone.mp4: frame" in seen[-1][1]


def test_several_faces_keep_distinct_ids_across_frames(media, pipeline, tmp_path):
    """A 40-frame video of the group photo panning slowly: six faces in every frame, six ids, each kept."""
    import cv2

    img = cv2.imread(str(media / "test_image.jpg"))
    h, w = img.shape[:2]
    scale = 960 / w
    img = cv2.resize(img, (960, round(h * scale)), interpolation=cv2.INTER_AREA)
    path = tmp_path / "group.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20, (880, img.shape[0] - 40))
    for i in range(40):
        dx, dy = 2 * i, i // 2
        out.write(np.ascontiguousarray(img[dy : dy + img.shape[0] - 40, dx : dx + 880]))
    out.release()
    vo = process_video(path, tmp_path / "out", pipeline)
    df = pd.read_csv(vo.csv_path, keep_default_na=False)
    faces = df[df["face_id"] != ""]
    per_frame = faces.groupby("frame").size()
    assert len(per_frame) == 40 and (per_frame == 6).mean() >= 0.95, per_frame.value_counts().to_dict()
    ids = faces["face_id"].astype(int)
    assert ids.nunique() == 6, ids.value_counts().to_dict()  # no id switches, no ghost ids
    assert (faces.groupby("frame")["face_id"].nunique() == per_frame).all()  # distinct ids within a frame
