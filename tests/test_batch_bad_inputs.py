"""Bad input never stops a batch: it is listed in errors.csv with a readable reason."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from batch import cli
from batch.engines.local import run_batch
from batch.errors import BatchError

pytestmark = pytest.mark.shared


@pytest.fixture()
def messy(media, tmp_path):
    """Good and bad inputs side by side, in a folder whose name has spaces and non-ASCII characters."""
    root = tmp_path / "mes vidéos et photos ü"
    root.mkdir()
    shutil.copy(media / "justin.jpg", root / "Justin Bieber é.jpg")
    data = (media / "justin.jpg").read_bytes()
    (root / "corrupt.jpg").write_bytes(data[: len(data) // 3])
    (root / "zero.jpg").write_bytes(b"")
    (root / "random bytes.png").write_bytes(bytes(range(256)) * 10)
    video = (media / "street_phone.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(video[: len(video) // 2])
    (root / "rue la nuit é.mp4").write_bytes(video)
    (root / "text.mp4").write_text("this is not a video\n", encoding="utf-8")
    (root / "empty.mp4").write_bytes(b"")
    return root


def test_bad_files_are_listed_and_the_rest_is_processed(messy, pipeline, tmp_path):
    out = tmp_path / "out ü"
    report = run_batch([messy], out, pipeline=pipeline, progress=False)
    errors = pd.read_csv(out / "errors.csv", keep_default_na=False)
    failed = {p.split("/")[-1]: e for p, e in zip(errors["path"], errors["error"])}
    assert set(failed) == {"corrupt.jpg", "zero.jpg", "random bytes.png", "truncated.mp4", "text.mp4", "empty.mp4"}
    assert "not a readable image" in failed["corrupt.jpg"]
    assert "empty file" in failed["zero.jpg"] and "empty file" in failed["empty.mp4"]
    assert "not a readable video" in failed["truncated.mp4"] and "not a readable video" in failed["text.mp4"]
    assert all("Traceback" not in e and str(messy) in p for p, e in zip(errors["path"], errors["error"]))
    assert not report.ok and len(report.errors) == 6
    images = pd.read_csv(out / "images.csv", keep_default_na=False)
    assert images["path"].tolist() == [str(messy / "Justin Bieber é.jpg")]
    assert not list(out.glob("*.tmp*")) and not list(out.glob("truncated*")) and not list(out.glob("text*"))
    video = pd.read_csv(out / "rue la nuit é.csv", keep_default_na=False)
    assert video["frame"].nunique() == 115 and report.videos[str(messy / "rue la nuit é.mp4")].summary_path.is_file()


def test_unknown_explicit_file_is_an_error(media, pipeline, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    report = run_batch([notes, media / "no-faces.jpg"], tmp_path / "out", pipeline=pipeline, progress=False)
    assert report.errors == [(str(notes), f"{notes}: not an image or video file (unsupported type '.txt')")]
    assert report.images == 1


def test_fail_fast(tmp_path, media):
    empty = tmp_path / "empty folder"
    empty.mkdir()
    with pytest.raises(BatchError, match="no image or video files found"):
        run_batch([empty], tmp_path / "out", pipeline=object(), progress=False)
    with pytest.raises(BatchError, match="input not found"):
        run_batch([tmp_path / "missing.mp4"], tmp_path / "out", pipeline=object(), progress=False)
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    with pytest.raises(BatchError, match="cannot write to the output folder"):
        run_batch([media / "justin.jpg"], blocker / "out", pipeline=object(), progress=False)
    with pytest.raises(BatchError, match="stride"):
        run_batch([media / "justin.jpg"], tmp_path / "out", stride=0, pipeline=object(), progress=False)


def test_cli_exit_codes_and_messages(messy, pipeline, tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0 and "--sort-into" in capsys.readouterr().out
    assert cli.main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "error: input not found" in capsys.readouterr().err
    from deepfer.analysis.pipeline import FacePipeline

    monkeypatch.setattr(FacePipeline, "create", classmethod(lambda cls, *a, **k: pipeline))
    assert cli.main([str(messy), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "6 FAILED" in capsys.readouterr().out
    assert cli.main([str(messy / "Justin Bieber é.jpg"), "--out", str(tmp_path / "o2"), "--no-progress"]) == 0
