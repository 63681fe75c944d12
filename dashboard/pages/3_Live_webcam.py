"""Live webcam: every frame is detected, classified, tracked and drawn (streamlit-webrtc)."""

from __future__ import annotations

import time

import streamlit as st

from dashboard.views.live import start_streamer
from dashboard.views.model import detector_choice, load_pipeline
from dashboard.views.rtc import RTCConfigError, ice_servers
from deepfer.analysis.live import LiveProcessor
from deepfer.errors import DeepFERError

st.set_page_config(page_title="DeepFER: live webcam", layout="wide")
st.title("Live webcam")
st.write("Each frame from your camera is analyzed on the server: faces are detected, classified, given an id "
         "that follows them, and drawn with their emotion. Press **START** and allow the camera.")

try:
    pipe = load_pipeline()
except DeepFERError as exc:
    st.error(f"The model could not be loaded: {exc}")
    st.stop()

try:
    servers, source = ice_servers()
except RTCConfigError as exc:
    st.error(f"Ignoring the STUN/TURN setting: {exc}. Connecting without STUN/TURN servers (works on this machine or a LAN).")
    servers, source = [], "default (none)"

c1, c2, c3 = st.columns(3)
detector = detector_choice(c1, key="live_detector")
min_conf = c2.slider("Minimum confidence", 0.0, 1.0, 0.0, 0.05, help="faces below it are drawn grey as 'uncertain'")
smoothing = c3.slider("Smoothing (seconds)", 0.0, 3.0, 0.2, 0.1,
                      help="time constant of the exponential smoothing of each face's probabilities; the emotion shown "
                      "changes only after another one has led for 0.2 s (the same temporal model as the batch)")


if "live_processor" not in st.session_state:
    st.session_state["live_processor"] = LiveProcessor(pipe, detector=detector, min_confidence=min_conf, smooth_s=smoothing)
processor: LiveProcessor = st.session_state["live_processor"]
try:
    processor.configure(detector=detector, min_confidence=min_conf, smooth_s=smoothing)
except DeepFERError as exc:
    st.error(f"Could not switch the detector: {exc}")


video_col, info_col = st.columns([3, 2])
with video_col:
    ctx = start_streamer(processor, servers)
    st.caption(f"STUN/TURN servers: {len(servers)} ({source}); set `DEEPFER_ICE_SERVERS` for deployments behind NAT.")
with info_col:
    status = st.empty()
    faces_box = st.empty()
    chart_box = st.empty()
if ctx.state.playing:
    from dashboard.views.live import faces_text, probability_figure

    tick = 0
    while ctx.state.playing:
        time.sleep(0.5)
        tick += 1
        latency = processor.median_latency_ms()
        recent = processor.recent()
        if processor.last_error:
            status.error(f"Frame processing failed: {processor.last_error}")
        elif latency is None:
            status.info("Waiting for frames from the camera...")
        else:
            status.markdown(f"**Per-frame processing:** {latency:.1f} ms (median of the last 60 frames), "
                            f"{len(recent)} frames analyzed")
        faces_box.markdown(faces_text(recent[-1] if recent else None, processor.min_confidence))
        chart_box.plotly_chart(probability_figure(processor.recent_probabilities(10.0)), key=f"live-chart-{tick}")
else:
    status.info("The camera is off: press START (on the left) and allow the camera.")
