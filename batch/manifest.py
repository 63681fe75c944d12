"""The run manifest, ``manifest.json`` in the output folder: which input made each output, with which
settings, so that ``--resume`` keeps only what the same input made with the same settings.

::

    {"format": 1,
     "videos": {"a": {"source": {"path": "/abs/in/y/a.mp4", "size": 1234, "mtime_ns": ..., "hash": "..."},
                      "settings": {"stride": 1, "smooth": 0, "annotate": false, "model": "deepfer.int8.xml",
                                   "model_sha256": "...", "runtime": "openvino", "detector": "yunet"},
                      "files": ["a.csv", "a.summary.json"], "status": "done"}},
     "images": {"/abs/in/p.jpg": {"source": {...}, "settings": {...}}}}

A video's key is its output stem: a source keeps its stem in every later run into the same folder
(names stay stable when inputs are added), and a stem is never given to another source.  An input
is the *same* input when its resolved path, size and content hash (:func:`content_hash`: the first
and last MiB and the size) match; the modification time is recorded, not compared, so a copy or a
``touch`` forces no rework while an edited file does.  The manifest is written (atomically) after
every finished video and image block, and before a video starts (``status: partial``), so an
interrupted run's partial files are known to belong to their source and settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from batch.errors import BatchError
from deepfer.fileio import write_json_atomic
from deepfer.model.io import file_sha256
from deepfer.outputs.layout import LOCK_FILE, MANIFEST_JSON

log = logging.getLogger(__name__)

FORMAT = 1
#: Bytes hashed at each end of a file.
HASH_SPAN = 1 << 20


def content_hash(path: Path, size: int) -> str:
    """SHA-256 of the size, the first MiB and the last MiB of a file (the whole file when smaller)."""
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(HASH_SPAN))
        if size > HASH_SPAN:
            f.seek(max(HASH_SPAN, size - HASH_SPAN))
            h.update(f.read(HASH_SPAN))
    return h.hexdigest()


@dataclass(frozen=True)
class Source:
    """What identifies an input file."""

    path: str
    size: int
    mtime_ns: int
    hash: str

    @classmethod
    def of(cls, path: Path) -> Source:
        """Fingerprint ``path`` (raises ``OSError`` if it cannot be read)."""
        st = path.stat()
        return cls(str(path.resolve()), st.st_size, st.st_mtime_ns, content_hash(path, st.st_size))

    def same(self, recorded: dict | None) -> bool:
        """Whether ``recorded`` (a manifest entry's ``source``) is this input, unchanged."""
        return bool(recorded) and (recorded.get("path"), recorded.get("size"), recorded.get("hash")) == (self.path, self.size, self.hash)


def analysis_settings(model_file: Path, runtime: str, detector: str) -> dict:
    """The settings that change every output: the model file actually run (name and weights' SHA-256),
    its runtime and the face detector.  An OpenVINO model's weights are its ``.bin``."""
    weights = model_file.with_suffix(".bin") if model_file.suffix == ".xml" else model_file
    return {"model": model_file.name, "model_sha256": file_sha256(weights) if weights.is_file() else None,
            "runtime": runtime, "detector": detector}


def pipeline_settings(pipeline) -> dict:
    """:func:`analysis_settings` of a loaded :class:`~deepfer.analysis.pipeline.FacePipeline`."""
    c = pipeline.classifier
    return analysis_settings(Path(c.path) if c.path else Path("?"), c.runtime, pipeline.detector.name)


def requested_settings(model: str | Path | None, runtime: str, detector: str) -> dict:
    """:func:`analysis_settings` of the model that ``model`` on ``runtime`` resolves to, without loading it."""
    from deepfer.model.classifier import resolve_model

    rt, file = resolve_model(model, runtime)
    return analysis_settings(file, rt, detector)


class FolderLock:
    """An exclusive lock on an output folder for one run (``.deepfer-run.lock`` holding the run's pid,
    ``flock``): a second run into the same folder stops at once instead of interleaving its files with the
    first one's.  The file is removed when the run ends; a crashed run's file holds no lock (the kernel
    drops it with the process) and is taken over.  Where ``fcntl`` does not exist (Windows) no lock is taken."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / LOCK_FILE
        self._file = None

    def acquire(self) -> FolderLock:
        try:
            import fcntl
        except ImportError:
            return self
        while True:
            f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (closed in release())
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                holder = f.read().strip() or "?"
                f.close()
                raise BatchError(f"another batch run (pid {holder}) is writing to {self.path.parent}; wait for it to finish, "
                                 "or choose another --out") from None
            try:  # the file we locked may have been removed by a run that just ended: lock the current one
                if os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino:
                    break
            except FileNotFoundError:
                pass
            f.close()
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        if self._file is not None:
            self.path.unlink(missing_ok=True)  # while still locked: no other run holds this file
            self._file.close()
            self._file = None


class Manifest:
    """``manifest.json`` of one output folder; see the module docstring."""

    def __init__(self, out_dir: Path, data: dict | None = None):
        self.path = Path(out_dir) / MANIFEST_JSON
        data = data or {}
        self.videos: dict[str, dict] = dict(data.get("videos") or {})
        self.images: dict[str, dict] = dict(data.get("images") or {})

    @classmethod
    def load(cls, out_dir: Path) -> Manifest:
        """The folder's manifest; an empty one if there is none or it cannot be read (then nothing is reused)."""
        path = Path(out_dir) / MANIFEST_JSON
        if not path.is_file():
            return cls(out_dir)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format') if isinstance(data, dict) else type(data).__name__}")
        except (OSError, ValueError) as exc:
            log.warning("%s is unreadable (%s): no earlier output in this folder is reused", path, exc)
            return cls(out_dir)
        return cls(out_dir, data)

    def save(self) -> None:
        write_json_atomic(self.path, {"format": FORMAT, "videos": self.videos, "images": self.images})

    # -- videos --------------------------------------------------------------------------------
    def stem_of(self, source_path: str) -> str | None:
        """The stem an earlier run gave the video at ``source_path`` (resolved), if any."""
        for stem, entry in self.videos.items():
            if (entry.get("source") or {}).get("path") == source_path:
                return stem
        return None

    def video_matches(self, stem: str, source: Source, settings: dict, status: str = "done") -> bool:
        """Whether the outputs of ``stem`` were made from ``source`` with ``settings`` and reached ``status``."""
        entry = self.videos.get(stem)
        return bool(entry) and entry.get("status") == status and source.same(entry.get("source")) and entry.get("settings") == settings

    def set_video(self, stem: str, source: Source, settings: dict, files: list[str], status: str) -> None:
        self.videos[stem] = {"source": asdict(source), "settings": settings, "files": files, "status": status}

    # -- images --------------------------------------------------------------------------------
    def image_matches(self, source: Source, settings: dict) -> bool:
        entry = self.images.get(source.path)
        return bool(entry) and source.same(entry.get("source")) and entry.get("settings") == settings

    def set_image(self, source: Source, settings: dict) -> None:
        self.images[source.path] = {"source": asdict(source), "settings": settings}

    def output_names(self) -> set[str]:
        """Every file name the manifest lists as an output (never an input of a later run)."""
        return {name for entry in self.videos.values() for name in entry.get("files", [])}
