"""DeepFER dashboard: home page. Run with ``streamlit run dashboard/Home.py``."""

from __future__ import annotations

import streamlit as st

from dashboard.views.model import detector_choice, load_pipeline, model_card
from deepfer.errors import DeepFERError
from deepfer.media import upload_types

st.set_page_config(page_title="DeepFER", page_icon="🙂", layout="wide")
st.title("DeepFER: facial emotion recognition")
st.write(
    "Detects faces and classifies seven emotions (angry, disgust, fear, happy, neutral, sad, surprise) "
    "from 48x48 grayscale faces. Upload a photo to try the model."
)
st.markdown(
    "**Pages** (sidebar): **Training** — learning curves, confusion matrix and per-class metrics of the runs in `models/`; "
    "**Dataset** — class balance, sample faces and unreadable files of a dataset folder; "
    "**Live webcam** — the model on your camera, frame by frame, with face ids and latency; "
    "**Batch explorer** — results of `python -m batch` on videos and photos, or run it on uploads."
)

detector = detector_choice(st.sidebar)
try:
    pipe = load_pipeline(detector=detector)
except DeepFERError as exc:
    st.error(f"The model could not be loaded: {exc}")
    st.stop()

with st.expander("Model card", expanded=True):
    st.table(model_card(pipe.classifier))

upload = st.file_uploader("Photo", type=upload_types(("image",)))
if upload is not None:
    from dashboard.views.model import analyze_upload

    try:
        annotated, table = analyze_upload(pipe, upload.getvalue())
    except DeepFERError as exc:
        st.error(f"Could not analyze {upload.name}: {exc}")
    else:
        st.image(annotated, channels="BGR", caption=f"{len(table)} face(s)")
        if len(table):
            st.dataframe(table, hide_index=True)
        else:
            st.info("No face found in this photo.")
