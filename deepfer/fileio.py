"""Crash-safe file writing, once for every writer: a file under its final name is always complete."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def tmp_path(path: str | Path) -> Path:
    """Where ``path`` is written before it is complete: ``clip.csv`` -> ``clip.tmp.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.tmp{path.suffix}")


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write JSON (indented, UTF-8) to ``<name>.tmp.json``, then rename it into place."""
    path = Path(path)
    tmp = tmp_path(path)
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
