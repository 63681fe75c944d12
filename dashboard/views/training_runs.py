"""Training runs found in ``models/`` and the Plotly figures of the Training page.

A run is a folder with ``history.csv`` (per-epoch ``loss, accuracy, val_loss, val_accuracy, lr``)
and/or ``evaluation.json`` (per-class metrics and a confusion matrix).  ``models/`` itself is the
default model's run; each sub-folder (``seed``...) is another.  Missing or broken files become
``Run.problems`` (messages for the page), never exceptions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepfer.config import models_dir
from deepfer.labels import EMOTIONS

HISTORY_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")




@dataclass
class Run:
    name: str
    folder: Path
    history: pd.DataFrame | None = None
    evaluation: dict | None = None  # the "validation" block: accuracy, macro_f1, per_class, confusion_matrix
    metadata: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_history(path: Path) -> tuple[pd.DataFrame | None, str | None]:
    """``(history, None)`` or ``(None, why not)`` for a ``history.csv``."""
    if not path.is_file():
        return None, f"{path.name} not found in {path.parent}"
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None, f"{path} is empty"
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        return None, f"{path} is not a readable CSV ({exc})"
    if df.empty:
        return None, f"{path} has a header but no epochs"
    known = [c for c in HISTORY_COLUMNS if c in df.columns]
    if not known:
        return None, f"{path} has none of the columns {', '.join(HISTORY_COLUMNS)}"
    if "epoch" not in df.columns:
        df.insert(0, "epoch", np.arange(1, len(df) + 1))
    for c in ["epoch", *known]:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df, None


def read_evaluation(path: Path) -> tuple[dict | None, str | None]:
    """The ``validation`` block of an ``evaluation.json`` (or the file itself when it is that block)."""
    if not path.is_file():
        return None, f"{path.name} not found in {path.parent}"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"{path} is not readable JSON ({exc})"
    block = data.get("validation", data) if isinstance(data, dict) else None
    if not isinstance(block, dict) or "per_class" not in block and "confusion_matrix" not in block:
        return None, f"{path} has no per-class metrics or confusion matrix"
    return block, None


def _metadata(folder: Path) -> dict:
    for p in sorted(folder.glob("*.json")):
        if p.name == "evaluation.json":
            continue
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "architecture" in data:
            return data
    return {}


def load_run(folder: Path, name: str | None = None) -> Run:
    meta = _metadata(folder)
    run = Run(name or meta.get("name") or folder.name, folder, metadata=meta)
    run.history, why = read_history(folder / "history.csv")
    if why:
        run.problems.append(why)
    run.evaluation, why = read_evaluation(folder / "evaluation.json")
    if why:
        run.problems.append(why)
    return run


def find_runs(root: Path | None = None) -> list[Run]:
    """The default run (``root`` itself) and every sub-folder with a history or evaluation file."""
    root = Path(root) if root else models_dir()
    if not root.is_dir():
        return []
    runs = []
    if any((root / f).exists() for f in ("history.csv", "evaluation.json")) or list(root.glob("*.keras")):
        runs.append(load_run(root))
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (sub / "history.csv").exists() or (sub / "evaluation.json").exists():
            runs.append(load_run(sub))
    return runs


def _curves(runs: list[Run], train_col: str, val_col: str, title: str, ytitle: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    for run in runs:
        h = run.history
        if h is None:
            continue
        if train_col in h:
            fig.add_trace(go.Scatter(x=h["epoch"], y=h[train_col], mode="lines", name=f"{run.name} train"))
        if val_col in h:
            fig.add_trace(go.Scatter(x=h["epoch"], y=h[val_col], mode="lines", name=f"{run.name} validation", line={"dash": "dash"}))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title=ytitle, height=380, margin={"t": 50, "b": 40})
    return fig


def loss_figure(runs: list[Run]):
    return _curves(runs, "loss", "val_loss", "Loss", "cross-entropy")


def accuracy_figure(runs: list[Run]):
    fig = _curves(runs, "accuracy", "val_accuracy", "Accuracy", "accuracy")
    fig.update_yaxes(tickformat=".0%")
    return fig


def lr_figure(runs: list[Run]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for run in runs:
        if run.history is not None and "lr" in run.history:
            fig.add_trace(go.Scatter(x=run.history["epoch"], y=run.history["lr"], mode="lines", name=run.name))
    fig.update_layout(title="Learning rate", xaxis_title="epoch", yaxis_title="learning rate", height=320, margin={"t": 50, "b": 40})
    return fig


def confusion_figure(evaluation: dict, normalize: bool = False):
    """Heatmap of the confusion matrix (rows: true class), counts or row-normalized."""
    import plotly.graph_objects as go

    labels = list(evaluation.get("labels") or EMOTIONS)
    cm = np.asarray(evaluation["confusion_matrix"], dtype=float)
    if normalize:
        z = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        text = [[f"{v:.0%}" for v in row] for row in z]
    else:
        z = cm
        text = [[f"{int(v)}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, text=text, texttemplate="%{text}", colorscale="Blues", showscale=False))
    fig.update_layout(title="Confusion matrix" + (" (row-normalized)" if normalize else " (counts)"),
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed", height=420, margin={"t": 50})
    return fig


def per_class_table(evaluation: dict) -> pd.DataFrame:
    per = evaluation.get("per_class", {})
    rows = [{"class": c, "precision": m.get("precision"), "recall": m.get("recall"), "f1": m.get("f1"), "support": m.get("support")}
            for c, m in per.items()]
    return pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])


def per_class_figure(evaluation: dict):
    import plotly.graph_objects as go

    t = per_class_table(evaluation)
    fig = go.Figure([go.Bar(name=m, x=t["class"], y=t[m]) for m in ("precision", "recall", "f1")])
    fig.update_layout(title="Per-class precision, recall and F1", barmode="group", yaxis_range=[0, 1], height=380, margin={"t": 50})
    return fig


def comparison_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: architecture, parameters, epochs, best/final validation accuracy, evaluation metrics."""
    rows = []
    for r in runs:
        h, ev = r.history, r.evaluation or {}
        rows.append({
            "run": r.name,
            "architecture": r.metadata.get("architecture", ""),
            "parameters": r.metadata.get("parameters"),
            "epochs": int(h["epoch"].max()) if h is not None else None,
            "best val accuracy (training)": float(h["val_accuracy"].max()) if h is not None and "val_accuracy" in h else None,
            "evaluated accuracy": ev.get("accuracy"),
            "macro-F1": ev.get("macro_f1"),
        })
    return pd.DataFrame(rows)
