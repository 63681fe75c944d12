"""Training: loss/accuracy/learning-rate curves, confusion matrix, per-class metrics, run comparison."""

from __future__ import annotations

import streamlit as st

from dashboard.views import training_runs as charts

st.set_page_config(page_title="DeepFER: training", layout="wide")
st.title("Training")

folder = charts.models_dir()
runs = charts.find_runs(folder)
if not runs:
    st.error(f"No training runs found in {folder}: expected history.csv and evaluation.json files. "
             "Train a model with `python -m deepfer train`.")
    st.stop()

st.caption(f"Runs found in `{folder}`: " + ", ".join(r.name for r in runs))
for r in runs:
    for p in r.problems:
        st.warning(f"Run **{r.name}**: {p}")

st.subheader("Comparison")
st.dataframe(charts.comparison_table(runs), hide_index=True,
             column_config={c: st.column_config.NumberColumn(format="percent") for c in ("best val accuracy (training)", "evaluated accuracy")})

with_history = [r for r in runs if r.history is not None]
st.subheader("Curves per epoch")
if with_history:
    chosen = st.multiselect("Runs", [r.name for r in with_history], default=[r.name for r in with_history])
    shown = [r for r in with_history if r.name in chosen]
    left, right = st.columns(2)
    left.plotly_chart(charts.loss_figure(shown))
    right.plotly_chart(charts.accuracy_figure(shown))
    st.plotly_chart(charts.lr_figure(shown))
else:
    st.info("No run has a usable history.csv, so there are no curves to show.")

with_eval = [r for r in runs if r.evaluation is not None]
st.subheader("Evaluation")
if with_eval:
    name = st.selectbox("Run", [r.name for r in with_eval])
    ev = next(r for r in with_eval if r.name == name).evaluation
    m1, m2, m3 = st.columns(3)
    m1.metric("accuracy", f"{ev['accuracy']:.1%}" if "accuracy" in ev else "?")
    m2.metric("macro-F1", f"{ev['macro_f1']:.3f}" if "macro_f1" in ev else "?")
    m3.metric("validation images", f"{ev.get('n', '?')}")
    if "confusion_matrix" in ev:
        left, right = st.columns(2)
        left.plotly_chart(charts.confusion_figure(ev, normalize=False))
        right.plotly_chart(charts.confusion_figure(ev, normalize=True))
    if "per_class" in ev:
        st.plotly_chart(charts.per_class_figure(ev))
        st.dataframe(charts.per_class_table(ev), hide_index=True)
else:
    st.info("No run has a usable evaluation.json; evaluate a model with `python -m deepfer evaluate`.")
