from __future__ import annotations

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow


def test_home_page_renders_with_the_committed_model():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "dashboard" / "Home.py"), default_timeout=120).run()
    assert not at.exception
    assert "DeepFER" in at.title[0].value
    assert any("validation accuracy" in str(t.value) for t in at.table)
    card = " ".join(str(t.value) for t in at.table)
    assert "openvino int8" in card  # the serving runtime, shown on the model card
    assert [s.label for s in at.sidebar.selectbox] == ["Face detector"] and at.sidebar.selectbox[0].value == "yunet"
    at = at.sidebar.selectbox[0].set_value("haar").run()
    assert not at.exception and at.sidebar.selectbox[0].value == "haar"


def test_home_page_reports_a_missing_model(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DEEPFER_MODEL", str(tmp_path / "missing.keras"))
    at = AppTest.from_file(str(REPO / "dashboard" / "Home.py"), default_timeout=120).run()
    assert not at.exception
    assert any("could not be loaded" in e.value for e in at.error)


def test_analyze_upload_on_a_real_photo_and_a_corrupt_one(media):
    from dashboard.views.model import analyze_upload, load_pipeline

    assert load_pipeline(detector="haar").classifier is load_pipeline().classifier  # one model per server process
    from deepfer.errors import DeepFERError

    pipe = load_pipeline()
    img, table = analyze_upload(pipe, (media / "justin.jpg").read_bytes())
    assert img.ndim == 3 and len(table) == 1 and table.loc[0, "emotion"] == "happy"
    with pytest.raises(DeepFERError, match="not a readable image"):
        analyze_upload(pipe, b"\x89PNG\r\n broken")
