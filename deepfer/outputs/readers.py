"""Reading a batch output folder (``python -m batch`` / ``batch.engines.local.run_batch``) for the Batch explorer.

Per video: ``<stem>.csv`` (frame, timestamp_s, face_id, x, y, w, h, det_score, 7 probabilities,
emotion, confidence [, smooth_* columns]), ``<stem>.summary.json``, optional
``<stem>.annotated.mp4``.  Images: ``images.csv`` (path, face columns).  Failures: ``errors.csv``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepfer.errors import DeepFERError
from deepfer.labels import EMOTIONS

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
    for p in sorted(folder.glob("*.csv")):
        if p.name == "images.csv":
            out.images_csv = p
        elif p.name == "errors.csv":
            out.errors_csv = p
        else:
            stem = p.stem
            summary = folder / f"{stem}.summary.json"
            annotated = folder / f"{stem}.annotated.mp4"
            out.videos[stem] = VideoOutput(stem, p, summary if summary.is_file() else None, annotated if annotated.is_file() else None)
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

    Image rows have no ``face_id`` (no tracking across images); video faces without one get ``-1``."""
    f = df[pd.to_numeric(df["x"], errors="coerce").notna()].copy()
    f["face_id"] = f["face_id"].fillna(-1)
    return f


def dominant(df: pd.DataFrame, smoothed: bool = False) -> pd.Series:
    cols = prob_columns(df, smoothed)
    return pd.Series(np.asarray(EMOTIONS)[df[cols].to_numpy(float).argmax(axis=1)], index=df.index)


def timeline_long(df: pd.DataFrame, smoothed: bool = False) -> pd.DataFrame:
    """Long table timestamp_s, face_id, emotion, probability for plotting."""
    f = faces_only(df)
    cols = prob_columns(f, smoothed)
    f = f[["timestamp_s", "face_id", *cols]].rename(columns=dict(zip(cols, EMOTIONS)))
    f["face_id"] = f["face_id"].astype(int).astype(str)
    return f.melt(id_vars=["timestamp_s", "face_id"], value_vars=list(EMOTIONS), var_name="emotion", value_name="probability")


def timeline_figure(df: pd.DataFrame, smoothed: bool = False):
    import plotly.express as px

    from deepfer.analysis.annotate import COLORS_BGR

    long = timeline_long(df, smoothed)
    colors = {e: "rgb({2},{1},{0})".format(*COLORS_BGR[e]) for e in EMOTIONS}
    n = max(1, long["face_id"].nunique())
    fig = px.line(long, x="timestamp_s", y="probability", color="emotion", facet_row="face_id" if n > 1 else None,
                  color_discrete_map=colors, category_orders={"emotion": list(EMOTIONS)},
                  title="Emotion probabilities over time" + (" per face" if n > 1 else f" (face {long['face_id'].iloc[0]})" if len(long) else ""))
    fig.update_layout(height=min(300 * n, 1200) + 80, margin={"t": 60})
    fig.update_yaxes(range=[0, 1])
    return fig


def share_of_time(df: pd.DataFrame, smoothed: bool = False) -> pd.DataFrame:
    """Per face, the fraction of its frames whose dominant emotion is each emotion."""
    f = faces_only(df)
    if f.empty:
        return pd.DataFrame(columns=["face_id", *EMOTIONS])
    f["dominant"] = dominant(f, smoothed)
    tab = pd.crosstab(f["face_id"].astype(int), f["dominant"], normalize="index")
    return tab.reindex(columns=list(EMOTIONS), fill_value=0.0).reset_index().rename_axis(None, axis=1)


def share_figure(df: pd.DataFrame, smoothed: bool = False):
    import plotly.graph_objects as go

    from deepfer.analysis.annotate import COLORS_BGR

    tab = share_of_time(df, smoothed)
    fig = go.Figure([go.Bar(name=e, x=tab["face_id"].astype(str), y=tab[e], marker_color="rgb({2},{1},{0})".format(*COLORS_BGR[e]))
                     for e in EMOTIONS])
    fig.update_layout(barmode="stack", title="Share of time per emotion (dominant emotion per frame)", xaxis_title="face_id",
                      yaxis_tickformat=".0%", height=360, margin={"t": 50})
    return fig


def segments(df: pd.DataFrame, smoothed: bool = False, min_frames: int = 1) -> pd.DataFrame:
    """Runs of consecutive frames of one face with the same dominant emotion.

    Columns: face_id, emotion, start_s, end_s, duration_s, frames.  Runs shorter than
    ``min_frames`` are dropped (flicker)."""
    f = faces_only(df).sort_values(["face_id", "frame"])
    cols = ["face_id", "emotion", "start_s", "end_s", "duration_s", "frames"]
    if f.empty:
        return pd.DataFrame(columns=cols)
    f["dominant"] = dominant(f, smoothed)
    rows = []
    for fid, g in f.groupby("face_id"):
        frame = g["frame"].to_numpy()
        dom = g["dominant"].to_numpy()
        ts = g["timestamp_s"].to_numpy(float)
        start = 0
        for i in range(1, len(g) + 1):
            if i == len(g) or dom[i] != dom[start] or frame[i] - frame[i - 1] > max(1, _stride(frame)):
                n = i - start
                if n >= min_frames:
                    rows.append({"face_id": int(fid), "emotion": dom[start], "start_s": float(ts[start]), "end_s": float(ts[i - 1]),
                                 "duration_s": float(ts[i - 1] - ts[start]), "frames": n})
                start = i
    return pd.DataFrame(rows, columns=cols)


def _stride(frames: np.ndarray) -> int:
    d = np.diff(np.unique(frames))
    return int(np.min(d)) if len(d) else 1


def segments_figure(seg: pd.DataFrame):
    import plotly.graph_objects as go

    from deepfer.analysis.annotate import COLORS_BGR

    fig = go.Figure()
    for e in EMOTIONS:
        s = seg[seg["emotion"] == e]
        if len(s):
            fig.add_trace(go.Bar(name=e, y=s["face_id"].astype(str), x=np.maximum(s["duration_s"], 0.04), base=s["start_s"],
                                 orientation="h", marker_color="rgb({2},{1},{0})".format(*COLORS_BGR[e])))
    fig.update_layout(title="Dominant-emotion segments", xaxis_title="timestamp_s", yaxis_title="face_id", barmode="overlay",
                      height=120 + 60 * max(1, seg["face_id"].nunique()), margin={"t": 50})
    return fig


def face_summary(df: pd.DataFrame, smoothed: bool = False) -> pd.DataFrame:
    """One row per face: first/last seen, frames, dominant emotion, mean confidence, mean probabilities."""
    f = faces_only(df)
    cols = ["face_id", "first_s", "last_s", "frames", "dominant emotion", "mean confidence", *EMOTIONS]
    if f.empty:
        return pd.DataFrame(columns=cols)
    pc = prob_columns(f, smoothed)
    rows = []
    for fid, g in f.groupby("face_id"):
        mean = g[pc].to_numpy(float).mean(axis=0)
        rows.append({"face_id": int(fid), "first_s": float(g["timestamp_s"].min()), "last_s": float(g["timestamp_s"].max()),
                     "frames": int(g["frame"].nunique()), "dominant emotion": EMOTIONS[int(mean.argmax())],
                     "mean confidence": float(g["confidence"].mean()), **{e: round(float(m), 3) for e, m in zip(EMOTIONS, mean)}})
    return pd.DataFrame(rows, columns=cols)


def faces_of_frame(df: pd.DataFrame, frame: int):
    """The :class:`~deepfer.faces.Faces` recorded for one frame index."""
    from deepfer.faces import Faces

    f = faces_only(df[df["frame"] == frame])
    return Faces(f[["x", "y", "w", "h"]].to_numpy(), f["det_score"].to_numpy(float) if "det_score" in f else np.ones(len(f)),
                 f[list(EMOTIONS)].to_numpy(float), f["face_id"].astype(int).to_numpy())


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


def thumbnail_uri(image_path: str | Path, box: tuple[int, int, int, int] | None = None, size: int = 64) -> str | None:
    """``data:image/png;base64,...`` of the face (or whole image) for a table's image column."""
    import cv2

    from deepfer.preprocess import read_image

    try:
        img = read_image(image_path)
    except DeepFERError:
        return None
    if box is not None and all(v == v for v in box):  # not NaN
        x, y, w, h = (int(v) for v in box)
        crop = img[max(0, y): y + h, max(0, x): x + w]
        img = crop if crop.size else img
    s = size / max(img.shape[:2])
    img = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", img)
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode() if ok else None
