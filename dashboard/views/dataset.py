"""Dataset folder statistics for the Dataset page: images per class and split, imbalance,
sample faces, unreadable files.  Layout: ``root/<split>/<class>/<images>`` or one split folder."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepfer.config import dataset_dir
from deepfer.errors import DatasetError
from deepfer.labels import EMOTIONS
from deepfer.training.data import IMAGE_EXTENSIONS, find_split_dirs


def default_dataset_dir() -> Path | None:
    """``$DEEPFER_DATA``, else ``fer2013`` in the shared folder (``$DEEPFER_SHARED`` or ``../shared``), if it exists."""
    return dataset_dir()


@dataclass
class DatasetScan:
    root: Path
    files: dict[str, dict[str, list[Path]]]  # split -> class -> image files
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def counts(self) -> pd.DataFrame:
        """Long table: split, class, images (readable or not)."""
        rows = [{"split": s, "class": c, "images": len(self.files[s].get(c, []))} for s in self.files for c in EMOTIONS]
        return pd.DataFrame(rows, columns=["split", "class", "images"])

    def imbalance(self) -> pd.DataFrame:
        """Per split: total images, largest and smallest class, and their ratio."""
        rows = []
        for s, by_class in self.files.items():
            n = {c: len(by_class.get(c, [])) for c in EMOTIONS}
            big, small = max(n, key=n.get), min(n, key=n.get)
            ratio = n[big] / n[small] if n[small] else float("inf")
            rows.append({"split": s, "images": sum(n.values()), "largest class": f"{big} ({n[big]})",
                         "smallest class": f"{small} ({n[small]})", "imbalance ratio": round(ratio, 1) if np.isfinite(ratio) else "inf (empty class)"})
        return pd.DataFrame(rows)

    def samples(self, split: str, per_class: int = 6, seed: int = 0) -> dict[str, list[Path]]:
        rng = np.random.default_rng(seed)
        out = {}
        bad = {p for p, _ in self.unreadable}
        for c in EMOTIONS:
            files = [p for p in self.files.get(split, {}).get(c, []) if str(p) not in bad]
            idx = rng.choice(len(files), size=min(per_class, len(files)), replace=False) if files else []
            out[c] = [files[i] for i in sorted(idx)]
        return out


def read_samples(paths: list[Path]) -> list[np.ndarray]:
    """The images among ``paths`` that can be decoded (BGR), skipping the others."""
    from deepfer.errors import ImageError
    from deepfer.preprocess import read_image

    out = []
    for p in paths:
        try:
            out.append(read_image(p))
        except ImageError:
            continue
    return out


def _class_files(split_dir: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for d in sorted(split_dir.iterdir()):
        if d.is_dir() and d.name.lower() in EMOTIONS:
            files = []
            for root, dirnames, names in os.walk(d):
                dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
                files += [Path(root) / n for n in sorted(names) if not n.startswith(".") and Path(n).suffix.lower() in IMAGE_EXTENSIONS]
            out[d.name.lower()] = files
    return out


def _check(path: Path) -> str | None:
    import cv2

    from deepfer.errors import ImageError
    from deepfer.preprocess import check_image_header

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        return f"cannot read ({exc.strerror})"
    if data.size == 0:
        return "empty file"
    try:
        check_image_header(path)  # the pixel limit of every front end, before decoding
    except ImageError as exc:
        return str(exc)
    return None if cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) is not None else "not a decodable image"


def scan_dataset(root: str | Path, check_readable: bool = True, workers: int = 4) -> DatasetScan:
    """List the images of every split (or of ``root`` as one split) and decode each to find unreadable ones."""
    root = Path(root).expanduser()
    splits = find_split_dirs(root)  # raises DatasetError for a missing folder
    if not splits:
        if any(d.is_dir() and d.name.lower() in EMOTIONS for d in root.iterdir()):
            splits = {root.name: root}
        else:
            raise DatasetError(f"{root}: no split folders (train, validation, test) and no class folders ({', '.join(EMOTIONS)})")
    files = {s: _class_files(d) for s, d in splits.items()}
    if not any(files[s] for s in files):
        raise DatasetError(f"{root}: the split folders contain no class folders named {', '.join(EMOTIONS)}")
    scan = DatasetScan(root, files)
    if check_readable:
        every = [p for s in files.values() for ps in s.values() for p in ps]
        with ThreadPoolExecutor(workers) as pool:
            for p, why in zip(every, pool.map(_check, every, chunksize=256)):
                if why:
                    scan.unreadable.append((str(p), why))
    return scan


def counts_figure(scan: DatasetScan):
    import plotly.express as px

    fig = px.bar(scan.counts(), x="class", y="images", color="split", barmode="group", title="Images per class and split")
    fig.update_layout(height=380, margin={"t": 50})
    return fig
