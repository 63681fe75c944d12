"""The Gradio page in headless Chromium, served by ``python -m deepfer gradio`` in a subprocess."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .browser.helpers import CHROMIUM, chromium_args, free_port, stop_process_group
from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.shared]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """``python -m deepfer gradio`` on a free loopback port (its own process group, stopped after)."""
    port = free_port()
    log = tmp_path_factory.mktemp("gradio") / "server.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "deepfer", "gradio", "--port", str(port)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the gradio server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the gradio server did not start within 180 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: ``$DEEPFER_SCREENSHOTS`` (as for the dashboard's tests) or a temp folder."""
    folder = Path(os.environ.get("DEEPFER_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    print(f"\ngradio screenshots in {folder}")


def write_y4m(path: Path, bgr, frames: int = 10) -> Path:
    """A still image as a short YUV4MPEG2 video, for Chromium's fake camera (even width and height)."""
    import cv2

    h, w = (d - d % 2 for d in bgr.shape[:2])
    yuv = cv2.cvtColor(bgr[:h, :w], cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + yuv)
    return path


@pytest.fixture(scope="module")
def page(media, tmp_path_factory):
    """A headless Chromium page (the dashboard tests' set-up) whose fake camera films justin.jpg."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need playwright (pip install -r requirements-dev.txt)")
    from deepfer.preprocess import read_image

    camera = write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", read_image(media / "justin.jpg"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=chromium_args(camera))
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        pg.set_default_timeout(60_000)
        try:
            yield pg
        finally:
            browser.close()


def open_tab(page, url: str, tab: str) -> None:
    page.goto(url)
    page.get_by_text("Facial emotion recognition").wait_for()
    page.get_by_role("tab", name=tab).click()


def test_image_tab(app_url, page, media, shots):
    open_tab(page, app_url, "Image")
    for tab in ("Image", "Webcam", "Video"):
        assert page.get_by_role("tab", name=tab).is_visible()
    page.locator("#image-in input[type=file]").set_input_files(str(media / "justin.jpg"))
    page.locator("#image-in img").wait_for()  # uploaded and previewed
    page.locator("#image-analyze").click()
    page.locator("#image-table").get_by_text("happy").first.wait_for()
    page.locator("#image-out img").wait_for()
    assert '"happy"' in page.locator("#image-json").inner_text()
    shot = shots / "gradio_image_tab.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000


def test_corrupt_upload_shows_a_clear_error(app_url, page, tmp_path, shots):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 20)
    open_tab(page, app_url, "Image")
    page.locator("#image-in input[type=file]").set_input_files(str(bad))
    page.locator("#image-analyze").click()
    toast = page.get_by_test_id("toast-text").filter(has_text="not a readable image")
    toast.wait_for(state="visible")
    page.wait_for_timeout(800)  # let the toast finish sliding in
    page.screenshot(path=str(shots / "gradio_error.png"))


def test_webcam_tab_streams_annotated_frames(app_url, page, shots):
    open_tab(page, app_url, "Webcam")
    page.get_by_text("Click to Access Webcam").click()
    # Start streaming only once the camera plays (an earlier click can be lost on a busy machine).
    page.wait_for_function("() => { const v = document.querySelector('#webcam-in video'); return v && v.readyState >= 2 && v.videoWidth > 0; }")
    page.locator("#webcam-in button[aria-label='capture photo']").click()
    page.locator("#webcam-in").get_by_text("Stop").wait_for()  # streaming
    # the <img> appears before its first frame has loaded: wait for pixels, not for the element
    page.wait_for_function("() => { const i = document.querySelector('#webcam-out img'); return i && i.complete && i.naturalWidth > 0; }")
    w, h = page.locator("#webcam-out img").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert w > 100 and abs(w / h - 380 / 384) < 0.02  # the fake camera's frames (380x384), annotated and sent back
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shots / "gradio_webcam_tab.png"))


def test_video_tab(app_url, page, media, shots):
    pytest.importorskip("batch.engines.local", reason="the batch module is not in this checkout")
    open_tab(page, app_url, "Video")
    page.locator("#video-in input[type=file]").set_input_files(str(media / "street_phone.mp4"))
    page.locator("#video-in video").wait_for()
    page.locator("#video-analyze").click()
    from playwright.sync_api import expect

    files = page.locator("#video-files")
    expect(files).to_contain_text(re.compile(r"street_phone\s*\.csv"), timeout=180_000)  # the page splits name and extension
    expect(files).to_contain_text(re.compile(r"street_phone\.annotated\s*\.mp4"))
    video = page.locator("#video-out video")
    video.wait_for()
    page.wait_for_function("() => document.querySelector('#video-out video').readyState >= 2")  # the browser decodes it
    assert video.evaluate("v => v.duration") == pytest.approx(115 / 24.7, abs=0.3)
    page.locator("#video-plot .js-plotly-plot").wait_for()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(shots / "gradio_video_tab.png"), full_page=True)
