"""Which files are images and which are videos: one list of suffixes for every reader of media."""

from __future__ import annotations

from pathlib import Path

#: Still images OpenCV decodes (a GIF's first frame: OpenCV 4.12 reads GIF).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".jp2"})
#: Video containers read through OpenCV's FFmpeg backend.
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})


def media_kind(path: str | Path) -> str:
    """``image``, ``video`` or ``unknown`` from a file name's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "unknown"


def upload_types(kinds: tuple[str, ...] = ("image",)) -> list[str]:
    """Suffixes without the dot, sorted, for an upload widget's ``type=`` list."""
    suffixes = set()
    if "image" in kinds:
        suffixes |= IMAGE_SUFFIXES
    if "video" in kinds:
        suffixes |= VIDEO_SUFFIXES
    return sorted(s.lstrip(".") for s in suffixes)
