"""Inputs: image files, video files and folders (searched recursively) -> an ordered list of items."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from batch.errors import BatchError
from deepfer.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".jp2"})


@dataclass(frozen=True)
class InputItem:
    """One input file; ``kind`` is ``image``, ``video`` or ``unknown`` (not a media suffix)."""

    path: Path
    kind: str


def kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "unknown"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def collect_inputs(inputs: list[str | Path], exclude: list[Path | None] = ()) -> list[InputItem]:
    """Expand ``inputs`` in the order given; folders recursively, sorted, media suffixes only.

    Files named explicitly are kept whatever their suffix (an unknown one is reported as an
    error later, not silently dropped).  Files under ``exclude`` folders (the output folders)
    are skipped, and duplicates are listed once.  Missing inputs fail fast with :class:`BatchError`.
    """
    if not inputs:
        raise BatchError("no inputs given: name image files, video files or folders")
    missing = [str(p) for p in inputs if not Path(p).exists()]
    if missing:
        raise BatchError("input not found: " + ", ".join(missing))
    items: list[InputItem] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            items.append(InputItem(p, kind_of(p)))

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                (f for f in p.rglob("*") if f.is_file() and kind_of(f) != "unknown"
                 and not any(part.startswith(".") for part in f.relative_to(p).parts)),
                key=lambda f: f.as_posix(),
            )
            # output folders inside an input folder are not inputs (an --out equal to the input folder is)
            skip = [ex for ex in exclude if ex is not None and _inside(ex, p) and ex.resolve() != p.resolve()]
            found = [f for f in found if not any(_inside(f, ex) for ex in skip)]
            if not found:
                log.warning("%s: no image or video files in this folder", p)
            for f in found:
                add(f)
        else:
            add(p)
    return items


def video_stems(items: list[InputItem]) -> dict[Path, str]:
    """A unique output stem per video: its file stem, with ``_2``, ``_3``... for repeated stems."""
    stems: dict[Path, str] = {}
    used: set[str] = set()
    for it in items:
        if it.kind != "video":
            continue
        stem, n = it.path.stem, 1
        while stem.lower() in used or stem.lower() == "images" or stem.lower() == "errors":
            n += 1
            stem = f"{it.path.stem}_{n}"
        used.add(stem.lower())
        stems[it.path] = stem
    return stems
