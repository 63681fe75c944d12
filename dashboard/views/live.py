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


def faces_text(result, min_confidence: float = 0.0) -> str:
    """Markdown list of the faces in the latest result, ``#id emotion 87%``: the words drawn on the video
    (:func:`~deepfer.analysis.annotate.face_labels` of the same :class:`~deepfer.faces.Faces`)."""
    from deepfer.analysis.annotate import face_labels, face_tags

    if result is None:
        return "No frame analyzed yet."
    faces = result.faces
    if len(faces) == 0:
        return "No face in the current frame."
    items = [f"- face **{tag} {label}**" for tag, label in zip(face_tags(faces), face_labels(faces, min_confidence))]
    return "\n".join([f"**Faces in frame {result.frame}:**", *items])


#: A face unseen for more than this many seconds (and at least one processed frame) breaks its lines.
LIVE_GAP_S = 0.5


def live_series(long: pd.DataFrame, gap_s: float = LIVE_GAP_S) -> dict[tuple[int, str], tuple[list, list]]:
    """``(face_id, emotion) -> (times, probabilities)`` of a long table (``LiveProcessor.recent_probabilities``:
    frame, t_s, face_id, emotion, probability), with ``None`` between two points of a face more than ``gap_s``
    apart that are not consecutive processed frames: a break in the line where the face was not seen."""
    series: dict[tuple[int, str], tuple[list, list]] = {}
    for (fid, emotion), g in long.sort_values("frame", kind="stable").groupby(["face_id", "emotion"], sort=True):
        xs, ys, last = [], [], None
        for frame, t, p in g[["frame", "t_s", "probability"]].itertuples(index=False):
            if last is not None and frame - last[0] > 1 and t - last[1] > gap_s:
                xs.append((t + last[1]) / 2)
                ys.append(None)
            xs.append(float(t))
            ys.append(float(p))
            last = (frame, t)
        series[(int(fid), str(emotion))] = (xs, ys)
    return series


def probability_figure(long: pd.DataFrame):
    """Recent probabilities (long table from ``LiveProcessor.recent_probabilities``): a line per emotion (its
    colour) and face (its dash), broken where the face was not seen."""
    import plotly.graph_objects as go

    from deepfer.labels import EMOTION_COLORS

    dashes = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
    fig = go.Figure()
    series = live_series(long)
    faces = sorted({fid for fid, _ in series})
    for (fid, emotion), (xs, ys) in sorted(series.items(), key=lambda kv: (EMOTIONS.index(kv[0][1]), kv[0][0])):
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", connectgaps=False, name=f"{emotion}, face #{fid}" if len(faces) > 1 else emotion,
                                 legendgroup=emotion, line={"color": EMOTION_COLORS[emotion], "dash": dashes[faces.index(fid) % len(dashes)]}))
    fig.update_layout(title="Emotion probabilities, last 10 s", height=360, margin={"t": 80, "b": 40}, uirevision="live",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    fig.update_xaxes(title_text="seconds ago", range=[-10, 0])
    fig.update_yaxes(title_text="probability", range=[0, 1])
    return fig
