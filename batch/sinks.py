"""CSV writers whose columns come from :data:`deepfer.faces.FACE_COLUMNS`, written crash-safely.

Rows go to ``<name>.tmp.csv`` and are flushed as they are written; :meth:`CSVSink.commit` renames
the finished file into place, so a file under its final name is always complete.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from deepfer.faces import FACE_COLUMNS
from deepfer.labels import EMOTIONS

#: ``DIR/<video-stem>.csv``: one row per (frame, face) and one per analyzed frame with no face.
VIDEO_COLUMNS: tuple[str, ...] = ("frame", "timestamp_s", *FACE_COLUMNS)
#: Extra columns of a video CSV written with ``--smooth K`` (K > 1).
SMOOTH_COLUMNS: tuple[str, ...] = tuple(f"smooth_{e}" for e in EMOTIONS)
#: ``DIR/images.csv``: one row per (image, face) and one per image with no face.
IMAGE_COLUMNS: tuple[str, ...] = ("path", *FACE_COLUMNS)
#: ``DIR/errors.csv``: every input that could not be processed, with a readable reason.
ERROR_COLUMNS: tuple[str, ...] = ("path", "error")


def tmp_path(path: Path) -> Path:
    """Where ``path`` is written before it is complete: ``clip.csv`` -> ``clip.tmp.csv``."""
    return path.with_name(f"{path.stem}.tmp{path.suffix}")


class CSVSink:
    """Context manager writing dict rows with a fixed header; raises on a row that does not match it.

    >>> with CSVSink(out / "clip.csv", VIDEO_COLUMNS) as sink:
    ...     sink.write_rows(rows)      # flushed at once
    ...     sink.commit()              # clip.tmp.csv -> clip.csv
    Leaving the block without ``commit()`` (an error, an interrupt) keeps only the ``.tmp.csv``.
    """

    def __init__(self, path: str | Path, columns: tuple[str, ...] | list[str]):
        self.path = Path(path)
        self.columns = tuple(columns)
        self.tmp = tmp_path(self.path)
        self.rows = 0
        self._file = None
        self._writer = None

    def __enter__(self) -> CSVSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="raise")
        self._writer.writeheader()
        self._file.flush()
        return self

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        """Write and flush ``rows`` (all at once, so one input's rows are never half written)."""
        if self._writer is None:
            raise RuntimeError("CSVSink.write_rows() outside its 'with' block")
        for row in rows:
            if set(row) != set(self.columns):
                extra = sorted(set(row) - set(self.columns))
                missing = [c for c in self.columns if c not in row]
                raise ValueError(f"{self.path.name}: row does not match the header (extra {extra}, missing {missing})")
        self._writer.writerows(rows)
        self._file.flush()
        self.rows += len(rows)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None

    def commit(self) -> Path:
        """Close and rename the finished file into place."""
        self.close()
        os.replace(self.tmp, self.path)
        return self.path

    def __exit__(self, *exc) -> None:
        self.close()


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV written by :class:`CSVSink`; an unfinished last line (a crash mid-write) is dropped."""
    text = Path(path).read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(text.splitlines()))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write JSON to ``<name>.tmp.json`` then rename, so the file is never seen half written."""
    path = Path(path)
    tmp = tmp_path(path)
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
