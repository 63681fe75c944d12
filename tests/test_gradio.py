"""The Gradio app: the /predict API through gradio_client, bad input, concurrency, the handlers."""

from __future__ import annotations

import functools
import importlib.util
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import EMOTIONS, REPO, write_image

pytestmark = pytest.mark.shared


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(pipeline):
    """The app on a free loopback port, in this process (sharing the session's model)."""
    from deepfer.apps.gradio_app import build_app, launch

    demo = build_app(pipeline)
    _, url, _ = launch(demo, "127.0.0.1", free_port(), block=False, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    c = Client(server, verbose=False)
    yield c
    c.close()


def predict(client, path):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), api_name="/predict")


@functools.cache
def load_benchmark():
    """benchmarks/gradio_load.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gradio_load", REPO / "benchmarks" / "gradio_load.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gradio_load"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_server_listens_on_loopback_and_exposes_only_predict(server, client):
    assert server.startswith("http://127.0.0.1:")
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == {"/predict"}


def test_building_the_app_writes_nothing_into_the_package(server):
    assert not (REPO / "deepfer" / "gradio_app.pyi").exists()  # Gradio writes stubs for Component subclasses


def test_predict_one_face(client, media):
    out = predict(client, media / "justin.jpg")
    assert set(out) == {"faces"} and len(out["faces"]) == 1
    face = out["faces"][0]
    assert set(face) == {"box", "det_score", "probabilities", "emotion", "confidence"}
    x, y, w, h = face["box"]
    assert 0 <= x and 0 <= y and 50 < w < 384 and 50 < h < 384 and x + w <= 381 and y + h <= 384
    probs = face["probabilities"]
    assert list(probs) == list(EMOTIONS)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert face["emotion"] == max(probs, key=probs.get) == "happy"
    assert face["confidence"] == pytest.approx(max(probs.values()))


def test_predict_no_face_is_an_empty_list(client, media):
    assert predict(client, media / "no-faces.jpg") == {"faces": []}


def test_predict_several_faces(client, media):
    faces = predict(client, media / "test_image.jpg")["faces"]
    assert len(faces) >= 4
    assert len({tuple(f["box"]) for f in faces}) == len(faces)


BAD_FILES = {
    "garbage.jpg": b"\xff\xd8\xff\xe0 this is not really a jpeg" * 20,
    "notes.txt": b"hello, I am a text file\n",
    "empty.png": b"",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_gives_a_clear_error_and_the_next_call_works(client, media, tmp_path, name):
    from gradio_client.exceptions import AppError

    bad = tmp_path / name
    bad.write_bytes(BAD_FILES[name])
    with pytest.raises(AppError, match="not a readable image"):
        predict(client, bad)
    assert len(predict(client, media / "justin.jpg")["faces"]) == 1


def test_too_many_pixels_is_refused(client, media, tmp_path):
    from gradio_client.exceptions import AppError

    from deepfer.config import MAX_PIXELS

    side = int(MAX_PIXELS**0.5) + 100
    huge = tmp_path / "huge.png"
    write_image(huge, np.zeros((side, side), np.uint8))  # compresses to a few kB
    assert huge.stat().st_size < 1_000_000
    with pytest.raises(AppError, match="image too large"):
        predict(client, huge)
    assert len(predict(client, media / "justin.jpg")["faces"]) == 1


def test_the_shared_pixel_limit_applies_and_can_be_changed(client, media, monkeypatch):
    """DEEPFER_MAX_PIXELS (read on each call) is Gradio's limit too: lowered, justin.jpg is too large."""
    from gradio_client.exceptions import AppError

    from deepfer.apps.gradio_app import load_upload
    from deepfer.errors import ImageError

    monkeypatch.setenv("DEEPFER_MAX_PIXELS", "1000")
    with pytest.raises(ImageError, match=r"image too large: \d+x\d+ pixels .*set DEEPFER_MAX_PIXELS"):
        load_upload(media / "justin.jpg")
    with pytest.raises(AppError, match="image too large"):
        predict(client, media / "justin.jpg")  # the server runs in this process: same environment
    monkeypatch.undo()
    assert len(predict(client, media / "justin.jpg")["faces"]) == 1


def test_pil_own_bomb_limit_gives_a_clear_error(client, media, monkeypatch):
    """PIL refuses images over 2 x MAX_IMAGE_PIXELS on open (Gradio opens uploads with PIL); lowered so that
    justin.jpg is one, that refusal is a clear message too, never a traceback."""
    import PIL.Image
    from gradio_client.exceptions import AppError

    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(AppError, match="image too large"):
        predict(client, media / "justin.jpg")
    monkeypatch.undo()
    assert len(predict(client, media / "justin.jpg")["faces"]) == 1


def test_oversized_upload_is_refused_by_client_and_server(server, client, media, tmp_path):
    import httpx

    from deepfer.apps.gradio_app import MAX_UPLOAD_MB

    big = tmp_path / "big.jpg"
    big.write_bytes((media / "justin.jpg").read_bytes() + b"\0" * (MAX_UPLOAD_MB * 2**20))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        predict(client, big)  # gradio_client checks the limit the server announces
    with big.open("rb") as f:  # and the server enforces it for any other client
        r = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.jpg", f, "image/jpeg")}, timeout=60)
    assert r.status_code == 413, r.text
    assert len(predict(client, media / "justin.jpg")["faces"]) == 1


def test_concurrent_clients_each_get_their_own_answer(server, media, tmp_path):
    """A small run of the load benchmark: 24 calls from 4 clients, each checking its own face."""
    from deepfer.preprocess import read_image

    bench = load_benchmark()
    box = bench.reference_box(server, media / "justin.jpg")
    variants = bench.make_variants(read_image(media / "justin.jpg"), box, 4, tmp_path)
    stats = bench.run_load(server, variants, calls=24, clients=4, timeout_s=120)
    assert stats["answered"] == 24 and stats["errors"] == 0


def test_load_check_detects_a_mixed_up_answer(media, tmp_path):
    bench = load_benchmark()
    variants = bench.make_variants(np.zeros((384, 381, 3), np.uint8), (89, 84, 192, 192), 4, tmp_path)
    answer = {"faces": [{"box": list(variants[1].box), "probabilities": dict.fromkeys(EMOTIONS, 1 / 7)}]}
    assert bench.check_answer(answer, variants[1], variants) is None
    assert "not this client's face" in bench.check_answer(answer, variants[0], variants)
    assert "expected one face" in bench.check_answer({"faces": []}, variants[0], variants)
    with pytest.raises(ValueError, match="loopback"):
        bench.run_load("http://example.com:7860/", variants, calls=1, clients=1)


# --- the handlers behind the UI, called directly ---


@pytest.fixture(scope="module")
def handlers(pipeline):
    from deepfer.apps.gradio_app import Handlers

    return Handlers(pipeline)


def test_image_tab_detector_choice(handlers, media):
    from deepfer.errors import DeepFERError

    assert len(handlers.analyze_image(str(media / "test_image.jpg"))[1]) == 6  # the default, YuNet
    assert len(handlers.analyze_image(str(media / "test_image.jpg"), "haar")[1]) == 5  # Haar misses the man with the cap
    assert handlers.with_detector("haar") is handlers.with_detector("haar")  # made once
    assert handlers.with_detector("haar").classifier is handlers.pipeline.classifier  # one model in memory
    with pytest.raises(DeepFERError, match="unknown detector"):
        handlers.analyze_image(str(media / "test_image.jpg"), "nope")


def test_image_tab_returns_annotated_image_table_and_json(handlers, media):
    import cv2

    rgb, table, js = handlers.analyze_image(str(media / "justin.jpg"))
    original = cv2.imread(str(media / "justin.jpg"))[:, :, ::-1]
    assert rgb.shape == original.shape and not np.array_equal(rgb, original)  # boxes drawn, colours RGB
    assert len(table) == 1 and table[0][1] == "happy" and len(table[0]) == 3 + len(EMOTIONS)
    assert sum(table[0][3:]) == pytest.approx(100, abs=0.5)
    assert js["faces"][0]["emotion"] == "happy"


def test_image_tab_without_an_image_says_so(handlers):
    from deepfer.errors import ImageError

    with pytest.raises(ImageError, match="no image given"):
        handlers.analyze_image(None)


def test_webcam_frame_is_annotated(handlers, media):
    import cv2

    rgb = np.ascontiguousarray(cv2.imread(str(media / "justin.jpg"))[:, :, ::-1])
    out, stream = handlers.webcam_frame(rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8 and not np.array_equal(out, rgb)
    out2, same = handlers.webcam_frame(rgb, stream)  # the session's stream analyzer: the face keeps its id
    assert same is stream and stream.tracker.active_ids == [0]
    blank = np.zeros((120, 160, 3), np.uint8)
    fresh_out, _ = handlers.webcam_frame(blank)
    assert np.array_equal(fresh_out, blank)  # no face: frame unchanged
    assert handlers.webcam_frame(None, stream) == (None, stream)
    _, haar_stream = handlers.webcam_frame(rgb, stream, "haar")  # another detector: a new analyzer for the session
    assert haar_stream is not stream and haar_stream.detector_name == "haar"
    assert handlers.webcam_frame(rgb, haar_stream, "haar")[1] is haar_stream


def test_video_tab_needs_no_batch_module(handlers, media, monkeypatch):
    """The video tab runs the core's per-video analysis: it works where the batch package is missing."""
    from deepfer.errors import DeepFERError

    for name in [m for m in sys.modules if m == "batch" or m.startswith("batch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "batch", None)  # makes any `import batch...` fail
    files, _, _ = handlers.analyze_video(str(media / "street_phone.mp4"), 10)
    assert any(f.endswith("street_phone.csv") for f in files)
    with pytest.raises(DeepFERError, match="no video given"):
        handlers.analyze_video(None, 1)


def test_video_tab_runs_the_batch_pipeline(handlers, media):
    import av
    import pandas as pd

    seen = []
    files, preview, fig = handlers.analyze_video(str(media / "street_phone.mp4"), 5, lambda f, desc=None: seen.append(f))
    csv, mp4, summary = (Path(f) for f in files)
    assert csv.suffix == ".csv" and mp4.suffix == ".mp4" and summary.suffix == ".json"
    df = pd.read_csv(csv)
    assert {"frame", "timestamp_s", *EMOTIONS, "emotion"} <= set(df.columns) and df.frame.nunique() == 23  # 115 frames / 5
    assert (df.emotion.dropna() != "").sum() >= 15  # one woman, visible most of the time
    assert Path(preview) == mp4 and mp4.stat().st_size > 10_000  # the annotated video itself: H.264, browsers play it
    with av.open(str(mp4)) as c:
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.video[0].frames == 23
    assert [t.name for t in fig.data] == list(EMOTIONS) and len(fig.data[0].x) == 23
    assert seen and seen == sorted(seen) and 0.9 <= seen[-1] <= 1.0  # progress reaches the UI


def test_video_tab_refuses_a_non_video(handlers, tmp_path):
    from deepfer.errors import DeepFERError

    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"not a video at all" * 100)
    with pytest.raises(DeepFERError, match="holiday.mp4") as e:
        handlers.analyze_video(str(fake), 1)
    assert str(tmp_path) not in str(e.value)


def test_ui_wrapper_turns_errors_into_gradio_errors(caplog):
    import gradio as gr

    from deepfer.apps.gradio_app import _user_errors
    from deepfer.errors import ImageError

    def bad_input(_):
        raise ImageError("not a readable image <b>x</b>")

    def bug(_):
        raise ZeroDivisionError("boom")

    with pytest.raises(gr.Error, match="not a readable image &lt;b&gt;") as e:
        _user_errors(bad_input)(None)
    assert e.value.print_exception is False
    with pytest.raises(gr.Error, match="internal error") as e:
        _user_errors(bug)(None)
    assert "boom" not in str(e.value) and "ZeroDivisionError" in caplog.text  # logged, not shown


def test_emotion_plot_from_a_csv(tmp_path):
    from deepfer.apps.gradio_app import emotion_plot

    rows = ["frame,timestamp_s,face_id,x,y,w,h,det_score," + ",".join(EMOTIONS) + ",emotion,confidence"]
    rows.append("0,0.0,1,10,10,50,50,5.0,0.1,0,0,0.7,0.2,0,0,happy,0.7")
    rows.append("0,0.0,2,90,10,50,50,5.0,0.3,0,0,0.1,0.6,0,0,neutral,0.6")
    rows.append("1,0.04,,,,,,," + "," * len(EMOTIONS) + ",")  # a frame without a face
    csv = tmp_path / "faces.csv"
    csv.write_text("\n".join(rows) + "\n")
    fig = emotion_plot(csv)
    happy = next(t for t in fig.data if t.name == "happy")
    assert len(fig.data) == len(EMOTIONS) and happy.y[0] == pytest.approx(0.4) and np.isnan(happy.y[1])


def test_gradio_command_explains_itself():
    r = subprocess.run([sys.executable, "-m", "deepfer", "gradio", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--host" in r.stdout and "127.0.0.1" in r.stdout and "/predict" in r.stdout


def test_gradio_command_reports_a_busy_port_and_a_missing_model(tmp_path, capsys):
    from deepfer.apps.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["gradio", "--port", str(busy.getsockname()[1])]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err
    assert main(["gradio", "--port", str(free_port()), "--model", str(tmp_path / "missing.keras")]) == 2
    assert "missing.keras" in capsys.readouterr().err
