"""The Batch explorer's figures and tables over an output folder read by :mod:`deepfer.outputs.readers`.

Shares of time and dominant-emotion segments come from :func:`deepfer.outputs.readers.summarize`,
the same computation as ``<stem>.summary.json``, never a second one.

The explorer opens folders only under the results roots (:func:`results_roots`: ``$DEEPFER_RESULTS_DIR``,
else the dashboard's own upload runs), and reads only files under those roots or the opened folder, after
resolving symbolic links and ``..``: a dashboard exposed on a network never becomes a browser of the
server's files."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from deepfer.errors import DeepFERError
from deepfer.labels import EMOTIONS
from deepfer.outputs.readers import BatchOutput, VideoOutput, faces_only, find_outputs, prob_columns, summarize

#: How deep below a results root :func:`list_runs` looks for output folders (``<root>/batch-.../output`` is 2).
RUN_SEARCH_DEPTH = 3
#: At most this many runs are offered, the newest first.
MAX_RUNS = 200

log = logging.getLogger(__name__)


def results_roots() -> list[Path]:
    """The folders the explorer may open, resolved: ``$DEEPFER_RESULTS_DIR`` (default: the dashboard's work
    folder) and the dashboard's work folder, where its own upload runs live."""
    from deepfer.config import dashboard_workdir, results_root

    roots = []
    for r in (results_root(), dashboard_workdir()):
        r = r.expanduser().resolve()
        if r not in roots:
            roots.append(r)
    return roots


def is_within(path: str | Path, folders: Sequence[Path]) -> bool:
    """Whether ``path``, resolved (symbolic links, ``..``), is one of ``folders`` (resolved) or lies below one."""
    p = Path(path).expanduser().resolve()
    return any(p.is_relative_to(Path(f).resolve()) for f in folders)


def check_results_folder(folder: str | Path, roots: Sequence[Path] | None = None) -> Path:
    """``folder`` (a relative one: below the first root) resolved when it lies under a results root; DeepFERError
    naming the root and how to change it otherwise."""
    from deepfer.config import ENV_RESULTS_DIR

    roots = list(roots) if roots is not None else results_roots()
    resolved = (roots[0] / Path(folder).expanduser()).resolve()  # an absolute folder replaces roots[0]
    if not is_within(resolved, roots):
        raise DeepFERError(f"{folder} is outside the results folder {roots[0]}: the Batch explorer opens only batch outputs "
                           f"under it (set {ENV_RESULTS_DIR} to change it, and write batch outputs there with --out)")
    return resolved


def _files_within(out: BatchOutput, within: Sequence[Path]) -> BatchOutput:
    """``out`` without the files (CSVs, summaries, annotated videos) that resolve outside ``within``."""
    def keep(p: Path | None) -> Path | None:
        return p if p is not None and is_within(p, within) else None

    videos = {stem: replace(v, summary=keep(v.summary), annotated=keep(v.annotated)) for stem, v in out.videos.items() if keep(v.csv)}
    return replace(out, videos=videos, images_csv=keep(out.images_csv), errors_csv=keep(out.errors_csv))


def open_results(folder: str | Path, roots: Sequence[Path] | None = None) -> BatchOutput:
    """What a batch output folder under a results root holds (:func:`check_results_folder`, then
    :func:`~deepfer.outputs.readers.find_outputs`), leaving out files that link outside the roots and the folder."""
    roots = list(roots) if roots is not None else results_roots()
    resolved = check_results_folder(folder, roots)
    return _files_within(find_outputs(resolved), [resolved, *roots])


def list_runs(roots: Sequence[Path] | None = None, depth: int = RUN_SEARCH_DEPTH) -> list[Path]:
    """Batch output folders (holding ``errors.csv``, ``images.csv`` or a video's ``.summary.json``) at most ``depth``
    levels below the roots, newest first; symbolic links to folders are not followed."""
    from deepfer.outputs.layout import ERRORS_CSV, IMAGES_CSV, SUMMARY_SUFFIX

    found = []
    for root in roots if roots is not None else results_roots():
        for here, dirs, files in os.walk(root):
            level = len(Path(here).relative_to(root).parts)
            if level >= depth:
                dirs[:] = []
            if ERRORS_CSV in files or IMAGES_CSV in files or any(f.endswith(SUMMARY_SUFFIX) for f in files):
                found.append(Path(here))
    found = sorted(set(found), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[:MAX_RUNS]


def analyzed_sources(folder: Path) -> list[Path]:
    """The input files a batch run analyzed into ``folder``, from its ``manifest.json`` (written by the batch
    itself), that still have the size recorded there: the explorer may show these pictures and videos
    wherever they are (a run of ``~/photos --out <results root>/x``)."""
    import json

    from deepfer.outputs.layout import MANIFEST_JSON

    try:
        data = json.loads((Path(folder) / MANIFEST_JSON).read_text(encoding="utf-8"))
        entries = [e["source"] for e in data.get("videos", {}).values()] + [e["source"] for e in data.get("images", {}).values()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    out = []
    for src in entries:
        p = Path(str(src.get("path", "")))
        try:
            if p.is_absolute() and p.is_file() and p.stat().st_size == src.get("size"):
                out.append(p)
        except OSError:
            continue
    return out


def video_to_show(video: VideoOutput, within: Sequence[Path]) -> Path | None:
    """The video whose frames the explorer shows: the analyzed one when it lies under ``within``, else the
    annotated copy (in the folder), else ``None``."""
    src = video.source_video()
    if src is not None and is_within(src, within):
        return src
    return video.annotated if video.annotated is not None and is_within(video.annotated, within) else None


def video_downloads(video: VideoOutput) -> list[tuple[str, Path, str]]:
    """``(label, file, MIME type)`` of a video's files a person can download, those that exist: the
    per-frame CSV, the summary JSON and the annotated video (H.264 MP4)."""
    files = [("per-frame CSV", video.csv, "text/csv"), ("summary JSON", video.summary, "application/json"),
             ("annotated video", video.annotated, "video/mp4")]
    return [(label, p, mime) for label, p, mime in files if p is not None and p.is_file()]


def playable_video(video: VideoOutput) -> tuple[Path | None, str]:
    """The annotated video to play in the page, and why not when ``None``: browsers play H.264 only, and
    annotated videos written before DeepFER wrote H.264 are MPEG-4 part 2."""
    p = video.annotated
    if p is None or not p.is_file():
        return None, "no annotated video (run the batch with --annotate to get one)"
    try:
        import av

        with av.open(str(p)) as c:
            codec = c.streams.video[0].codec_context.name if c.streams.video else None
    except (av.FFmpegError, OSError) as exc:
        return None, f"{p.name} cannot be read ({exc})"
    if codec != "h264":
        return None, (f"{p.name} is {codec or 'not a video'}, which browsers cannot play (written by an older DeepFER): "
                      "download it, or run the batch again")
    return p, ""


#: A face unseen for longer than this (seconds, and more than one analyzed frame) breaks its lines in the charts.
GAP_S = 0.5


def break_gaps(long: pd.DataFrame, x: str, by: list[str], gap: float) -> pd.DataFrame:
    """``long`` with a row of ``probability`` NaN (a break in a Plotly line) wherever two consecutive points of
    one ``by`` group lie more than ``gap`` apart in ``x``."""
    parts = []
    for _, g in long.sort_values(x, kind="stable").groupby(by, sort=False):
        t = g[x].to_numpy(float)
        cut = np.flatnonzero(np.diff(t) > gap)
        if len(cut):
            fill = g.iloc[cut].copy()
            fill[x] = (t[cut] + t[cut + 1]) / 2
            fill["probability"] = np.nan
            g = pd.concat([g, fill]).sort_values(x, kind="stable")
        parts.append(g)
    return pd.concat(parts, ignore_index=True) if parts else long


def timeline_long(df: pd.DataFrame, smoothed: bool = False) -> pd.DataFrame:
    """Long table timestamp_s, face_id, emotion, probability for plotting; probability NaN where a face was
    not seen for more than :data:`GAP_S` seconds and more than one analyzed frame (a break in its lines)."""
    f = faces_only(df)
    cols = prob_columns(f, smoothed)
    f = f[["timestamp_s", "face_id", *cols]].rename(columns=dict(zip(cols, EMOTIONS)))
    f["face_id"] = f["face_id"].astype(int).astype(str)
    long = f.melt(id_vars=["timestamp_s", "face_id"], value_vars=list(EMOTIONS), var_name="emotion", value_name="probability")
    times = np.unique(df["timestamp_s"].to_numpy(float))
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    return break_gaps(long, "timestamp_s", ["face_id", "emotion"], max(GAP_S, 1.5 * step))


def face_name(face_id) -> str:
    """How the charts name a face: ``face 3``."""
    return f"face {int(face_id)}"


#: A legend in one row above the plot area: every entry visible, none over the data.
LEGEND_ROW = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0, "title": {"text": ""},
              "traceorder": "normal"}


def timeline_figure(df: pd.DataFrame, smoothed: bool = False):
    """Each emotion's probability against time, one panel per face (lines break where a face was not seen)."""
    import plotly.express as px

    from deepfer.labels import EMOTION_COLORS

    long = timeline_long(df, smoothed)
    long["face"] = long["face_id"].map(face_name)
    faces = sorted(long["face_id"].unique(), key=int)
    n = max(1, len(faces))
    fig = px.line(long, x="timestamp_s", y="probability", color="emotion", facet_row="face" if n > 1 else None,
                  color_discrete_map=EMOTION_COLORS, category_orders={"emotion": list(EMOTIONS), "face": [face_name(f) for f in faces]},
                  title="Emotion probabilities over time" + (" per face" if n > 1 else f" ({face_name(faces[0])})" if faces else ""))
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))  # "face 1", not "face=face 1"
    fig.update_layout(height=min(260 * n, 1200) + 120, margin={"t": 90}, legend=LEGEND_ROW)
    fig.update_yaxes(range=[0, 1], title_text="probability")
    fig.update_xaxes(title_text="")
    fig.update_xaxes(title_text="time (s)", row=1)
    return fig


def timing(df: pd.DataFrame, summary: dict | None = None) -> tuple[float, int]:
    """``(fps, stride)`` of a video CSV: from its summary when given, else from its frames and timestamps."""
    summary = summary or {}
    frames = df.drop_duplicates("frame")[["frame", "timestamp_s"]].to_numpy(float)
    steps = np.diff(frames[:, 0])
    stride = int(summary.get("stride") or (steps.min() if len(steps) else 1))
    fps = float(summary.get("fps") or 0.0)
    if fps <= 0 and len(frames) > 1:
        dt = np.diff(frames[:, 1])
        ok = dt > 0
        fps = float(np.median(steps[ok] / dt[ok])) if ok.any() else 0.0
    return fps, max(1, stride)


def share_of_time(df: pd.DataFrame, smoothed: bool = False, summary: dict | None = None) -> pd.DataFrame:
    """Per face, the fraction of its frames whose dominant emotion is each emotion (as in the summary JSON)."""
    fps, stride = timing(df, summary)
    faces = summarize(df, fps, stride, smoothed)["faces"]
    rows = [{"face_id": int(fid), **block["share"]} for fid, block in faces.items()]
    return pd.DataFrame(rows, columns=["face_id", *EMOTIONS])


def share_figure(df: pd.DataFrame, smoothed: bool = False, summary: dict | None = None):
    import plotly.graph_objects as go

    from deepfer.labels import EMOTION_COLORS

    tab = share_of_time(df, smoothed, summary).sort_values("face_id")
    names = [face_name(f) for f in tab["face_id"]]
    fig = go.Figure([go.Bar(name=e, x=names, y=tab[e], marker_color=EMOTION_COLORS[e]) for e in EMOTIONS])
    fig.update_layout(barmode="stack", title="Share of time per emotion (dominant emotion per frame)", height=420,
                      margin={"t": 120}, legend=LEGEND_ROW)
    fig.update_xaxes(title_text="face", type="category", categoryorder="array", categoryarray=names)
    fig.update_yaxes(title_text="share of the face's frames", tickformat=".0%", range=[0, 1])
    return fig


def segments(df: pd.DataFrame, smoothed: bool = False, min_frames: int = 1, summary: dict | None = None) -> pd.DataFrame:
    """Runs of consecutive frames of one face with the same dominant emotion, as in the summary JSON
    (``end_s`` exclusive: the last frame's time plus one analyzed-frame step).

    Columns: face_id, emotion, start_s, end_s, duration_s, frames.  Runs shorter than
    ``min_frames`` are dropped (flicker)."""
    cols = ["face_id", "emotion", "start_s", "end_s", "duration_s", "frames"]
    fps, stride = timing(df, summary)
    faces = summarize(df, fps, stride, smoothed)["faces"]
    rows = [{"face_id": int(fid), "emotion": s["emotion"], "start_s": s["start_s"], "end_s": s["end_s"],
             "duration_s": round(s["end_s"] - s["start_s"], 4), "frames": s["frames"]}
            for fid, block in faces.items() for s in block["segments"] if s["frames"] >= min_frames]
    return pd.DataFrame(rows, columns=cols)


def segments_figure(seg: pd.DataFrame):
    """One bar per segment (``segments``): a row per face (``face 1``, ...), time in seconds across, each emotion
    that has a segment in the legend (in :data:`EMOTIONS` order, one row above the plot); the height grows with
    the number of faces."""
    import plotly.graph_objects as go

    from deepfer.labels import EMOTION_COLORS

    names = [face_name(f) for f in sorted(seg["face_id"].unique())]
    fig = go.Figure()
    for e in EMOTIONS:
        s = seg[seg["emotion"] == e]
        if len(s):
            fig.add_trace(go.Bar(name=e, y=[face_name(f) for f in s["face_id"]], x=s["duration_s"], base=s["start_s"],
                                 orientation="h", marker_color=EMOTION_COLORS[e],
                                 hovertemplate="%{y}: " + e + " from %{base:.2f} s for %{x:.2f} s<extra></extra>"))
    fig.update_layout(title="Dominant-emotion segments", barmode="overlay", height=segments_height(len(names)),
                      margin={"t": 120, "b": 50}, legend=LEGEND_ROW)
    fig.update_xaxes(title_text="time (s)", rangemode="tozero")
    fig.update_yaxes(title_text="face", type="category", categoryorder="array", categoryarray=names[::-1])  # face 1 on top
    return fig


def segments_height(faces: int) -> int:
    """Pixels of the segments chart for ``faces`` rows: room for the title, legend and axis, then 50 px a face."""
    return 250 + 50 * max(1, faces)


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


def thumbnail_uri(image_path: str | Path, box: tuple[int, int, int, int] | None = None, size: int = 64,
                  within: Sequence[Path] | None = None) -> str | None:
    """``data:image/png;base64,...`` of the face (or whole image) for a table's image column; ``None`` when the
    image cannot be read or (with ``within``) lies outside those folders."""
    import cv2

    from deepfer.preprocess import read_image

    if within is not None:
        image_path = Path(image_path).expanduser().resolve()
        if not is_within(image_path, within):
            return None
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


def file_name(path: str) -> str:
    """The file name of a path written by the batch (any OS's separators)."""
    return str(path).replace("\\", "/").rsplit("/", 1)[-1]


def images_table(faces: pd.DataFrame, within: Sequence[Path] | None = None) -> pd.DataFrame:
    """The Batch explorer's images table: a thumbnail of each face (``None`` when its image is gone or outside
    ``within``), the image's file name, the face's number in it, emotion, confidence and probabilities, then the
    full path (last: long temporary paths never push the numbers off screen)."""
    out = pd.DataFrame({
        "face": [thumbnail_uri(p, (x, y, w, h), within=within) for p, x, y, w, h in faces[["path", "x", "y", "w", "h"]].itertuples(index=False)],
        "file": faces["path"].map(file_name),
        "face_id": faces["face_id"],
        "emotion": faces["emotion"],
        "confidence": faces["confidence"],
    }, index=faces.index)
    for e in EMOTIONS:
        out[e] = faces[e]
    out["path"] = faces["path"]
    return out.reset_index(drop=True)


def with_file_names(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (with a ``path`` column: errors.csv, skipped.csv) with the file name first and the path last."""
    cols = [c for c in table.columns if c != "path"]
    return table.assign(file=table["path"].map(file_name))[["file", *cols, "path"]]


def compare_summaries(folder: Path) -> dict[str, dict]:
    """Every video's summary in a batch output folder (the comparison view, the HTML report)."""
    from deepfer.outputs.report import video_summaries

    return video_summaries(folder)


def compare_table(summaries: dict[str, dict]) -> pd.DataFrame:
    from deepfer.outputs.report import videos_table

    return videos_table(summaries)


def compare_shares_figure(summaries: dict[str, dict]):
    from deepfer.outputs.report import shares_figure

    return shares_figure(summaries)


def compare_timelines_figure(summaries: dict[str, dict]):
    from deepfer.outputs.report import timelines_figure

    return timelines_figure(summaries)


def folder_stamp(folder: Path) -> float:
    """The newest modification time of a folder's files (a cache key: the report is rebuilt when one changes)."""
    try:
        return max((p.stat().st_mtime for p in Path(folder).iterdir() if p.is_file()), default=0.0)
    except OSError:
        return 0.0


def report_html(folder: Path) -> str | None:
    """The folder's HTML report as text (built now), or ``None`` when it cannot be built (logged)."""
    from deepfer.outputs.report import build_report

    try:
        return build_report(folder)
    except (DeepFERError, OSError) as exc:
        log.warning("no HTML report for %s: %s", folder, exc)
        return None
