"""Pieces of the Live webcam page: the WebRTC streamer, the face list and the live chart."""

from __future__ import annotations

import pandas as pd

from dashboard.views.rtc import rtc_configuration
from deepfer.labels import EMOTIONS


def start_streamer(processor, servers: list[dict]):
    """``webrtc_streamer`` sending the camera to ``processor.process`` and showing what it returns."""
    import av
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    def callback(frame: av.VideoFrame) -> av.VideoFrame:  # runs in a worker thread: no st.* here
        out = processor.process(frame.to_ndarray(format="bgr24"))
        return av.VideoFrame.from_ndarray(out, format="bgr24")

    return webrtc_streamer(
        key="deepfer-live",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc_configuration(servers),
        video_frame_callback=callback,
        media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False},
        async_processing=True,
    )


def faces_text(result) -> str:
    """Markdown list of the faces in the latest result: ``#id emotion confidence``."""
    if result is None:
        return "No frame analyzed yet."
    faces = result.faces
    if len(faces) == 0:
        return "No face in the current frame."
    items = [f"- face **#{int(faces.track_ids[i])} {lab}** {conf:.0%}" for i, (lab, conf) in enumerate(zip(faces.labels, faces.confidences))]
    return "\n".join([f"**Faces in frame {result.frame}:**", *items])


def probability_figure(long: pd.DataFrame):
    """Recent probabilities (long table from ``LiveProcessor.recent_probabilities``), one line per emotion and face."""
    import plotly.express as px

    from deepfer.analysis.annotate import COLORS_BGR

    colors = {e: "rgb({2},{1},{0})".format(*COLORS_BGR[e]) for e in EMOTIONS}
    long = long.assign(face=long["face_id"].astype(str))
    fig = px.line(long, x="t_s", y="probability", color="emotion", line_dash="face", color_discrete_map=colors,
                  category_orders={"emotion": list(EMOTIONS)}, title="Emotion probabilities, last 10 s")
    fig.update_layout(height=320, margin={"t": 50, "b": 40}, xaxis_title="seconds ago", uirevision="live")
    fig.update_yaxes(range=[0, 1])
    fig.update_xaxes(range=[-10, 0])
    return fig
