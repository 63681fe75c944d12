"""DeepFER's own exception types: messages a user can act on."""

from __future__ import annotations

import os
import stat


class DeepFERError(Exception):
    """Base class of every error DeepFER raises on purpose."""


class DatasetError(DeepFERError):
    """A dataset folder or file is missing, empty or laid out wrongly."""


class ModelError(DeepFERError):
    """A model file is missing, unreadable or does not fit DeepFER's input/output contract."""


class ImageError(DeepFERError):
    """An image could not be read or decoded."""


def unreadable_file(path: str | os.PathLike, allow_empty: bool = False) -> str | None:
    """Why ``path`` cannot be read as a file, as a message naming it, or ``None`` when it can.

    ``PATH: no such file``, ``PATH: a folder, not a file``, ``PATH: not a regular file``,
    ``permission denied: PATH``, ``PATH: empty file (0 bytes)`` (unless ``allow_empty``).  The file
    is opened (one byte is read) rather than trusting ``os.access``, which answers for the real, not
    the effective, user.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path}: no such file"
    except PermissionError:
        return f"permission denied: {path}"
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return f"{path}: a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"{path}: not a regular file"
    try:
        with open(path, "rb") as f:
            empty = not f.read(1)
    except PermissionError:
        return f"permission denied: {path}"
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    return f"{path}: empty file (0 bytes)" if empty and not allow_empty else None
