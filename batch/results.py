"""The driver's side of a batch run, shared by both engines: unit results in, ``images.csv``,
``errors.csv``, ``--sort-into`` copies and the :class:`BatchReport` out.

Image blocks must be handed over in block order and videos in input order, so that both engines
write the same rows in the same order."""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from batch.errors import BatchError, describe
from batch.plan import InputItem, Plan, VideoUnit
from batch.units import BlockResult, VideoResult
from deepfer.faces import Faces
from deepfer.outputs.columns import ERROR_COLUMNS, SKIPPED_COLUMNS, error_row, image_rows
from deepfer.outputs.layout import ERRORS_CSV, SKIPPED_CSV, VideoOutputs
from deepfer.outputs.sinks import CSVSink

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    """What a run did: outputs per input, failed inputs with reasons, and counts."""

    out_dir: Path
    outputs: dict[str, list[Path]] = field(default_factory=dict)
    videos: dict[str, VideoOutputs] = field(default_factory=dict)
    images_csv: Path | None = None
    errors_csv: Path | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: inputs whose complete outputs were kept (``--resume``)
    skipped: list[str] = field(default_factory=list)
    #: files found in input folders and not analyzed (not media, hidden), with the reason: ``skipped.csv``
    not_analyzed: list[tuple[str, str]] = field(default_factory=list)
    skipped_csv: Path | None = None
    inputs: int = 0
    videos_analyzed: int = 0
    images: int = 0
    image_faces: int = 0
    frames: int = 0
    frames_with_face: int = 0
    seconds: float = 0.0
    #: Ray engine: the worker process that analyzed each input (monitoring, tests).
    worker_pids: dict[str, int | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary_line(self) -> str:
        parts = [f"{self.videos_analyzed} video(s), {self.frames} frames analyzed ({self.frames_with_face} with a face)",
                 f"{self.images} image(s), {self.image_faces} face(s)"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} already done")
        line = f"{self.inputs} input(s): " + "; ".join(parts) + f" -> {self.out_dir} in {self.seconds:.1f} s"
        if self.not_analyzed:
            line += f"; {len(self.not_analyzed)} file(s) in the input folders were not media, see {self.skipped_csv}"
        if self.errors:
            line += f"; {len(self.errors)} FAILED, see {self.errors_csv}"
        return line


def copy_sorted(src: Path, dest_dir: Path) -> Path:
    """Copy ``src`` into ``dest_dir`` (never moving or changing it); an identical copy already there is reused."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest, n = dest_dir / src.name, 1
    while dest.exists():
        if dest.stat().st_size == src.stat().st_size and dest.read_bytes() == src.read_bytes():
            return dest
        n += 1
        dest = dest_dir / f"{src.stem}_{n}{src.suffix}"
    part = dest.with_name(f"{dest.stem}.tmp{dest.suffix}")
    shutil.copy2(src, part)
    os.replace(part, dest)
    return dest


def sort_folder(faces: Faces) -> str:
    """``--sort-into`` sub-folder of an image: its one face's emotion, ``_multiple`` or ``_no_face``."""
    if len(faces) == 0:
        return "_no_face"
    if len(faces) > 1:
        return "_multiple"
    return faces.labels[0]


class RunWriter:
    """Context manager over ``errors.csv`` and ``images.csv`` of one run; see the module docstring."""

    def __init__(self, plan: Plan, report: BatchReport):
        self.plan = plan
        self.report = report
        self.errors = CSVSink(plan.out_dir / ERRORS_CSV, ERROR_COLUMNS)

    def __enter__(self) -> RunWriter:
        self.errors.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.errors.close()

    def fail(self, path: Path | str, message: str) -> None:
        log.warning("%s", message)
        self.report.errors.append((str(path), message))
        self.errors.write_rows([error_row(path, message)])

    def start(self) -> None:
        """Before any unit: unsupported or unreadable inputs, unlistable folders and broken links become errors,
        other files found in input folders are listed in ``skipped.csv``, finished images are skipped."""
        for it in self.plan.unknown:
            self.fail(it.path, str(BatchError(f"{it.path}: not an image or video file (unsupported type {it.path.suffix or 'without suffix'!r})")))
        for path, message in self.plan.unreadable.items():
            self.fail(path, message)
        for skip in self.plan.skips:
            if skip.error:
                self.fail(skip.path, f"{skip.path}: {skip.reason}")
            else:
                self.report.not_analyzed.append((str(skip.path), skip.reason))
        if self.report.not_analyzed:
            with CSVSink(self.plan.out_dir / SKIPPED_CSV, SKIPPED_COLUMNS) as sink:
                sink.write_rows([{"path": p, "reason": r} for p, r in self.report.not_analyzed])
                self.report.skipped_csv = sink.commit()
        else:
            (self.plan.out_dir / SKIPPED_CSV).unlink(missing_ok=True)  # an earlier run's list is not this run's
        for it in self.plan.images_done:
            self.report.skipped.append(str(it.path))
            self.report.outputs[str(it.path)] = [self.plan.image_run.path]
        if self.plan.images:
            self.plan.image_run.open()

    def block(self, result: BlockResult) -> None:
        """One image block's errors, rows and ``--sort-into`` copies."""
        for r in result.images:
            if r.error is not None:
                self.fail(r.path, r.error)
        rows = []
        for r in result.images:
            if r.faces is None:
                continue
            rows += image_rows(r.path, r.faces)
            outputs = [self.plan.image_run.path]
            if self.plan.sort_dir is not None:
                try:
                    outputs.append(copy_sorted(r.path, self.plan.sort_dir / sort_folder(r.faces)))
                except OSError as exc:
                    self.fail(r.path, describe(OSError(exc.errno, f"could not copy into {self.plan.sort_dir}: {exc.strerror}", exc.filename)))
            self.report.outputs[str(r.path)] = outputs
            self.report.images += 1
            self.report.image_faces += len(r.faces)
        self.plan.image_run.write_rows(rows)  # one write per block; on resume a cut-off last image is redone
        self.plan.mark_images([r.path for r in result.images if r.faces is not None])  # after the rows: a crash between redoes them

    def video_started(self, unit: VideoUnit) -> None:
        """Before a video's files are written: the manifest says whose they are."""
        self.plan.mark_video(unit, "partial")

    def video_skipped(self, it: InputItem) -> None:
        out = self.plan.outputs_of(VideoUnit(it.path, self.plan.stems[it.path]))
        self.report.skipped.append(str(it.path))
        self.report.videos[str(it.path)] = out
        self.report.outputs[str(it.path)] = out.files()

    def video(self, result: VideoResult) -> None:
        if result.error is not None:
            self.fail(result.path, result.error)
            return
        out = result.outputs
        self.plan.mark_video(VideoUnit(result.path, out.stem), "done", out)
        self.report.videos[str(result.path)] = out
        self.report.outputs[str(result.path)] = out.files()
        s = json.loads(out.summary_path.read_text(encoding="utf-8"))
        self.report.videos_analyzed += 1
        self.report.frames += int(s.get("frames_analyzed", 0))
        self.report.frames_with_face += int(s.get("frames_with_face", 0))

    def finish(self) -> None:
        if self.plan.images:
            self.report.images_csv = self.plan.image_run.finish()
        self.report.errors_csv = self.errors.commit()
