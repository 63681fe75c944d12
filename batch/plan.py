"""What a batch run will do, decided before any analysis: its inputs (image files, video files and
folders searched recursively, in a stable order), each video's output stem, the option checks, the
output folders' checks, and what ``--resume`` can keep.  Both engines start from :func:`plan_run`."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from batch.errors import BatchError
from deepfer.media import media_kind
from deepfer.outputs.columns import IMAGE_COLUMNS
from deepfer.outputs.layout import IMAGES_CSV, RESERVED_STEMS, VideoOutputs, video_outputs
from deepfer.outputs.sinks import CSVSink, read_rows

log = logging.getLogger(__name__)

#: Images read and classified together (one unit of work).
IMAGE_CHUNK = 256


@dataclass(frozen=True)
class InputItem:
    """One input file; ``kind`` is ``image``, ``video`` or ``unknown`` (not a media suffix)."""

    path: Path
    kind: str


def kind_of(path: Path) -> str:
    return media_kind(path)


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
        while stem.lower() in used or stem.lower() in RESERVED_STEMS:
            n += 1
            stem = f"{it.path.stem}_{n}"
        used.add(stem.lower())
        stems[it.path] = stem
    return stems


def check_options(*, stride: int, smooth: int) -> None:
    """Fail fast on option values no engine can use."""
    if stride < 1:
        raise BatchError(f"--stride must be at least 1, got {stride}")
    if smooth < 0:
        raise BatchError(f"--smooth must be 0 or more, got {smooth}")


def _check_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BatchError(f"cannot write to the output folder {out_dir}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class VideoUnit:
    """One video, analyzed whole into the output folder's files of ``stem``."""

    path: Path
    stem: str


@dataclass(frozen=True)
class ImageBlock:
    """Up to :data:`IMAGE_CHUNK` images, classified in one batch; index ``i`` in the run's image order."""

    i: int
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Options:
    """The analysis options of a run, the same for every unit."""

    stride: int = 1
    smooth: int = 0
    annotate: bool = False


class ImageRun:
    """``images.csv`` for all images of a run, resumable: images already in it are not redone."""

    def __init__(self, out_dir: Path, resume: bool):
        self.path = out_dir / IMAGES_CSV
        self.sink = CSVSink(self.path, IMAGE_COLUMNS)
        previous: list[dict] = []
        if resume:
            for src in (self.sink.tmp, self.path):  # an interrupted run's partial file first
                if src.is_file():
                    previous = read_rows(src)
                    if src == self.sink.tmp and previous:  # the last image may be incomplete: redo it
                        last = previous[-1]["path"]
                        previous = [r for r in previous if r["path"] != last]
                    break
        self.previous = previous
        self.done = {r["path"] for r in previous}
        self.opened = False

    def open(self) -> None:
        if not self.opened:
            self.sink.__enter__()
            if self.previous:
                self.sink.write_rows([{c: r.get(c, "") for c in IMAGE_COLUMNS} for r in self.previous])
            self.opened = True

    def write_rows(self, rows: list[dict]) -> None:
        self.sink.write_rows(rows)

    def finish(self) -> Path | None:
        if self.opened:
            return self.sink.commit()
        return self.path if self.path.is_file() else None


def video_done(out: VideoOutputs, options: Options) -> bool:
    """Whether ``out`` holds a complete result made with the same stride and smoothing (``--resume`` keeps it)."""
    if not (out.csv_path.is_file() and out.summary_path.is_file()):
        return False
    if options.annotate and not (out.annotated_path is not None and out.annotated_path.is_file()):
        return False
    try:
        summary = json.loads(out.summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return summary.get("stride") == options.stride and summary.get("smooth") == options.smooth


@dataclass
class Plan:
    """A run's inputs in order and its units of work (what is already done is not a unit)."""

    out_dir: Path
    sort_dir: Path | None
    options: Options
    items: list[InputItem]
    stems: dict[Path, str]
    image_run: ImageRun
    unknown: list[InputItem] = field(default_factory=list)
    images_done: list[InputItem] = field(default_factory=list)
    blocks: list[ImageBlock] = field(default_factory=list)
    videos_done: list[InputItem] = field(default_factory=list)
    videos: list[VideoUnit] = field(default_factory=list)

    @property
    def images(self) -> list[InputItem]:
        return [it for it in self.items if it.kind == "image"]

    def outputs_of(self, unit: VideoUnit) -> VideoOutputs:
        return video_outputs(self.out_dir, unit.stem, annotated=self.options.annotate)


def plan_run(inputs: list[str | Path], out_dir: str | Path, sort_into: str | Path | None, options: Options,
             resume: bool, image_chunk: int | None = None) -> Plan:
    """Check the options and output folders, find the inputs and cut the run into units."""
    check_options(stride=options.stride, smooth=options.smooth)
    out_dir = Path(out_dir)
    sort_dir = Path(sort_into) if sort_into is not None else None
    items = collect_inputs(inputs, exclude=[out_dir, sort_dir])
    if not items:
        raise BatchError("no image or video files found in: " + ", ".join(str(p) for p in inputs))
    _check_out_dir(out_dir)
    if sort_dir is not None:
        _check_out_dir(sort_dir)
    plan = Plan(out_dir, sort_dir, options, items, video_stems(items), ImageRun(out_dir, resume))
    plan.unknown = [it for it in items if it.kind == "unknown"]
    todo = []
    for it in plan.images:
        (plan.images_done if str(it.path) in plan.image_run.done else todo).append(it)
    size = image_chunk or IMAGE_CHUNK
    plan.blocks = [ImageBlock(i, tuple(it.path for it in todo[s : s + size])) for i, s in enumerate(range(0, len(todo), size))]
    for it in items:
        if it.kind == "video":
            unit = VideoUnit(it.path, plan.stems[it.path])
            if resume and video_done(plan.outputs_of(unit), options):
                plan.videos_done.append(it)
            else:
                plan.videos.append(unit)
    return plan
