"""Reading an output folder back (the writers' counterpart): what it holds, its CSVs as tables, and
:class:`~deepfer.faces.Faces` from rows.  Names come from :mod:`deepfer.outputs.layout`, columns from
:mod:`deepfer.outputs.columns`.

Per video: ``<stem>.csv`` (frame, timestamp_s, face_id, x, y, w, h, det_score, 7 probabilities,
emotion, confidence [, smooth_* columns]), ``<stem>.summary.json``, optional
``<stem>.annotated.mp4``.  Images: ``images.csv`` (path, face columns).  Failures: ``errors.csv``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepfer.errors import DeepFERError
from deepfer.labels import EMOTIONS
from deepfer.outputs.layout import CSV_SUFFIX, ERRORS_CSV, IMAGES_CSV, video_outputs, video_stem_of

VIDEO_REQUIRED = ("frame", "timestamp_s", "face_id", "x", "y", "w", "h", *EMOTIONS, "emotion", "confidence")
IMAGE_REQUIRED = ("path", "face_id", "x", "y", "w", "h", *EMOTIONS, "emotion", "confidence")


class BatchOutputError(DeepFERError):
    """A folder holds no batch output, or a batch file is not in the expected format."""


@dataclass
class VideoOutput:
    stem: str
    csv: Path
    summary: Path | None = None
    annotated: Path | None = None

    def summary_data(self) -> dict:
        if self.summary is None:
            return {}
        try:
            data = json.loads(self.summary.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BatchOutputError(f"{self.summary}: not readable JSON ({exc})") from None
        return data if isinstance(data, dict) else {}

    def source_video(self) -> Path | None:
        """The analyzed video when it can still be found (from the summary), else the annotated one."""
        try:
            data = self.summary_data()
        except BatchOutputError:
            data = {}
        for key in ("source", "input", "path", "video"):
            v = data.get(key)
            if isinstance(v, str) and v:
                p = Path(v)
                if not p.is_absolute() and self.summary is not None:
                    p = self.summary.parent / p if (self.summary.parent / p).is_file() else p
                if p.is_file():
                    return p
        return self.annotated


@dataclass
class BatchOutput:
    folder: Path
    videos: dict[str, VideoOutput] = field(default_factory=dict)
    images_csv: Path | None = None
    errors_csv: Path | None = None


def find_outputs(folder: str | Path) -> BatchOutput:
    """What a batch output folder holds; :class:`BatchOutputError` when it holds nothing of the kind."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise BatchOutputError(f"folder {folder} does not exist")
    if not folder.is_dir():
        raise BatchOutputError(f"{folder} is not a folder")
    out = BatchOutput(folder)
    for p in sorted(folder.glob("*" + CSV_SUFFIX)):
        if p.name == IMAGES_CSV:
            out.images_csv = p
        elif p.name == ERRORS_CSV:
            out.errors_csv = p
        elif (stem := video_stem_of(p)) is not None:  # not a run file, not unfinished
            files = video_outputs(folder, stem)
            out.videos[stem] = VideoOutput(stem, p, files.summary_path if files.summary_path.is_file() else None,
                                           files.annotated_path if files.annotated_path.is_file() else None)
    if not out.videos and out.images_csv is None and out.errors_csv is None:
        raise BatchOutputError(f"{folder} holds no batch output (no <video>.csv, images.csv or errors.csv); run the batch first")
    return out


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise BatchOutputError(f"{path} is empty") from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BatchOutputError(f"{path} is not a readable CSV ({exc})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise BatchOutputError(f"{path.name} is not a DeepFER batch CSV: missing column(s) {', '.join(missing)}")
    return df


def load_video_csv(path: str | Path) -> pd.DataFrame:
    """All rows (frames without a face have an empty ``face_id``)."""
    df = _read_csv(Path(path), VIDEO_REQUIRED)
    df["face_id"] = pd.to_numeric(df["face_id"], errors="coerce").astype("Int64")
    return df


def load_images_csv(path: str | Path) -> pd.DataFrame:
    df = _read_csv(Path(path), IMAGE_REQUIRED)
    df["face_id"] = pd.to_numeric(df["face_id"], errors="coerce").astype("Int64")
    return df


def load_errors_csv(path: str | Path) -> pd.DataFrame:
    return _read_csv(Path(path), ("path", "error"))


def prob_columns(df: pd.DataFrame, smoothed: bool = False) -> list[str]:
    """The seven probability columns (``smooth_<emotion>`` when asked for and present)."""
    if smoothed and all(f"smooth_{e}" in df.columns for e in EMOTIONS):
        return [f"smooth_{e}" for e in EMOTIONS]
    return list(EMOTIONS)


def faces_only(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that describe a face (a frame or image without one has empty face columns).

    Image rows number their faces ``1..N`` per image in ``face_id``; faces without one (older outputs) get ``-1``."""
    f = df[pd.to_numeric(df["x"], errors="coerce").notna()].copy()
    f["face_id"] = f["face_id"].fillna(-1)
    return f


def decided(df: pd.DataFrame) -> bool:
    """Whether a video CSV holds emotions decided over time (``smooth_*`` and ``raw_emotion`` columns:
    the ``emotion`` column is then the temporal model's, not the per-frame argmax)."""
    return "raw_emotion" in df.columns and all(f"smooth_{e}" in df.columns for e in EMOTIONS)


def faces_of_frame(df: pd.DataFrame, frame: int):
    """The :class:`~deepfer.faces.Faces` recorded for one frame index (with the smoothed probabilities and
    the emotions decided over time when the CSV has them: drawn, they match the annotated video)."""
    from deepfer.faces import Faces

    f = faces_only(df[df["frame"] == frame])
    extra = {}
    if decided(df):
        index = {e: i for i, e in enumerate(EMOTIONS)}
        extra = {"smoothed": f[prob_columns(f, True)].to_numpy(float), "emotion_ids": f["emotion"].map(index).to_numpy(np.int64)}
    return Faces(f[["x", "y", "w", "h"]].to_numpy(), f["det_score"].to_numpy(float) if "det_score" in f else np.ones(len(f)),
                 f[list(EMOTIONS)].to_numpy(float), f["face_id"].astype(int).to_numpy(), **extra)


def read_frame(video: Path, index: int):
    """Frame ``index`` of a video as BGR, or ``None`` when it cannot be read."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            return None
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        return frame if ok else None
    finally:
        cap.release()


def summarize(df: pd.DataFrame, fps: float, stride: int = 1, smoothed: bool = True) -> dict:
    """The summary (shares, segments per face and overall) of a video CSV, computed by the same
    :class:`~deepfer.outputs.summary.SummaryBuilder` that wrote ``<stem>.summary.json``: from the
    emotions decided over time (``smoothed``, when the CSV has them) or from the per-frame argmax."""
    from deepfer.outputs.summary import SummaryBuilder

    builder = SummaryBuilder(fps, stride)
    use_decided = smoothed and decided(df)
    cols = prob_columns(df, use_decided)
    index = {e: i for i, e in enumerate(EMOTIONS)}
    faces = faces_only(df)
    by_frame = {int(k): g for k, g in faces.groupby("frame")}
    for frame, ts in df.drop_duplicates("frame")[["frame", "timestamp_s"]].itertuples(index=False):
        g = by_frame.get(int(frame))
        if g is None:
            builder.add(int(frame), float(ts), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(EMOTIONS))))
            continue
        raw = g[list(EMOTIONS)].to_numpy(float).argmax(axis=1)
        labels = g["emotion"].map(index).to_numpy(np.int64) if use_decided else raw
        builder.add(int(frame), float(ts), g["face_id"].astype(int).to_numpy(), labels, g[cols].to_numpy(float), raw)
    return builder.to_json()
