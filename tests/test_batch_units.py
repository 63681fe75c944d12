"""batch sinks, inputs and summaries: small, model-free units."""

from __future__ import annotations

import numpy as np
import pytest

from batch.errors import BatchError
from batch.inputs import collect_inputs
from batch.plan import video_stems
from deepfer.faces import FACE_COLUMNS
from deepfer.fileio import write_json_atomic
from deepfer.outputs.columns import IMAGE_COLUMNS, SMOOTH_COLUMNS, VIDEO_COLUMNS
from deepfer.outputs.sinks import CSVSink, read_rows
from deepfer.outputs.summary import SummaryBuilder


def test_columns_derive_from_faces():
    assert VIDEO_COLUMNS == ("frame", "timestamp_s", *FACE_COLUMNS, *SMOOTH_COLUMNS, "raw_emotion")
    assert IMAGE_COLUMNS == ("path", *FACE_COLUMNS)
    assert ",".join(VIDEO_COLUMNS) == ("frame,timestamp_s,face_id,x,y,w,h,det_score,angry,disgust,fear,happy,neutral,sad,surprise,emotion,confidence,"
                                       "smooth_angry,smooth_disgust,smooth_fear,smooth_happy,smooth_neutral,smooth_sad,smooth_surprise,raw_emotion")


def test_csv_sink_is_atomic_and_strict(tmp_path):
    path = tmp_path / "a.csv"
    with CSVSink(path, ("x", "y")) as sink:
        sink.write_rows([{"x": 1, "y": 2}])
        assert not path.exists() and sink.tmp.is_file()
        assert read_rows(sink.tmp) == [{"x": "1", "y": "2"}]  # flushed at once
        with pytest.raises(ValueError, match="does not match the header"):
            sink.write_rows([{"x": 1}])
        with pytest.raises(ValueError, match="extra"):
            sink.write_rows([{"x": 1, "y": 2, "z": 3}])
        sink.commit()
    assert path.is_file() and not sink.tmp.exists()
    with CSVSink(tmp_path / "b.csv", ("x",)) as sink:  # left without commit: only the .tmp file
        sink.write_rows([{"x": 1}])
    assert not (tmp_path / "b.csv").exists() and (tmp_path / "b.tmp.csv").exists()


def test_read_rows_drops_a_half_written_line(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("x,y\n1,2\n3,", encoding="utf-8")
    assert read_rows(p) == [{"x": "1", "y": "2"}]


def test_write_json_atomic(tmp_path):
    import json

    data = {"é": 1, "nested": {"list": [1.5, None, "x"]}}
    p = write_json_atomic(tmp_path / "s.json", data)
    assert json.loads(p.read_text(encoding="utf-8")) == data and "é" in p.read_text(encoding="utf-8")  # UTF-8, not \u escapes
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.json"]  # no temporary file left
    write_json_atomic(p, {"replaced": True})
    assert json.loads(p.read_text(encoding="utf-8")) == {"replaced": True}


def test_collect_inputs(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("b.jpg", "a.mp4", "sub/c.PNG", "notes.txt", "sub/a.mov"):
        (tmp_path / "in" / name).write_bytes(b"x")
    (tmp_path / "in" / "out").mkdir()
    (tmp_path / "in" / "out" / "old.annotated.mp4").write_bytes(b"x")
    explicit = tmp_path / "weird.dat"
    explicit.write_bytes(b"x")
    out = tmp_path / "in" / "out"
    found = collect_inputs([tmp_path / "in", explicit, tmp_path / "in" / "b.jpg"], is_output=lambda p: p == out)
    items = found.items
    names = [(it.path.relative_to(tmp_path).as_posix(), it.kind) for it in items]
    assert names == [("in/a.mp4", "video"), ("in/b.jpg", "image"), ("in/sub/a.mov", "video"), ("in/sub/c.PNG", "image"), ("weird.dat", "unknown")]
    assert [(s.path.name, s.reason, s.error) for s in found.skips] == [("notes.txt", "not an image or video file (.txt)", False)]
    stems = video_stems(items)
    assert sorted(stems.values()) == ["a", "a_2"]


def test_missing_inputs_fail_fast(tmp_path):
    with pytest.raises(BatchError, match="input not found: .*nope"):
        collect_inputs([tmp_path, tmp_path / "nope"])
    with pytest.raises(BatchError, match="no inputs"):
        collect_inputs([])


def test_summary_shares_and_segments():
    sb = SummaryBuilder(fps=10.0, stride=1)
    happy, sad = np.eye(7)[[3]], np.eye(7)[[5]]
    for f in range(4):  # the raw argmax says sad in frame 1; the shown (decided) emotion stays happy
        sb.add(f, f / 10, np.array([0]), np.array([3]), happy, np.array([5 if f == 1 else 3]))
    sb.add(4, 0.4, np.array([], np.int64), np.zeros(0, np.int64), np.zeros((0, 7)))
    for f in range(5, 7):
        sb.add(f, f / 10, np.array([0]), np.array([5]), sad)
    s = sb.to_json(frames=7)
    assert s["frames_analyzed"] == 7 and s["frames_with_face"] == 6 and s["faces_tracked"] == 1
    face = s["faces"]["0"]
    assert face["share"]["happy"] == pytest.approx(4 / 6, abs=1e-4) and face["dominant"] == "happy"
    assert [(g["start_s"], g["end_s"], g["emotion"]) for g in face["segments"]] == [(0.0, 0.4, "happy"), (0.5, 0.7, "sad")]
    assert s["overall"]["segments"] == face["segments"]
    assert face["share_raw"]["sad"] == pytest.approx(3 / 6, abs=1e-4) and face["share"]["sad"] == pytest.approx(2 / 6, abs=1e-4)


def test_prefetch_keeps_order_reraises_and_stops_early():
    import threading

    from deepfer.analysis.video import prefetch as _prefetch

    assert list(_prefetch(iter(range(50)), size=4)) == list(range(50))

    def broken():
        yield 1
        raise RuntimeError("decoder died")

    it = _prefetch(broken())
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="decoder died"):
        next(it)
    before = threading.active_count()
    gen = _prefetch(iter(range(10**6)), size=2)
    assert next(gen) == 0
    gen.close()  # the consumer stops early: the decoding thread ends too
    assert threading.active_count() <= before


def test_package_exports_resolve():
    """``from batch import ...`` names what the README shows (the lazy exports point at real modules)."""
    import batch
    from batch.engines.local import run_batch
    from deepfer.outputs.video import analyze_video

    assert batch.run_batch is run_batch and batch.analyze_video is analyze_video
    assert {n: getattr(batch, n) for n in batch.__all__}
