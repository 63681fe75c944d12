"""A stream's analysis state as plain JSON, so an interrupted video resumes where it stopped.

Every stateful object of the per-frame path (face finder, tracker, smoother, summary) names the
attributes that make its state in ``STATE_ATTRS``; :func:`snapshot` copies them into JSON-able values
and :func:`restore` puts them back.  The encoding is exact (floats keep every bit: JSON numbers are
written with ``repr``; arrays keep dtype and shape) and safe to read from disk: only plain values,
NumPy arrays, deques and the dataclasses marked with :func:`stateful` are decoded, nothing is executed.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

import numpy as np

_TYPES: dict[str, type] = {}


def stateful(cls: type) -> type:
    """Class decorator: instances of this dataclass may be part of a saved state."""
    _TYPES[cls.__name__] = cls
    return cls


def encode(value: Any) -> Any:
    """``value`` as JSON-able data (a deep copy)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        return {"__nd__": value.dtype.str, "shape": list(value.shape), "data": value.ravel().tolist()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, deque):
        return {"__deque__": [encode(v) for v in value], "maxlen": value.maxlen}
    if isinstance(value, (list, tuple)):
        return {"__tuple__": [encode(v) for v in value]} if isinstance(value, tuple) else [encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _TYPES:
        return {"__dc__": type(value).__name__, "fields": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    raise TypeError(f"cannot save analysis state of type {type(value).__name__}")


def decode(data: Any) -> Any:
    """The value :func:`encode` encoded; ``ValueError`` for anything else."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        raise ValueError(f"not analysis state: {type(data).__name__}")
    if "__nd__" in data:
        return np.asarray(data["data"], dtype=np.dtype(data["__nd__"])).reshape(data["shape"])
    if "__deque__" in data:
        return deque((decode(v) for v in data["__deque__"]), maxlen=data["maxlen"])
    if "__tuple__" in data:
        return tuple(decode(v) for v in data["__tuple__"])
    if "__dict__" in data:
        return {decode(k): decode(v) for k, v in data["__dict__"]}
    if "__dc__" in data:
        cls = _TYPES.get(data["__dc__"])
        if cls is None:
            raise ValueError(f"not analysis state: unknown type {data['__dc__']!r}")
        fields = {k: decode(v) for k, v in data["fields"].items()}
        init = {f.name: fields[f.name] for f in dataclasses.fields(cls) if f.init and f.name in fields}
        obj = cls(**init)
        for f in dataclasses.fields(cls):
            if not f.init and f.name in fields:
                object.__setattr__(obj, f.name, fields[f.name])
        return obj
    raise ValueError("not analysis state: an object without a type tag")


def snapshot(obj: Any) -> dict:
    """The attributes ``type(obj).STATE_ATTRS`` of ``obj``, encoded."""
    return {name: encode(getattr(obj, name)) for name in type(obj).STATE_ATTRS}


def restore(obj: Any, state: dict) -> None:
    """Put a :func:`snapshot` back into ``obj`` (a ``KeyError`` if an attribute is missing)."""
    for name in type(obj).STATE_ATTRS:
        setattr(obj, name, decode(state[name]))
