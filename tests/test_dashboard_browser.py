"""End to end in a real browser: Debian's headless Chromium driven by Playwright against the app
served on 127.0.0.1.  Screenshots of every page go to ``$DEEPFER_SCREENSHOTS`` (default: a pytest
temp folder, printed).  The live page streams a fake camera made from street_phone.mp4."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .browser.helpers import CHROMIUM, chromium_args, serve_dashboard
from .dashboard_factories import letterbox, make_images_output, make_video_output, write_y4m

pytestmark = pytest.mark.slow

LABEL = re.compile(r"face #\d+ (angry|disgust|fear|happy|neutral|sad|surprise)")


@pytest.fixture(scope="module")
def browser_env(tmp_path_factory, shared):
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need playwright (pip install -r requirements-dev.txt)")
    from deepfer.analysis.video import iter_frames

    tmp = tmp_path_factory.mktemp("browser")
    frames = [letterbox(f) for i, _, f in iter_frames(shared / "media" / "street_phone.mp4", 1) if i < 60]
    y4m = write_y4m(tmp / "camera.y4m", frames)
    shots = Path(os.environ.get("DEEPFER_SCREENSHOTS") or tmp / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    out = _batch_output(tmp, shared / "media")
    env = {"DEEPFER_SHARED": str(shared), "DEEPFER_ICE_SERVERS": "", "DEEPFER_ICE_SERVERS_FILE": "",
           "DEEPFER_DASHBOARD_WORKDIR": str(tmp / "uploads"), "DEEPFER_RESULTS_DIR": str(tmp)}
    with serve_dashboard(env, log_path=tmp / "streamlit.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=chromium_args(y4m))
        context = browser.new_context(viewport={"width": 1400, "height": 2200})
        try:
            yield {"url": url, "context": context, "shots": shots, "batch": out, "media": shared / "media", "log": tmp / "streamlit.log"}
        finally:
            context.close()
            browser.close()
    print(f"\nscreenshots in {shots}")


def _batch_output(tmp: Path, media: Path) -> Path:
    """A real batch run on the shared media when the batch module is there, else a generated folder."""
    try:
        from batch.engines.local import run_batch
    except ImportError:
        return make_images_output(make_video_output(tmp / "batch", stem="street_phone"), tmp / "imgs")
    run_batch([media / "street_phone.mp4", media / "justin.jpg", media / "test_image.jpg"], tmp / "batch", stride=2, smooth_s=0.5,
              progress=False)
    return tmp / "batch"


def _open(env, path: str, title: str):
    page = env["context"].new_page()
    page.goto(env["url"] + path, wait_until="domcontentloaded")
    page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
    return page


def _settle(page, timeout: float = 120_000):
    """Wait until the script run is over (Streamlit's status widget disappears)."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout)


def _no_exception(page):
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').first.inner_text()


def test_home_training_and_dataset_pages(browser_env):
    page = _open(browser_env, "/", "DeepFER: facial emotion recognition")
    page.get_by_text("validation accuracy").first.wait_for(timeout=120_000)
    _settle(page)
    _no_exception(page)
    page.screenshot(path=str(browser_env["shots"] / "home.png"), full_page=True)
    page.locator('input[type="file"]').set_input_files(str(browser_env["media"] / "test_image.jpg"))
    page.get_by_text(re.compile(r"\d+ face\(s\)")).first.wait_for(timeout=60_000)
    _settle(page)
    _no_exception(page)
    page.screenshot(path=str(browser_env["shots"] / "home_photo.png"), full_page=True)
    page.close()

    page = _open(browser_env, "/Training", "Training")
    page.locator(".js-plotly-plot").nth(5).wait_for(timeout=60_000)
    _settle(page)
    _no_exception(page)
    page.screenshot(path=str(browser_env["shots"] / "training.png"), full_page=True)
    page.close()

    page = _open(browser_env, "/Dataset", "Dataset")
    page.get_by_text("Unreadable files: 0").wait_for(timeout=180_000)
    _settle(page)
    _no_exception(page)
    page.screenshot(path=str(browser_env["shots"] / "dataset.png"), full_page=True)
    page.close()


def test_batch_explorer_page(browser_env):
    page = _open(browser_env, "/Batch_explorer", "Batch explorer")
    _settle(page)
    box = page.locator('input[aria-label^="Or a batch output folder under"]')
    box.fill(str(browser_env["batch"]))
    box.press("Enter")
    page.locator(".js-plotly-plot").nth(2).wait_for(timeout=60_000)
    _settle(page)
    _no_exception(page)
    page.screenshot(path=str(browser_env["shots"] / "batch_video.png"), full_page=True)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Result").click()
    page.get_by_role("option", name="images").click()
    page.get_by_text(re.compile(r"\d+ image\(s\), \d+ face\(s\)")).wait_for(timeout=60_000)
    _settle(page)
    _no_exception(page)
    page.screenshot(path=str(browser_env["shots"] / "batch_images.png"), full_page=True)
    page.close()


def test_batch_explorer_runs_the_batch_on_uploads(browser_env, tmp_path):
    pytest.importorskip("batch.engines.local", reason="the batch module is not available")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    page = _open(browser_env, "/Batch_explorer", "Batch explorer")
    _settle(page)
    page.get_by_text("Upload videos or images and run the batch").click()
    page.locator('input[type="file"]').set_input_files([str(browser_env["media"] / "justin.jpg"), str(broken)])
    page.get_by_role("button", name="Run the batch").click(timeout=60_000)
    page.get_by_text("1 input(s) failed").wait_for(timeout=120_000)
    _settle(page)
    _no_exception(page)
    assert page.get_by_text("1 image(s), 1 face(s), 0 image(s) without a face").count() == 1
    page.screenshot(path=str(browser_env["shots"] / "batch_uploads.png"), full_page=True)
    page.close()


def test_live_page_labels_the_face_from_the_fake_camera(browser_env):
    page = _open(browser_env, "/Live_webcam", "Live webcam")
    frame = page.frame_locator('iframe[title*="webrtc"]').first
    frame.get_by_role("button", name="START").click(timeout=60_000)
    try:
        page.get_by_text(LABEL).first.wait_for(timeout=120_000)
    except Exception:
        page.screenshot(path=str(browser_env["shots"] / "live_failed.png"), full_page=True)
        raise AssertionError(f"no emotion label appeared on the live page; server log: {browser_env['log']}") from None
    page.wait_for_timeout(3000)  # let the video element show annotated frames and the chart fill
    page.screenshot(path=str(browser_env["shots"] / "live.png"), full_page=True)
    text = page.get_by_text(LABEL).first.inner_text()
    assert LABEL.search(text), text
    assert page.get_by_text(re.compile(r"Per-frame processing: [\d.]+ ms")).count() >= 1
    _no_exception(page)
    frame.get_by_role("button", name="STOP").click(timeout=30_000)
    page.close()
