"""The one unit of batch work, run the same way by both engines: :func:`run_unit`.

A :class:`~batch.plan.VideoUnit` writes its video's files into the output folder (through
:func:`deepfer.outputs.video.analyze_video`) and returns their paths; an
:class:`~batch.plan.ImageBlock` returns each image's :class:`~deepfer.faces.Faces` (or its error)
for the driver to write.  A bad input is a result with its message, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batch.errors import describe
from batch.plan import ImageBlock, Options, VideoUnit
from deepfer.analysis.pipeline import FacePipeline
from deepfer.faces import Faces
from deepfer.outputs.layout import VideoOutputs

ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class ImageResult:
    """One image: its faces, or why it could not be analyzed."""

    path: Path
    faces: Faces | None = None
    error: str | None = None


@dataclass(frozen=True)
class VideoResult:
    """One video: its output files, or why it could not be analyzed."""

    path: Path
    outputs: VideoOutputs | None = None
    error: str | None = None


@dataclass(frozen=True)
class BlockResult:
    block: int
    images: list[ImageResult]


def analyze_image_block(paths: tuple[Path, ...] | list[Path], pipeline: FacePipeline,
                        on_image: Callable[[Path], None] | None = None) -> list[ImageResult]:
    """Read each image, find its faces, then classify all of them in one batch."""
    from deepfer.preprocess import read_image

    failed: dict[int, str] = {}
    located = []
    for k, path in enumerate(paths):
        try:
            located.append((k, pipeline.locate(read_image(path))))
        except Exception as exc:  # one bad file never stops the run
            failed[k] = describe(exc)
        if on_image is not None:
            on_image(path)
    faces = dict(zip((k for k, _ in located), pipeline.classify([loc for _, loc in located])))
    return [ImageResult(p, faces=faces.get(k), error=failed.get(k)) for k, p in enumerate(paths)]


def run_unit(unit: VideoUnit | ImageBlock, pipeline: FacePipeline, out_dir: str | Path, options: Options, *,
             on_progress: ProgressFn | None = None, on_image: Callable[[Path], None] | None = None,
             progress: bool = False) -> VideoResult | BlockResult:
    """Analyze one unit with ``pipeline``; ``on_progress(fraction, message)`` within a video,
    ``on_image(path)`` after each image of a block."""
    if isinstance(unit, ImageBlock):
        return BlockResult(unit.i, analyze_image_block(unit.paths, pipeline, on_image))
    from deepfer.outputs.video import analyze_video

    try:
        outputs = analyze_video(unit.path, out_dir, pipeline, stride=options.stride, temporal=options.temporal, annotate=options.annotate,
                                stem=unit.stem, on_progress=on_progress, progress=progress,
                                checkpoint_key=unit.key, resume=unit.resume)
    except Exception as exc:  # one bad video never stops the run
        return VideoResult(unit.path, error=describe(exc))
    return VideoResult(unit.path, outputs=outputs)
