"""What a batch run will do, decided before any analysis: its inputs (image files, video files and
folders searched recursively, in a stable order), each video's output stem, the option checks, the
output folders' checks, and what ``--resume`` can keep.  Both engines start from :func:`plan_run`."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from batch.errors import BatchError, describe
from batch.inputs import InputItem, Skip, collect_inputs
from batch.manifest import FolderLock, Manifest, Source
from deepfer.analysis.temporal import DEFAULT_TEMPORAL, TemporalSettings
from deepfer.outputs.columns import IMAGE_COLUMNS
from deepfer.outputs.layout import ANNOTATED_SUFFIX, IMAGES_CSV, VideoOutputs, is_run_file, reserved_stem, video_outputs
from deepfer.outputs.sinks import CSVSink, read_rows

log = logging.getLogger(__name__)

#: Images read and classified together (one unit of work).
IMAGE_CHUNK = 256


def video_stems(items: list[InputItem], manifest: Manifest | None = None, sources: dict[Path, Source] | None = None) -> dict[Path, str]:
    """A unique output stem per video: the stem an earlier run into the folder gave the same source
    (``manifest``), else its file stem, with ``_2``, ``_3``... when that is taken (by another video
    of this run, another source in the manifest, or a run file: :func:`~deepfer.outputs.layout.reserved_stem`).
    Case is ignored (folders on macOS and Windows are case-insensitive)."""
    manifest = manifest or Manifest(Path("."))
    sources = sources or {}
    stems: dict[Path, str] = {}
    used = {s.lower() for s in manifest.videos}
    videos = [it for it in items if it.kind == "video"]
    for it in videos:  # first the stems earlier runs gave: a new input never takes one
        src = sources.get(it.path)
        if src is not None and (stem := manifest.stem_of(src.path)) is not None:
            stems[it.path] = stem
    for it in videos:
        if it.path in stems:
            continue
        base = it.path.stem if not reserved_stem(it.path.stem) else it.path.stem.lstrip(".") or "video"
        stem, n = base, 1
        while stem.lower() in used or reserved_stem(stem):
            n += 1
            stem = f"{base}_{n}"
        used.add(stem.lower())
        stems[it.path] = stem
    return stems


def check_options(*, stride: int, smooth_s: float, hold_s: float) -> None:
    """Fail fast on option values no engine can use."""
    if stride < 1:
        raise BatchError(f"--stride must be at least 1, got {stride}")
    for name, value in (("--smooth-s", smooth_s), ("--hold-s", hold_s)):
        if not (value >= 0 and value < float("inf")):
            raise BatchError(f"{name} must be a number of seconds, 0 or more, got {value}")


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
    """One video, analyzed whole into the output folder's files of ``stem``; ``key``: a digest of its
    source and settings naming its checkpoints; ``resume``: continue from its last checkpoint (if the
    key matches) rather than from the start."""

    path: Path
    stem: str
    key: str | None = None
    resume: bool = False


@dataclass(frozen=True)
class ImageBlock:
    """Up to :data:`IMAGE_CHUNK` images, classified in one batch; index ``i`` in the run's image order."""

    i: int
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Options:
    """The analysis options of a run, the same for every unit."""

    stride: int = 1
    smooth_s: float = DEFAULT_TEMPORAL.smooth_s
    hold_s: float = DEFAULT_TEMPORAL.hold_s
    annotate: bool = False

    @property
    def temporal(self) -> TemporalSettings:
        """How each video face's emotion is decided over time (:mod:`deepfer.analysis.temporal`)."""
        return TemporalSettings(smooth_s=self.smooth_s, hold_s=self.hold_s)


class ImageRun:
    """``images.csv`` for all images of a run, resumable: rows of images the manifest says were made
    from the same file with the same settings are kept, any other image is redone."""

    def __init__(self, out_dir: Path, resume: bool, keep: set[str] = frozenset()):
        self.path = out_dir / IMAGES_CSV
        self.sink = CSVSink(self.path, IMAGE_COLUMNS)
        previous: list[dict] = []
        if resume:
            for src in (self.sink.tmp, self.path):  # an interrupted run's partial file first
                if src.is_file():
                    try:
                        previous = read_rows(src)
                    except (OSError, UnicodeDecodeError, csv.Error) as exc:
                        log.warning("%s is unreadable (%s): its images are redone", src, exc)
                        previous = []
                    if src == self.sink.tmp and previous:  # the last image may be incomplete: redo it
                        last = previous[-1].get("path")
                        previous = [r for r in previous if r.get("path") != last]
                    break
        self.previous = [r for r in previous if r.get("path") in keep]
        self.done = {r["path"] for r in self.previous}
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


@dataclass
class Plan:
    """A run's inputs in order and its units of work (what is already done is not a unit).

    ``settings``: what the model, runtime and detector are (:func:`~batch.manifest.analysis_settings`);
    ``sources``: each readable input's fingerprint; ``manifest``: the output folder's, updated as units finish.
    """

    out_dir: Path
    sort_dir: Path | None
    options: Options
    settings: dict
    items: list[InputItem]
    skips: list[Skip]
    sources: dict[Path, Source]
    manifest: Manifest
    stems: dict[Path, str]
    image_run: ImageRun
    lock: FolderLock
    unknown: list[InputItem] = field(default_factory=list)
    unreadable: dict[Path, str] = field(default_factory=dict)
    images_done: list[InputItem] = field(default_factory=list)
    blocks: list[ImageBlock] = field(default_factory=list)
    videos_done: list[InputItem] = field(default_factory=list)
    videos: list[VideoUnit] = field(default_factory=list)

    @property
    def images(self) -> list[InputItem]:
        return [it for it in self.items if it.kind == "image" and it.path not in self.unreadable]

    def release(self) -> None:
        """The run is over: let another run write into the output folder."""
        self.lock.release()

    def outputs_of(self, unit: VideoUnit) -> VideoOutputs:
        return video_outputs(self.out_dir, unit.stem, annotated=self.options.annotate)

    def video_settings(self, annotate: bool | None = None) -> dict:
        """The settings a video's outputs record (analysis settings + stride, smoothing, annotation)."""
        o = self.options
        return {"stride": o.stride, "smooth_s": o.smooth_s, "hold_s": o.hold_s, "annotate": o.annotate if annotate is None else annotate,
                **self.settings}

    def video_done(self, it: InputItem) -> bool:
        """Whether the folder holds this video's complete outputs, made from this file with these settings
        (outputs made with ``--annotate`` also serve a run without it)."""
        stem, src = self.stems[it.path], self.sources[it.path]
        annotations = (True,) if self.options.annotate else (False, True)
        if not any(self.manifest.video_matches(stem, src, self.video_settings(a)) for a in annotations):
            return False
        out = video_outputs(self.out_dir, stem, annotated=self.manifest.videos[stem]["settings"]["annotate"])
        return all(p.is_file() for p in out.files())

    def mark_video(self, unit: VideoUnit, status: str, outputs: VideoOutputs | None = None) -> None:
        """Record (and save) that ``unit``'s outputs are being made (``partial``) or finished (``done``)."""
        out = outputs or self.outputs_of(unit)
        self.manifest.set_video(unit.stem, self.sources[unit.path], self.video_settings(), [p.name for p in out.files()], status)
        self.manifest.save()

    def mark_images(self, paths: list[Path]) -> None:
        """Record (and save) that the rows of these images are in ``images.csv``."""
        for p in paths:
            self.manifest.set_image(self.sources[p], self.settings)
        self.manifest.save()


def _fingerprints(items: list[InputItem]) -> tuple[dict[Path, Source], dict[Path, str]]:
    """Each media input's :class:`Source`, or why it cannot be read (an error row later)."""
    sources, unreadable = {}, {}
    for it in items:
        if it.kind == "unknown":
            continue
        try:
            sources[it.path] = Source.of(it.path)
        except OSError as exc:
            unreadable[it.path] = describe(exc)
    return sources, unreadable


def _output_filter(out_dir: Path, sort_dir: Path | None, manifest: Manifest, inputs: list[str | Path]):
    """``is_output(path)`` for :func:`~batch.inputs.collect_inputs`: the output and ``--sort-into``
    folders when they lie inside an input folder, and, when the output folder *is* an input folder,
    the run's own files in it (run files, unfinished files, outputs the manifest lists, annotated videos)."""
    out_real = out_dir.resolve()
    folders = {f.resolve() for f in (out_dir, sort_dir) if f is not None} - {Path(p).resolve() for p in inputs}
    outputs = manifest.output_names()

    def is_output(p: Path) -> bool:
        real = Path(os.path.realpath(p))  # never raises, also on a link loop
        if real in folders:
            return True
        if real.parent != out_real:
            return False
        return is_run_file(p.name) or p.name in outputs or p.name.endswith(ANNOTATED_SUFFIX)

    return is_output


def plan_run(inputs: list[str | Path], out_dir: str | Path, sort_into: str | Path | None, options: Options,
             resume: bool, settings: Callable[[], dict], image_chunk: int | None = None) -> Plan:
    """Check the options and output folders, find the inputs and cut the run into units.

    ``settings()``: the run's :func:`~batch.manifest.analysis_settings`, asked for once the inputs
    and folders are known to be usable (a wrong option fails before any model file is read).

    Without ``resume`` every input is analyzed again, but the manifest's stems are kept (an input's
    output names do not change from run to run).
    """
    check_options(stride=options.stride, smooth_s=options.smooth_s, hold_s=options.hold_s)
    out_dir = Path(out_dir)
    sort_dir = Path(sort_into) if sort_into is not None else None
    manifest = Manifest.load(out_dir)
    found = collect_inputs(inputs, is_output=_output_filter(out_dir, sort_dir, manifest, inputs))
    if not found.items and not found.errors:
        raise BatchError("no image or video files found in: " + ", ".join(str(p) for p in inputs))
    _check_out_dir(out_dir)
    if sort_dir is not None:
        _check_out_dir(sort_dir)
    lock = FolderLock(out_dir).acquire()
    try:
        return _plan(out_dir, sort_dir, options, resume, settings, image_chunk, manifest, found, lock)
    except BaseException:
        lock.release()
        raise


def _plan(out_dir: Path, sort_dir: Path | None, options: Options, resume: bool, settings: Callable[[], dict],
          image_chunk: int | None, manifest: Manifest, found, lock: FolderLock) -> Plan:
    items = found.items
    settings = settings()
    sources, unreadable = _fingerprints(items)
    if not resume:  # a new run: image rows of earlier runs are dropped from images.csv, so from the manifest too
        manifest.images = {}
    keep = {str(it.path) for it in items if it.kind == "image" and it.path in sources and manifest.image_matches(sources[it.path], settings)}
    plan = Plan(out_dir, sort_dir, options, settings, items, found.skips, sources, manifest,
                video_stems([it for it in items if it.path in sources], manifest, sources), ImageRun(out_dir, resume, keep), lock)
    plan.unknown = [it for it in items if it.kind == "unknown"]
    plan.unreadable = unreadable
    todo = []
    for it in plan.images:
        (plan.images_done if str(it.path) in plan.image_run.done else todo).append(it)
    size = image_chunk or IMAGE_CHUNK
    plan.blocks = [ImageBlock(i, tuple(it.path for it in todo[s : s + size])) for i, s in enumerate(range(0, len(todo), size))]
    for it in items:
        if it.kind == "video" and it.path in sources:
            if resume and plan.video_done(it):
                plan.videos_done.append(it)
            else:
                key = hashlib.sha256(json.dumps([asdict(sources[it.path]), plan.video_settings()], sort_keys=True).encode()).hexdigest()
                plan.videos.append(VideoUnit(it.path, plan.stems[it.path], key, resume))
    return plan
