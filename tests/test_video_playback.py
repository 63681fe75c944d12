"""An annotated video from ``python -m batch --annotate`` plays in a real browser: Debian's headless
Chromium, driven by Playwright, loads it in a ``<video>`` element served over HTTP from 127.0.0.1,
decodes it from the start, reports the source's duration, and seeks to the middle.

The same check on the MPEG-4 part 2 (``mp4v``) file OpenCV used to write fails (Chromium's media
error 4, "format not supported"): the control below keeps this test honest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .browser.helpers import CHROMIUM
from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.shared]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>playback</title></head>
<body style="margin:0;background:#222"><video id="v" src="{src}" preload="auto" muted controls width="596"></video></body></html>"""


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with HTTP range requests (as Streamlit and Gradio serve media): the browser fetches
    the part of the file it needs, and seeks by asking for another range."""

    def log_message(self, *args) -> None:  # quiet
        pass

    def send_head(self):
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if m is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start, end = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
        if start > end:
            self.send_error(416)
            return None
        f = path.open("rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._left = end - start + 1
        return f

    def copyfile(self, source, outputfile) -> None:
        left = getattr(self, "_left", None)
        if left is None:
            return super().copyfile(source, outputfile)
        while left > 0 and (chunk := source.read(min(64 * 1024, left))):
            outputfile.write(chunk)
            left -= len(chunk)


@pytest.fixture(scope="module")
def served(tmp_path_factory, media):
    """A folder with the batch's annotated video, an mp4v copy of the source and a page for each, served
    on a free port of 127.0.0.1; yields ``(base_url, folder)``."""
    folder = tmp_path_factory.mktemp("playback")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-m", "batch", str(media / "street_phone.mp4"), "--out", str(folder / "out"),
                          "--annotate", "--no-progress"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    _write_mp4v(media / "street_phone.mp4", folder / "mp4v.mp4")
    for name, src in (("annotated", "out/street_phone.annotated.mp4"), ("mp4v", "mp4v.mp4")):
        (folder / f"{name}.html").write_text(PAGE.format(src=src), encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (pip install -r requirements-dev.txt)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"])
        try:
            yield b
        finally:
            b.close()


def _write_mp4v(src: Path, dst: Path) -> None:
    """``src`` re-encoded as OpenCV's ``mp4v`` writer did before annotated videos were H.264."""
    import cv2

    from deepfer.analysis.video import iter_frames, read_video_info

    info = read_video_info(src)
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height))
    try:
        for _, _, frame in iter_frames(src):
            out.write(frame)
    finally:
        out.release()


STATE = """v => ({ready: v.readyState, error: v.error && v.error.code, duration: v.duration, time: v.currentTime,
                 width: v.videoWidth, height: v.videoHeight})"""

MEAN_PIXEL = """v => { const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2]; return s / (3 * d.length / 4); }"""


def _load(browser, url: str, timeout_ms: int = 30_000):
    """The page's video once it can show a frame, or has failed; its state."""
    page = browser.new_page(viewport={"width": 640, "height": 400})
    page.goto(url)
    video = page.locator("#v")
    page.wait_for_function("() => { const v = document.querySelector('#v'); return v.readyState >= 2 || v.error; }", timeout=timeout_ms)
    return page, video, video.evaluate(STATE)


def test_annotated_video_plays_and_seeks_in_chromium(browser, served, media):
    from deepfer.analysis.video import read_video_info

    base, folder = served
    source = read_video_info(media / "street_phone.mp4")
    mp4 = folder / "out" / "street_phone.annotated.mp4"
    data = mp4.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "the index must come first (+faststart)"

    page, video, state = _load(browser, f"{base}/annotated.html")
    try:
        assert state["error"] is None, f"media error {state['error']}"
        assert state["ready"] >= 2 and (state["width"], state["height"]) == (source.width, source.height), state
        assert state["duration"] == pytest.approx(source.duration_s, abs=0.2), state
        assert video.evaluate(MEAN_PIXEL) > 20  # a real picture, not a black frame

        middle = state["duration"] / 2
        video.evaluate("""(v, t) => new Promise((done, fail) => {
            v.addEventListener('seeked', () => done(), {once: true});
            v.addEventListener('error', () => fail(new Error('media error ' + v.error.code)), {once: true});
            v.currentTime = t; })""", middle)
        page.wait_for_function("() => document.querySelector('#v').readyState >= 2", timeout=30_000)
        after = video.evaluate(STATE)
        assert after["error"] is None and after["time"] == pytest.approx(middle, abs=0.05), after
        assert video.evaluate(MEAN_PIXEL) > 20

        video.evaluate("v => v.play()")
        page.wait_for_function(f"() => document.querySelector('#v').currentTime > {middle + 0.3}", timeout=30_000)
        shots = Path(os.environ.get("DEEPFER_SCREENSHOTS") or folder)
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "annotated_video_playback.png"))
    finally:
        page.close()


def test_control_the_old_mp4v_file_does_not_play(browser, served):
    """What the test above catches: Chromium refuses MPEG-4 part 2 (media error 4)."""
    base, _ = served
    page, _, state = _load(browser, f"{base}/mp4v.html")
    page.close()
    assert state["error"] == 4 and state["ready"] < 2, state
