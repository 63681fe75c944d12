"""CSV writing and reading, crash-safe (columns: :mod:`deepfer.outputs.columns`).

Rows go to ``<name>.tmp.csv`` and are flushed as they are written; :meth:`CSVSink.commit` renames
the finished file into place, so a file under its final name is always complete.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from deepfer.fileio import tmp_path


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
        self._continue_at: int | None = None

    def reopen(self, nbytes: int) -> CSVSink:
        """Enter to continue an unfinished ``.tmp`` file after its first ``nbytes`` bytes (a length
        :meth:`tell` gave: the header and whole rows), dropping whatever was written after them."""
        self._continue_at = int(nbytes)
        return self

    def __enter__(self) -> CSVSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._continue_at is not None:
            os.truncate(self.tmp, self._continue_at)
            self._file = open(self.tmp, "a", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
            self._writer = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="raise")
            return self
        self._file = open(self.tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="raise")
        self._writer.writeheader()
        self._file.flush()
        return self

    def tell(self) -> int:
        """Bytes written so far (all flushed)."""
        return os.fstat(self._file.fileno()).st_size

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


