"""A batch run's inputs: image files, video files and folders of them, expanded in a stable order,
with every file that is not taken as an input accounted for.

Folders are walked recursively (links to folders followed once; a link loop is reported, not
followed).  What is found but not analyzed is never dropped without a word:

- a folder that cannot be listed, a broken or looping link: a :class:`Skip` that is an **error**
  (an ``errors.csv`` row: the user expected it to be analyzed);
- files that are not media (``notes.txt``) and hidden files (``.DS_Store``): a :class:`Skip` that is
  **listed** (``skipped.csv``), not an error;
- the run's own output files, when the output folder lies inside an input folder: not inputs at all.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from batch.errors import BatchError
from deepfer.media import media_kind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputItem:
    """One input file; ``kind`` is ``image``, ``video`` or ``unknown`` (named explicitly, not a media suffix)."""

    path: Path
    kind: str


@dataclass(frozen=True)
class Skip:
    """Something found under an input folder and not analyzed, with the reason; ``error``: an
    ``errors.csv`` row (it should have been analyzable) rather than a listed skip."""

    path: Path
    reason: str
    error: bool = False


@dataclass
class Inputs:
    """The expanded inputs in order, and what was found but not taken."""

    items: list[InputItem] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)

    @property
    def errors(self) -> list[Skip]:
        return [s for s in self.skips if s.error]

    @property
    def listed(self) -> list[Skip]:
        return [s for s in self.skips if not s.error]


def _link_problem(p: Path) -> str | None:
    """Why the link ``p`` cannot be followed (broken, a loop), or ``None``."""
    try:
        p.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link points back at itself)"
        if exc.errno == errno.ENOENT:
            return f"broken symbolic link (its target {os.readlink(p)!r} does not exist)"
        return f"cannot follow the symbolic link: {exc.strerror}"
    return None


def _walk(folder: Path, skips: list[Skip], is_output: Callable[[Path], bool]) -> list[Path]:
    """Media files under ``folder``, sorted by path; everything else becomes a :class:`Skip`."""
    found: list[Path] = []
    visited: set[tuple[int, int]] = set()

    def visit(d: Path) -> None:
        try:
            st = d.stat()
            if (st.st_dev, st.st_ino) in visited:
                skips.append(Skip(d, "folder link loop (this folder was already searched)", error=True))
                return
            visited.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
            skips.append(Skip(d, f"cannot list this folder: {reason}", error=True))
            return
        for e in entries:
            p = Path(e.path)
            if is_output(p):
                continue
            if e.name.startswith("."):
                skips.append(Skip(p, "hidden file or folder"))
                continue
            if e.is_symlink() and (problem := _link_problem(p)) is not None:
                skips.append(Skip(p, problem, error=True))
                continue
            try:
                is_dir = e.is_dir()
            except OSError as exc:
                skips.append(Skip(p, f"cannot read: {exc.strerror}", error=True))
                continue
            if is_dir:
                visit(p)
            elif media_kind(p) == "unknown":
                skips.append(Skip(p, f"not an image or video file ({p.suffix or 'no suffix'})"))
            else:
                found.append(p)

    visit(folder)
    return sorted(found, key=lambda f: f.as_posix())


def collect_inputs(inputs: Iterable[str | Path], is_output: Callable[[Path], bool] = lambda p: False) -> Inputs:
    """Expand ``inputs`` in the order given; folders recursively, sorted; duplicates listed once.

    Files named explicitly are kept whatever their suffix (an unknown one becomes an error later).
    ``is_output(path)``: the run's own output files and folders, never inputs.  Missing inputs
    fail fast with :class:`BatchError`.
    """
    inputs = list(inputs)
    if not inputs:
        raise BatchError("no inputs given: name image files, video files or folders")
    missing = [str(p) for p in inputs if not os.path.lexists(p)]
    if missing:
        raise BatchError("input not found: " + ", ".join(missing))
    out = Inputs()
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.items.append(InputItem(p, media_kind(p)))

    for raw in inputs:
        p = Path(raw)
        if p.is_symlink() and (problem := _link_problem(p)) is not None:
            out.skips.append(Skip(p, problem, error=True))
        elif p.is_dir():
            found = _walk(p, out.skips, is_output)
            if not found:
                log.warning("%s: no image or video files in this folder", p)
            for f in found:
                add(f)
        else:
            add(p)
    return out
