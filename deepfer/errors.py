"""DeepFER's own exception types: messages a user can act on."""

from __future__ import annotations


class DeepFERError(Exception):
    """Base class of every error DeepFER raises on purpose."""


class DatasetError(DeepFERError):
    """A dataset folder or file is missing, empty or laid out wrongly."""


class ModelError(DeepFERError):
    """A model file is missing, unreadable or does not fit DeepFER's input/output contract."""


class ImageError(DeepFERError):
    """An image could not be read or decoded."""
