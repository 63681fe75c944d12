from __future__ import annotations

import numpy as np
import pytest

from deepfer.errors import DatasetError
from deepfer.labels import EMOTIONS, FER2013_CSV_CODES
from deepfer.training.data import FaceDataset, load_any_split, load_fer2013_csv, load_npz, load_split, load_splits, save_npz

from .conftest import make_split


def test_folder_any_format_size_colour_becomes_48x48_gray(tmp_path):
    split = make_split(tmp_path / "train", per_class=3)
    ds = load_split(split, progress=False)
    assert ds.images.shape == (21, 48, 48, 1) and ds.images.dtype == np.uint8
    assert ds.class_counts() == {e: 3 for e in EMOTIONS}
    # labels follow the folder names in canonical order
    for path, label in zip(ds.paths, ds.labels):
        assert f"/{EMOTIONS[label]}/" in path
    assert ds.skipped == []


def test_unreadable_and_non_image_files_are_skipped_and_reported(tmp_path):
    split = make_split(tmp_path / "train", per_class=2)
    (split / "happy" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (split / "sad" / "empty.png").write_bytes(b"")
    (split / "sad" / "notes.txt").write_text("hello")
    ds = load_split(split, progress=False)
    assert len(ds) == 14
    reasons = dict(ds.skipped)
    assert len(reasons) == 3
    assert "0 bytes" in reasons[str(split / "sad" / "empty.png")]
    assert "not a readable image" in reasons[str(split / "happy" / "broken.jpg")]
    assert "not an image file" in reasons[str(split / "sad" / "notes.txt")]
    assert ds.summary()["skipped"] == 3


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_split(tmp_path / "nope")
    with pytest.raises(DatasetError, match="does not exist"):
        load_splits(tmp_path / "nope")


def test_unknown_class_folder_is_a_clear_error(tmp_path):
    split = make_split(tmp_path / "train", per_class=1)
    (split / "contempt").mkdir()
    with pytest.raises(DatasetError, match="unknown class folder.*contempt"):
        load_split(split)


def test_empty_split_is_a_clear_error(tmp_path):
    for e in EMOTIONS:
        (tmp_path / "train" / e).mkdir(parents=True)
    with pytest.raises(DatasetError, match="empty"):
        load_split(tmp_path / "train")
    (tmp_path / "val").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        load_split(tmp_path / "val")


def test_missing_split_names_the_expected_folders(tiny_dataset, tmp_path):
    (tiny_dataset / "validation").rename(tmp_path / "elsewhere")
    with pytest.raises(DatasetError, match="missing split folder.*validation"):
        load_splits(tiny_dataset, ["train", "validation"])


def test_split_aliases_and_any_split(tiny_dataset):
    (tiny_dataset / "validation").rename(tiny_dataset / "val")
    splits = load_splits(tiny_dataset, ["train", "validation"], progress=False)
    assert len(splits["validation"]) == 21
    assert len(load_any_split(tiny_dataset / "val", progress=False)) == 21


def _csv(path, rows):
    lines = ["emotion,pixels,Usage"] + [f"{e},{' '.join(map(str, px))},{u}" for e, px, u in rows]
    path.write_text("\n".join(lines) + "\n")


def test_fer2013_csv_loader_maps_codes_and_usage(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for code in range(7):
        for usage in ("Training", "PublicTest", "PrivateTest"):
            rows.append((code, rng.integers(0, 256, 48 * 48), usage))
    rows.append((3, rng.integers(0, 256, 100), "Training"))  # wrong pixel count
    rows.append((9, rng.integers(0, 256, 48 * 48), "Training"))  # unknown code
    p = tmp_path / "fer2013.csv"
    _csv(p, rows)
    out = load_fer2013_csv(p, progress=False)
    assert set(out) == {"train", "validation", "test"}
    train = out["train"]
    assert len(train) == 7 and len(train.skipped) == 2
    # csv code 4 is Sad, 6 is Neutral: they land on the canonical indices
    assert sorted(train.labels.tolist()) == sorted(FER2013_CSV_CODES.values())
    first = rows[0][1].astype(np.uint8).reshape(48, 48)
    assert np.array_equal(train.images[0, :, :, 0], first)
    assert EMOTIONS[out["validation"].labels[4]] == "sad"


def test_fer2013_csv_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_fer2013_csv(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="missing column"):
        load_fer2013_csv(bad)


def test_npz_cache_round_trip(tiny_dataset, tmp_path):
    splits = load_splits(tiny_dataset, progress=False)
    save_npz(tmp_path / "c.npz", splits)
    back = load_npz(tmp_path / "c.npz")
    for s in splits:
        assert np.array_equal(back[s].images, splits[s].images)
        assert np.array_equal(back[s].labels, splits[s].labels)


def test_dataset_validates_shapes():
    with pytest.raises(ValueError):
        FaceDataset(np.zeros((2, 32, 32, 1), np.uint8), np.zeros(2, np.int64))
