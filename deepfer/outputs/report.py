"""One self-contained HTML report of a batch output folder: ``report.html``, for people who compare
recordings and report on them.

It holds, from the folder's summaries and CSVs (nothing is analyzed again): the run's settings (from
``manifest.json``), a comparison of all videos (share of time per emotion per video and per face; every
face's emotion segments on one time axis), per video a table of its faces and segments, the images'
emotions, and the inputs that failed.  Charts are Plotly, with plotly.js inlined once: the file opens
offline, in any browser, and can be mailed as it is.  Emotion colours are :data:`deepfer.labels.EMOTION_COLORS`,
as everywhere else.  The dashboard's Batch explorer shows the same comparison figures (:func:`shares_figure`,
:func:`timelines_figure`).

    python -m deepfer report OUT_DIR          # or: python -m batch ... --report
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from deepfer.errors import DeepFERError
from deepfer.labels import EMOTION_COLORS, EMOTIONS
from deepfer.outputs.layout import MANIFEST_JSON, REPORT_HTML

#: Height of one face's row in the comparison charts, in pixels.
ROW_PX = 34


def video_summaries(folder: Path) -> dict[str, dict]:
    """Each video's summary in ``folder`` (by output stem, sorted), skipping unreadable ones."""
    from deepfer.outputs.readers import BatchOutputError, find_outputs

    out = find_outputs(folder)
    summaries = {}
    for stem, video in sorted(out.videos.items()):
        try:
            data = video.summary_data()
        except BatchOutputError:
            continue
        if data:
            summaries[stem] = data
    return summaries


def _rows(summaries: dict[str, dict]) -> list[tuple[str, str, dict]]:
    """``(video, row label, timeline block)``: each video's overall timeline, then its faces."""
    rows = []
    for stem, s in summaries.items():
        faces = s.get("faces", {})
        if len(faces) != 1:
            rows.append((stem, f"{stem} · all faces", s.get("overall", {})))
        for fid, block in sorted(faces.items(), key=lambda kv: int(kv[0])):
            rows.append((stem, f"{stem} · face {fid}", block))
    return rows


def shares_figure(summaries: dict[str, dict]):
    """Share of time per emotion, one horizontal stacked bar per video (all faces) and per face."""
    import plotly.graph_objects as go

    rows = _rows(summaries)
    labels = [label for _, label, _ in rows]
    fig = go.Figure([go.Bar(name=e, y=labels, x=[block.get("share", {}).get(e, 0.0) for _, _, block in rows], orientation="h",
                            marker_color=EMOTION_COLORS[e], hovertemplate="%{y}: %{x:.0%} " + e + "<extra></extra>") for e in EMOTIONS])
    fig.update_layout(barmode="stack", title="Share of time in each emotion", height=140 + ROW_PX * max(1, len(rows)),
                      legend={"orientation": "h", "y": -0.15 - 2.0 / max(4, len(rows) * 2), "x": 0, "traceorder": "normal"},
                      margin={"t": 50, "l": 10, "r": 10}, xaxis={"title": "share of the time the face is seen", "tickformat": ".0%", "range": [0, 1]},
                      yaxis={"title": "", "autorange": "reversed", "type": "category"})
    return fig


def timelines_figure(summaries: dict[str, dict]):
    """Every face's emotion segments on one time axis (seconds from the start of its video): one row per face."""
    import plotly.graph_objects as go

    rows = _rows(summaries)
    labels = [label for _, label, _ in rows]
    fig = go.Figure()
    for e in EMOTIONS:
        ys, xs, bases = [], [], []
        for _, label, block in rows:
            for seg in block.get("segments", []):
                if seg.get("emotion") == e:
                    ys.append(label)
                    bases.append(seg["start_s"])
                    xs.append(max(1e-3, seg["end_s"] - seg["start_s"]))
        fig.add_trace(go.Bar(name=e, y=ys, x=xs, base=bases, orientation="h", marker_color=EMOTION_COLORS[e],
                             hovertemplate="%{y}: " + e + " from %{base:.2f} s for %{x:.2f} s<extra></extra>"))
    fig.update_layout(barmode="overlay", title="Emotion over time (each face's segments)", height=140 + ROW_PX * max(1, len(rows)),
                      legend={"orientation": "h", "y": -0.15 - 2.0 / max(4, len(rows) * 2), "x": 0, "traceorder": "normal"},
                      margin={"t": 50, "l": 10, "r": 10}, xaxis={"title": "time in the video (s)", "rangemode": "tozero"},
                      yaxis={"title": "", "autorange": "reversed", "type": "category", "categoryorder": "array", "categoryarray": labels})
    return fig


def videos_table(summaries: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for stem, s in summaries.items():
        overall = s.get("overall", {})
        duration = s.get("duration_s")
        rows.append({"video": stem, "source": Path(str(s.get("source", ""))).name,
                     "duration (s)": round(float(duration), 1) if isinstance(duration, (int, float)) else None,
                     "frames analyzed": s.get("frames_analyzed"), "with a face": s.get("frames_with_face"),
                     "faces": s.get("faces_tracked"), "dominant emotion": overall.get("dominant"),
                     "segments": len(overall.get("segments", []))})
    return pd.DataFrame(rows)


def segments_table(summary: dict) -> pd.DataFrame:
    rows = [{"face": int(fid), "emotion": seg["emotion"], "start (s)": seg["start_s"], "end (s)": seg["end_s"],
             "duration (s)": round(seg["end_s"] - seg["start_s"], 3)}
            for fid, block in sorted(summary.get("faces", {}).items(), key=lambda kv: int(kv[0])) for seg in block.get("segments", [])]
    return pd.DataFrame(rows, columns=["face", "emotion", "start (s)", "end (s)", "duration (s)"])


def faces_table(summary: dict) -> pd.DataFrame:
    rows = []
    for fid, block in sorted(summary.get("faces", {}).items(), key=lambda kv: int(kv[0])):
        share = block.get("share", {})
        rows.append({"face": int(fid), "first seen (s)": block.get("first_s"), "frames": block.get("frames"),
                     "dominant": block.get("dominant"), **{e: f"{share.get(e, 0.0):.0%}" for e in EMOTIONS}})
    return pd.DataFrame(rows)


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p class='muted'>none</p>"
    return df.to_html(index=False, border=0, classes="t", na_rep="", escape=True)


def _settings(folder: Path, summaries: dict[str, dict]) -> str:
    try:
        manifest = json.loads((folder / MANIFEST_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    entries = list(manifest.get("videos", {}).values()) + list(manifest.get("images", {}).values())
    settings = entries[0].get("settings", {}) if entries else {}
    first = next(iter(summaries.values()), {})
    items = {"model": settings.get("model") or first.get("model"), "runtime": settings.get("runtime"),
             "detector": settings.get("detector") or first.get("detector"),
             "temporal model": ", ".join(f"{k}={v}" for k, v in (first.get("temporal") or {}).items() if k != "method") or None,
             "timestamps": first.get("timestamps")}
    return "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in items.items() if v is not None)


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}.muted{color:#777}
table.t{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}table.t th,table.t td{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:left}
details{margin:.6rem 0}summary{cursor:pointer;font-weight:600}"""


def build_report(folder: str | Path) -> str:
    """The HTML text of the report of batch output ``folder`` (needs Plotly: the dashboard or gradio extra)."""
    from deepfer.outputs.readers import find_outputs, load_errors_csv, load_images_csv

    try:
        import plotly  # noqa: F401
    except ImportError:
        raise DeepFERError("the HTML report draws its charts with Plotly: pip install -e '.[dashboard]'") from None
    folder = Path(folder)
    out = find_outputs(folder)
    summaries = video_summaries(folder)
    parts = [f"<h1>DeepFER report</h1><p class='muted'>{html.escape(str(folder.resolve()))} · written "
             f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</p><ul>{_settings(folder, summaries)}</ul>"]
    include = "inline"
    if summaries:
        parts.append(f"<h2>Videos ({len(summaries)})</h2>" + _table(videos_table(summaries)))
        for fig in (shares_figure(summaries), timelines_figure(summaries)):
            parts.append(fig.to_html(full_html=False, include_plotlyjs=include, config={"displaylogo": False}))
            include = False
        for stem, s in summaries.items():
            parts.append(f"<details><summary>{html.escape(stem)}: faces and segments</summary>"
                         f"{_table(faces_table(s))}{_table(segments_table(s))}</details>")
    if out.images_csv is not None:
        df = load_images_csv(out.images_csv)
        faces = df[pd.to_numeric(df["x"], errors="coerce").notna()]
        counts = faces["emotion"].value_counts().reindex(list(EMOTIONS), fill_value=0)
        parts.append(f"<h2>Images ({df['path'].nunique()}, {len(faces)} faces)</h2>" + _table(pd.DataFrame([counts.to_dict()])))
        tab = faces.assign(image=faces["path"].map(lambda p: Path(str(p)).name))[["image", "face_id", "emotion", "confidence"]]
        parts.append(f"<details><summary>every face</summary>{_table(tab.round(3))}</details>")
    if out.errors_csv is not None:
        errors = load_errors_csv(out.errors_csv)
        parts.append(f"<h2>Inputs that failed ({len(errors)})</h2>" + _table(errors))
    return f"<!doctype html><html><head><meta charset='utf-8'><title>DeepFER report</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>"


def write_report(folder: str | Path) -> Path:
    """Write ``report.html`` into batch output ``folder`` (atomically) and return its path."""
    import os

    from deepfer.fileio import tmp_path

    path = Path(folder) / REPORT_HTML
    tmp = tmp_path(path)
    tmp.write_text(build_report(folder), encoding="utf-8")
    os.replace(tmp, path)
    return path
