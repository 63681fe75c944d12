"""Errors of the batch module: fail-fast problems with the command itself (not with one input)."""

from __future__ import annotations

from deepfer.errors import DeepFERError


class BatchError(DeepFERError):
    """Missing inputs, an unwritable output folder or bad options: the run cannot start."""


def describe(exc: BaseException) -> str:
    """A one-line message a person understands, for ``errors.csv``."""
    if isinstance(exc, DeepFERError):
        return str(exc)
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    if isinstance(exc, OSError):
        return f"could not read or write the file: {exc.strerror or exc}"
    if isinstance(exc, MemoryError):
        return "out of memory while processing this file"
    return f"unexpected {type(exc).__name__}: {exc}"
