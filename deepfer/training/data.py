"""Face datasets: the class-folder layout users bring, and the classic ``fer2013.csv``.

Every loader returns :class:`FaceDataset`: raw 48x48 grayscale uint8 pixels ``(N, 48, 48, 1)``
and integer labels in the canonical order of :data:`deepfer.labels.EMOTIONS`.  Unreadable
files are skipped, counted and reported in ``FaceDataset.skipped`` and in the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepfer.errors import DatasetError, ImageError
from deepfer.labels import EMOTIONS, FER2013_CSV_CODES, FER2013_USAGE_TO_SPLIT, INPUT_SIZE
from deepfer.media import IMAGE_SUFFIXES
from deepfer.preprocess import read_image, to_model_input

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = IMAGE_SUFFIXES  # one list for every reader of media (deepfer.media)
#: Split folder names recognised by :func:`load_splits`, with the aliases people use.
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid", "publictest"),
    "test": ("test", "privatetest"),
}


@dataclass
class FaceDataset:
    """Faces and labels of one split."""

    images: np.ndarray  # (N, 48, 48, 1) uint8, raw pixels 0-255
    labels: np.ndarray  # (N,) int64 indices into EMOTIONS
    paths: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    source: str = ""

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 1):
            raise ValueError(f"images must be (N, {INPUT_SIZE}, {INPUT_SIZE}, 1), got {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(EMOTIONS))
        return {name: int(c) for name, c in zip(EMOTIONS, counts)}

    def summary(self) -> dict:
        """JSON-ready description: size, per-class counts, skipped files."""
        return {
            "source": self.source,
            "images": len(self),
            "class_counts": self.class_counts(),
            "skipped": len(self.skipped),
            "skipped_examples": [{"path": p, "reason": r} for p, r in self.skipped[:20]],
        }


def _progress(iterable: Iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="img", leave=False)


def _load_one(path: Path) -> np.ndarray:
    import cv2

    img = read_image(path, cv2.IMREAD_UNCHANGED)
    return to_model_input(img)


def _class_dirs(split_dir: Path) -> list[tuple[int, Path]]:
    if not split_dir.exists():
        raise DatasetError(f"dataset folder {split_dir} does not exist")
    if not split_dir.is_dir():
        raise DatasetError(f"{split_dir} is not a folder")
    dirs, unknown = [], []
    for d in sorted(split_dir.iterdir()):
        if d.name.startswith(".") or not d.is_dir():
            continue
        name = d.name.lower()
        if name in EMOTIONS:
            dirs.append((EMOTIONS.index(name), d))
        else:
            unknown.append(d.name)
    if unknown:
        raise DatasetError(
            f"{split_dir}: unknown class folder(s) {', '.join(sorted(unknown))}; "
            f"class folders must be named {', '.join(EMOTIONS)}"
        )
    if not dirs:
        raise DatasetError(
            f"{split_dir}: no class folders; expected <split>/<class>/<images> with classes {', '.join(EMOTIONS)}"
        )
    return dirs


def load_split(split_dir: str | Path, *, progress: bool = True, workers: int | None = None) -> FaceDataset:
    """Load ``<split_dir>/<class>/<images>``; any image format, size and colour -> 48x48 gray."""
    split_dir = Path(split_dir)
    files: list[tuple[Path, int]] = []
    skipped: list[tuple[str, str]] = []
    for idx, d in _class_dirs(split_dir):
        for root, dirnames, names in os.walk(d):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            for n in sorted(names):
                if n.startswith("."):
                    continue
                p = Path(root) / n
                if p.suffix.lower() in IMAGE_EXTENSIONS:
                    files.append((p, idx))
                else:
                    skipped.append((str(p), "not an image file (unknown extension)"))
    if not files:
        raise DatasetError(f"{split_dir}: the split is empty (no image files in its class folders)")

    images: list[np.ndarray] = []
    labels: list[int] = []
    paths: list[str] = []
    workers = workers or min(8, (os.cpu_count() or 2) * 2)

    def work(item: tuple[Path, int]):
        try:
            return item, _load_one(item[0]), None
        except ImageError as exc:
            return item, None, str(exc)
        except Exception as exc:  # a decoder crash on a hostile file must not stop loading
            return item, None, f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(workers) as pool:
        for (p, idx), img, err in _progress(pool.map(work, files), len(files), split_dir.name, progress):
            if img is None:
                skipped.append((str(p), err or "unreadable"))
                continue
            images.append(img)
            labels.append(idx)
            paths.append(str(p))
    if not images:
        raise DatasetError(f"{split_dir}: none of the {len(files)} image files could be read")
    if skipped:
        log.warning("%s: skipped %d unreadable or non-image file(s), e.g. %s (%s)", split_dir, len(skipped), *skipped[0])
    return FaceDataset(
        images=np.stack(images)[..., None],
        labels=np.asarray(labels, dtype=np.int64),
        paths=paths,
        skipped=skipped,
        source=str(split_dir),
    )


def find_split_dirs(root: str | Path) -> dict[str, Path]:
    """``{"train": ..., "validation": ..., "test": ...}`` for the split folders present under ``root``."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    present = {d.name.lower(): d for d in root.iterdir() if d.is_dir()}
    found = {}
    for split, aliases in SPLIT_ALIASES.items():
        for a in aliases:
            if a in present:
                found[split] = present[a]
                break
    return found


def load_fer2013_csv(path: str | Path, splits: Iterable[str] | None = None, *, progress: bool = True) -> dict[str, FaceDataset]:
    """Load the classic ``fer2013.csv`` (``emotion,pixels,Usage``) into datasets per split.

    ``Usage`` Training/PublicTest/PrivateTest become ``train``/``validation``/``test``; a file
    without a ``Usage`` column is one ``train`` split.  Rows with a bad pixel string are skipped
    and reported.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"fer2013 csv {path} does not exist")
    try:
        df = pd.read_csv(path, dtype={"pixels": str})
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable CSV ({exc})") from exc
    missing = {"emotion", "pixels"} - set(df.columns)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected emotion,pixels,Usage")
    usage = df["Usage"].astype(str) if "Usage" in df.columns else pd.Series(["Training"] * len(df))
    wanted = set(splits) if splits is not None else None
    out: dict[str, tuple[list, list, list, list]] = {}
    n_px = INPUT_SIZE * INPUT_SIZE
    rows = zip(df.index, df["emotion"], df["pixels"], usage)
    for i, code, pixels, use in _progress(rows, len(df), path.name, progress):
        split = FER2013_USAGE_TO_SPLIT.get(use.strip(), use.strip().lower())
        if wanted is not None and split not in wanted:
            continue
        imgs, labels, names, skipped = out.setdefault(split, ([], [], [], []))
        where = f"{path}:row{i + 2}"
        try:
            label = FER2013_CSV_CODES[int(code)]
            px = np.asarray(str(pixels).split(), dtype=np.float64)
            if px.size != n_px:
                raise ValueError(f"{px.size} pixel values, expected {n_px}")
            if px.min() < 0 or px.max() > 255:
                raise ValueError("pixel values outside 0-255")
        except (KeyError, ValueError) as exc:
            reason = f"unknown emotion code {code!r}" if isinstance(exc, KeyError) else str(exc)
            skipped.append((where, reason))
            continue
        imgs.append(px.astype(np.uint8).reshape(INPUT_SIZE, INPUT_SIZE))
        labels.append(label)
        names.append(where)
    result = {}
    for split, (imgs, labels, names, skipped) in out.items():
        if skipped:
            log.warning("%s [%s]: skipped %d bad row(s), e.g. %s (%s)", path, split, len(skipped), *skipped[0])
        if not imgs:
            raise DatasetError(f"{path}: split {split!r} has no usable rows")
        result[split] = FaceDataset(np.stack(imgs)[..., None], np.asarray(labels, np.int64), names, skipped, f"{path}[{split}]")
    if wanted:
        absent = wanted - set(result)
        if absent:
            raise DatasetError(f"{path}: no rows for split(s) {', '.join(sorted(absent))}")
    if not result:
        raise DatasetError(f"{path}: the file has no rows")
    return result


def save_npz(path: str | Path, datasets: dict[str, FaceDataset]) -> None:
    """Cache decoded splits in one compressed ``.npz`` (fast to reload; read by :func:`load_splits`)."""
    arrays = {}
    for split, ds in datasets.items():
        arrays[f"{split}__images"] = ds.images
        arrays[f"{split}__labels"] = ds.labels
        arrays[f"{split}__skipped"] = np.asarray([len(ds.skipped)])
        arrays[f"{split}__source"] = np.asarray([ds.source])
    np.savez_compressed(path, **arrays)


def load_npz(path: str | Path) -> dict[str, FaceDataset]:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"dataset cache {path} does not exist")
    with np.load(path) as z:
        splits = sorted({k.split("__")[0] for k in z.files})
        out = {}
        for s in splits:
            ds = FaceDataset(z[f"{s}__images"], z[f"{s}__labels"].astype(np.int64), source=str(z[f"{s}__source"][0]))
            n_skipped = int(z[f"{s}__skipped"][0])
            ds.skipped = [("(in original source)", "skipped when the cache was built")] * n_skipped
            out[s] = ds
    return out


def load_splits(data: str | Path, splits: Iterable[str] = ("train", "validation"), *, progress: bool = True) -> dict[str, FaceDataset]:
    """Load named splits from a dataset root folder, a ``fer2013.csv`` or an ``.npz`` cache.

    A root folder holds ``train/``, ``validation/`` (or ``val/``) and optionally ``test/``.
    Splits that are asked for but absent raise :class:`DatasetError`, except ``validation``
    when only ``train`` exists, which is then reported as absent (the caller decides).
    """
    data = Path(data)
    splits = list(splits)
    if data.suffix.lower() == ".csv":
        return load_fer2013_csv(data, splits, progress=progress)
    if data.suffix.lower() == ".npz":
        all_splits = load_npz(data)
        missing = [s for s in splits if s not in all_splits]
        if missing:
            raise DatasetError(f"{data}: no split(s) {', '.join(missing)} (has {', '.join(all_splits)})")
        return {s: all_splits[s] for s in splits}
    dirs = find_split_dirs(data)
    missing = [s for s in splits if s not in dirs]
    if missing:
        raise DatasetError(
            f"{data}: missing split folder(s) {', '.join(missing)}; expected "
            + ", ".join(f"{s}/ (or {'/'.join(SPLIT_ALIASES[s][1:])})" for s in missing)
        )
    return {s: load_split(dirs[s], progress=progress) for s in splits}


def load_any_split(data: str | Path, split: str = "validation", *, progress: bool = True) -> FaceDataset:
    """One split for evaluation: a split folder itself (class folders inside), a root folder, a CSV or an NPZ."""
    data = Path(data)
    if data.is_dir():
        subdirs = [d.name.lower() for d in data.iterdir() if d.is_dir() and not d.name.startswith(".")]
        if subdirs and any(n in EMOTIONS for n in subdirs):
            return load_split(data, progress=progress)
    return load_splits(data, [split], progress=progress)[split]
