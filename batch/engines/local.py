"""``python -m batch`` in this process: a loop over the plan's units.

Videos give ``DIR/<stem>.csv`` (+ ``.summary.json``, ``.annotated.mp4``), images give one
``DIR/images.csv``, failed inputs are listed in ``DIR/errors.csv``.  Every file is written under
a ``.tmp`` name, flushed as it grows and renamed when complete, so an interrupted run loses
nothing already finished and ``resume=True`` redoes only what is missing or partial.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from batch.manifest import pipeline_settings, requested_settings
from batch.plan import Options, Plan, plan_run
from batch.results import BatchReport, RunWriter
from batch.units import run_unit
from deepfer.analysis.detect import DEFAULT_DETECTOR
from deepfer.analysis.temporal import DEFAULT_TEMPORAL

if TYPE_CHECKING:
    from deepfer.analysis.pipeline import FacePipeline

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]


def progress_bar(total: float | None, desc: str, unit: str, enabled: bool, position: int = 0, leave: bool = True):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, position=position, leave=leave, dynamic_ncols=True)


def run_batch(inputs: list[str | Path], out_dir: str | Path, *, model: str | Path | None = None, runtime: str = "auto", detector: str = DEFAULT_DETECTOR,
              stride: int = 1, smooth_s: float = DEFAULT_TEMPORAL.smooth_s, hold_s: float = DEFAULT_TEMPORAL.hold_s,
              annotate: bool = False, sort_into: str | Path | None = None, resume: bool = False,
              progress: bool = True, on_progress: ProgressFn | None = None, pipeline=None) -> BatchReport:
    """Analyze images, videos and folders of them into ``out_dir``; see the module docstring.

    Fails fast (:class:`~batch.errors.BatchError`) on missing inputs, no media found, or an
    unwritable output folder; a bad input file is listed in ``errors.csv`` and the run goes on.
    ``pipeline``: an already loaded :class:`~deepfer.analysis.pipeline.FacePipeline` (else
    ``model`` on ``runtime`` and ``detector`` are loaded).
    """
    from deepfer.analysis.pipeline import FacePipeline

    t0 = time.perf_counter()
    options = Options(stride=stride, smooth_s=smooth_s, hold_s=hold_s, annotate=annotate)
    plan = plan_run(inputs, out_dir, sort_into, options, resume,
                    lambda: pipeline_settings(pipeline) if pipeline is not None else requested_settings(model, runtime, detector))
    try:
        report = _run(plan, pipeline or FacePipeline.create(model, detector, runtime=runtime), progress, on_progress)
    finally:
        plan.release()
    report.seconds = time.perf_counter() - t0
    return report


def _run(plan: Plan, pipeline: FacePipeline, progress: bool, on_progress: ProgressFn | None) -> BatchReport:
    """The units of ``plan``, one after the other, written as they finish."""
    options = plan.options
    report = BatchReport(plan.out_dir, inputs=len(plan.items))
    total = max(1, len(plan.items))
    done = {"n": 0}
    overall = progress_bar(total, "batch", "file", progress, position=0)

    def step(message: str) -> None:
        done["n"] += 1
        overall.update(1)
        if on_progress is not None:
            on_progress(done["n"] / total, message)

    def video_progress(frac: float, message: str) -> None:
        if on_progress is not None:
            on_progress((done["n"] + frac) / total, message)

    try:
        with RunWriter(plan, report) as writer:
            writer.start()
            for _ in range(len(plan.unknown) + len(plan.unreadable) + len(plan.images_done)):
                step("already done or not readable")
            for block in plan.blocks:
                writer.block(run_unit(block, pipeline, plan.out_dir, options, on_image=lambda p: step(str(p))))
            todo = {unit.path: unit for unit in plan.videos}
            for it in plan.items:  # videos in input order, done ones (--resume) kept
                if it.kind != "video" or it.path in plan.unreadable:
                    continue
                if it.path in todo:
                    writer.video_started(todo[it.path])
                    writer.video(run_unit(todo[it.path], pipeline, plan.out_dir, options, on_progress=video_progress, progress=progress))
                else:
                    writer.video_skipped(it)
                step(str(it.path))
            writer.finish()
    finally:
        overall.close()
    return report
