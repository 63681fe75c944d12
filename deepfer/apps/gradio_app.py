"""Gradio front end: Image, Webcam and Video tabs and the ``/predict`` HTTP API.

One :class:`~deepfer.analysis.pipeline.FacePipeline` (one model in memory, thread-safe) serves every
tab and every API call; requests go through Gradio's queue with bounded concurrency.  The webcam tab
keeps one :class:`~deepfer.analysis.stream.StreamAnalyzer` per browser session (face ids and
smoothing, as on the dashboard's webcam page); the video tab runs
:func:`deepfer.outputs.video.analyze_video`, the batch's own per-video analysis.

>>> demo = build_app(FacePipeline.create())
>>> launch(demo, "127.0.0.1", 7860)          # what ``python -m deepfer gradio`` does

Errors a user can act on (not an image, corrupt file, too many pixels, upload over the limit)
come back as a short message in the UI and as an ``AppError`` from ``gradio_client``; the server
keeps serving.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import PIL.Image

from deepfer.analysis.annotate import annotate
from deepfer.analysis.detect import DETECTOR_CHOICES, DETECTOR_HELP
from deepfer.analysis.pipeline import FacePipeline
from deepfer.analysis.stream import LIVE, StreamAnalyzer
from deepfer.config import MAX_UPLOAD_MB
from deepfer.errors import DeepFERError, ImageError
from deepfer.faces import Faces
from deepfer.labels import EMOTION_COLORS, EMOTIONS
from deepfer.outputs.video import analyze_video
from deepfer.preprocess import check_image_header, decode_image

log = logging.getLogger(__name__)

#: Requests processed at the same time (the classifier itself runs one batch at a time).
CONCURRENCY = 2
#: Requests waiting in the queue before new ones are refused with "queue is full".
QUEUE_SIZE = 64
#: Webcam frames are sent every this many seconds; a webcam session lasts at most STREAM_LIMIT_S.
STREAM_EVERY_S = 0.2
STREAM_LIMIT_S = 600
#: Every 10 minutes, delete the results (images, videos, CSVs) Gradio cached more than an hour ago.
CACHE_CLEANUP = (600, 3600)
#: Fonts the browser already has, so the page never asks Google Fonts for anything.
_SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "DejaVu Sans", "sans-serif"]
_MONO_FONTS = ["ui-monospace", "DejaVu Sans Mono", "monospace"]


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` for a request we refuse: shown as a toast in the UI, raised as ``AppError`` by
    gradio_client, not logged with a traceback.  Gradio renders the message as HTML, so escape it."""
    return gr.Error(html.escape(message), title="Cannot analyse this input", print_exception=False)


def _user_errors(fn):
    """Turn DeepFER's errors into ``gr.Error`` (shown in the UI, raised by gradio_client) and log
    anything unexpected with its traceback, answering with a short message instead."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except DeepFERError as exc:
            log.info("rejected request: %s", exc)
            raise user_error(str(exc)) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error("internal error while analysing the input (details are in the server log)", print_exception=False) from None

    return wrapper


def upload_image(**kwargs) -> gr.Image:
    """A ``gr.Image`` input that hands the uploaded file's path through untouched and reports a file
    PIL cannot open as a clear error (plain ``gr.Image`` fails with PIL's message and a server path).

    The instance's ``preprocess`` is wrapped rather than subclassing ``gr.Image``: Gradio writes a
    ``.pyi`` stub next to the module of every Component subclass, which must not happen at import.
    """
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    inner = image.preprocess

    def preprocess(payload):
        path = getattr(payload, "path", None)
        if path:
            try:
                check_image_header(path)  # before Gradio (PIL) or DeepFER decode anything
            except ImageError as exc:
                raise user_error(str(exc)) from None
        try:
            return inner(payload)
        except gr.Error:
            raise
        except PIL.Image.DecompressionBombError:  # only when DEEPFER_MAX_PIXELS is set above PIL's own limit
            raise user_error(f"image too large for the image reader: over {2 * (PIL.Image.MAX_IMAGE_PIXELS or 0) / 1e6:g} megapixels") from None
        except Exception as exc:  # PIL.UnidentifiedImageError, OSError, ...
            log.info("upload is not an image: %s", exc)
            raise user_error("the upload is not a readable image (corrupt or unsupported format)") from None

    image.preprocess = preprocess
    return image


def load_upload(path: str | Path | None) -> np.ndarray:
    """Read an uploaded image file as BGR; ImageError (a message for the user, naming no server path) if it
    cannot be used: :func:`deepfer.preprocess.decode_image` refuses an image over the pixel limit from its header."""
    if path is None:
        raise ImageError("no image given: upload a photo first")
    try:
        data = Path(path).read_bytes()
    except OSError:
        raise ImageError("the upload could not be read") from None
    return decode_image(data)


def faces_table(faces: Faces) -> list[list[Any]]:
    """Rows ``face, emotion, confidence, <7 probabilities>`` (percent) for the UI table."""
    rows = []
    for i, rec in enumerate(faces.to_records()):
        rows.append([i + 1, rec["emotion"], round(100 * rec["confidence"], 1), *(round(100 * rec["probabilities"][e], 1) for e in EMOTIONS)])
    return rows


TABLE_HEADERS = ["face", "emotion", "confidence %", *(f"{e} %" for e in EMOTIONS)]


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(bgr[:, :, ::-1])


class Handlers:
    """The functions behind the UI and the API, bound to one shared pipeline (its classifier is shared by
    the other detectors a user picks in the Image and Video tabs; each detector is made once)."""

    def __init__(self, pipeline: FacePipeline) -> None:
        self.pipeline = pipeline
        self._pipelines = {pipeline.detector.name: pipeline}
        self._lock = threading.Lock()

    def with_detector(self, name: str | None) -> FacePipeline:
        """The shared pipeline with detector ``name`` (default: the pipeline's own); unknown names raise DeepFERError."""
        if not name or name == self.pipeline.detector.name:
            return self.pipeline
        with self._lock:
            if name not in self._pipelines:
                self._pipelines[name] = self.pipeline.with_detector(name)
            return self._pipelines[name]

    def predict(self, image_path: str | None) -> dict:
        """``{"faces": [{box, det_score, probabilities, emotion, confidence}, ...]}`` for one image."""
        faces = self.pipeline.analyze(load_upload(image_path))
        return {"faces": faces.to_records()}

    def analyze_image(self, image_path: str | None, detector: str | None = None) -> tuple[np.ndarray, list[list[Any]], dict]:
        """Annotated RGB image, per-face table and the ``/predict`` JSON."""
        img = load_upload(image_path)
        faces = self.with_detector(detector).analyze(img)
        return _rgb(annotate(img, faces)), faces_table(faces), {"faces": faces.to_records()}

    def webcam_frame(self, frame: np.ndarray | None, stream: StreamAnalyzer | None = None,
                     detector: str | None = None) -> tuple[np.ndarray | None, StreamAnalyzer]:
        """One RGB webcam frame in, the same frame with boxes, face ids and smoothed emotions out, and
        the session's stream analyzer (created on its first frame, and anew when the detector changes)
        to pass back with the next one."""
        pipe = self.with_detector(detector)
        if stream is None or stream.detector_name != pipe.detector.name:
            stream = StreamAnalyzer(pipe, LIVE)
        if frame is None:
            return None, stream
        frame = np.asarray(frame)
        bgr = frame[:, :, 2::-1] if frame.ndim == 3 else frame
        faces = stream.analyze(bgr)
        return _rgb(annotate(bgr, faces)), stream

    def analyze_video(self, video_path: str | None, stride: int, progress=None, detector: str | None = None):
        """Run the batch pipeline on an uploaded video: the output files to download (CSV, annotated mp4,
        summary JSON), the annotated video to play (H.264: browsers play it as it is) and the
        emotions-over-time plot."""
        if video_path is None:
            raise DeepFERError("no video given: upload a video first")
        out_dir = _fresh_video_dir()

        def on_progress(fraction: float, message: str) -> None:
            if progress is not None:
                progress(fraction, desc=message)

        try:
            out = analyze_video(video_path, out_dir, self.with_detector(detector), stride=max(1, int(stride)), annotate=True,
                                on_progress=on_progress)
        except DeepFERError as exc:  # name the upload, not the server's copy of it
            raise DeepFERError(str(exc).replace(str(video_path), Path(video_path).name)) from None
        plot = emotion_plot(out.csv_path)
        files = [str(p) for p in (out.csv_path, out.annotated_path, out.summary_path) if p]
        return files, str(out.annotated_path) if out.annotated_path else None, plot


def _fresh_video_dir(keep_s: float = 3600.0) -> Path:
    """A new folder for one video's outputs; folders of earlier runs older than ``keep_s`` are removed
    (Gradio has copied what it serves into its own cache by then)."""
    import shutil

    root = Path(tempfile.gettempdir()) / "deepfer-gradio-video"
    root.mkdir(exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if now - old.stat().st_mtime > keep_s:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(dir=root))


def emotion_plot(csv_path: str | Path):
    """Plotly figure: mean smoothed probability of each emotion (the probabilities behind the emotion drawn on
    the video; the frame's own ones for a CSV written before the temporal model) over the faces of each frame."""
    import pandas as pd
    import plotly.graph_objects as go

    from deepfer.outputs.readers import prob_columns

    df = pd.read_csv(csv_path)
    fig = go.Figure()
    if len(df):
        cols = prob_columns(df, smoothed=True)
        per_frame = df.groupby("timestamp_s")[cols].mean().rename(columns=dict(zip(cols, EMOTIONS)))  # no face: gaps
        for e in EMOTIONS:
            fig.add_trace(go.Scatter(x=per_frame.index, y=per_frame[e], mode="lines", name=e, connectgaps=False,
                                     line={"color": EMOTION_COLORS[e]}))
    fig.update_layout(xaxis_title="time (s)", yaxis_title="mean probability over faces", yaxis_range=[0, 1],
                      margin={"l": 40, "r": 10, "t": 60, "b": 40}, height=380,
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return fig


INTRO = """# DeepFER
Facial emotion recognition: every face is found, boxed and classified into seven emotions
(angry, disgust, fear, happy, neutral, sad, surprise).  Scripts can call the **`/predict`** API
(see "Use via API" at the bottom of the page).  Uploads are limited to {mb} MB."""


def detector_dropdown(pipeline: FacePipeline, elem_id: str) -> gr.Dropdown:
    """Which face detector a tab uses (default: the served pipeline's)."""
    names = [pipeline.detector.name] + [n for n in DETECTOR_CHOICES if n != pipeline.detector.name]
    return gr.Dropdown(names, value=names[0], label="Face detector", elem_id=elem_id, info=DETECTOR_HELP)


def build_app(pipeline: FacePipeline) -> gr.Blocks:
    """The Blocks app (not launched) serving ``pipeline``; see :func:`launch`."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # and analytics_enabled=False below: no telemetry
    h = Handlers(pipeline)
    predict = _user_errors(h.predict)
    analyze_image = _user_errors(h.analyze_image)
    webcam_frame = _user_errors(h.webcam_frame)

    @_user_errors
    def analyze_video(video_path, stride, detector, progress=gr.Progress()):  # noqa: B008 (Gradio injects progress)
        return h.analyze_video(video_path, stride, progress, detector)

    # Every result (each webcam frame too) becomes a file in Gradio's cache: clear it as we go.
    with gr.Blocks(title="DeepFER", analytics_enabled=False, delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(INTRO.format(mb=MAX_UPLOAD_MB))
        with gr.Tab("Image"):
            with gr.Row():
                with gr.Column():
                    image_in = upload_image(label="Photo", elem_id="image-in", sources=["upload", "clipboard"])
                    image_detector = detector_dropdown(pipeline, "image-detector")
                    image_btn = gr.Button("Analyze", variant="primary", elem_id="image-analyze")
                with gr.Column():
                    image_out = gr.Image(label="Faces and emotions", type="numpy", format="png", interactive=False, elem_id="image-out")
            image_table = gr.Dataframe(headers=TABLE_HEADERS, label="Probabilities per face", interactive=False, elem_id="image-table")
            image_json = gr.JSON(label="/predict response", elem_id="image-json")
        with gr.Tab("Webcam"):
            gr.Markdown("Allow the browser to use the camera; annotated frames come back live.")
            with gr.Row():
                with gr.Column():
                    cam_in = gr.Image(label="Webcam", sources=["webcam"], type="numpy", streaming=True, elem_id="webcam-in")
                    cam_detector = detector_dropdown(pipeline, "webcam-detector")
                cam_out = gr.Image(label="Faces and emotions", type="numpy", format="jpeg", streaming=True, interactive=False, elem_id="webcam-out")
        with gr.Tab("Video"):
            with gr.Row():
                with gr.Column():
                    video_in = gr.Video(label="Video", sources=["upload"], elem_id="video-in")
                    stride = gr.Slider(1, 10, value=1, step=1, label="Analyse every n-th frame")
                    video_detector = detector_dropdown(pipeline, "video-detector")
                    video_btn = gr.Button("Analyze video", variant="primary", elem_id="video-analyze")
                with gr.Column():
                    video_out = gr.Video(label="Annotated video", interactive=False, elem_id="video-out")
                    files_out = gr.File(label="Per-frame CSV, annotated video (mp4) and summary (JSON)", file_count="multiple", interactive=False, elem_id="video-files")
            plot_out = gr.Plot(label="Emotions over time", elem_id="video-plot")

        # The API: an image in, the JSON of every face out.  Not tied to a visible button so the
        # UI's richer event below can stay private.
        api_in = upload_image(visible=False)
        api_out = gr.JSON(visible=False)
        api_trigger = gr.Button(visible=False)
        api_trigger.click(predict, api_in, api_out, api_name="predict", concurrency_limit=CONCURRENCY, concurrency_id="image",
                          api_description="Faces in an image: box [x, y, w, h], det_score, probabilities of 7 emotions, emotion, confidence.")

        image_btn.click(analyze_image, [image_in, image_detector], [image_out, image_table, image_json], api_visibility="private",
                        concurrency_limit=CONCURRENCY, concurrency_id="image")  # shares the API's slots
        cam_state = gr.State(None)  # the session's StreamAnalyzer, made on its first frame
        cam_in.stream(webcam_frame, [cam_in, cam_state, cam_detector], [cam_out, cam_state], stream_every=STREAM_EVERY_S, time_limit=STREAM_LIMIT_S,
                      concurrency_limit=CONCURRENCY, concurrency_id="webcam", api_visibility="private")
        video_btn.click(analyze_video, [video_in, stride, video_detector], [files_out, video_out, plot_out],
                        concurrency_limit=1, concurrency_id="video", api_visibility="private")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True, quiet: bool = False):
    """Serve ``demo`` on ``host:port`` with DeepFER's limits; no share link, no external fonts."""
    theme = gr.themes.Default(font=_SYSTEM_FONTS, font_mono=_MONO_FONTS)
    return demo.launch(
        server_name=host, server_port=port, share=False, prevent_thread_lock=not block, quiet=quiet,
        max_file_size=f"{MAX_UPLOAD_MB}mb", show_error=False, ssr_mode=False, inbrowser=False,
        theme=theme, footer_links=["api"],
    )


def check_port(host: str, port: int) -> None:
    """DeepFERError now, before the model loads, if ``host:port`` cannot be listened on."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a port in TIME_WAIT is free
            s.bind(infos[0][4])
    except OSError as exc:
        raise DeepFERError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); is another server using it? Choose one with --port") from None


def serve(args) -> None:
    """``python -m deepfer gradio``: load the model once and serve until interrupted."""
    check_port(args.host, args.port)
    pipeline = FacePipeline.create(getattr(args, "model", None), runtime=getattr(args, "runtime", "auto"))
    demo = build_app(pipeline)
    log.info("serving DeepFER on http://%s:%d (model %s)", args.host, args.port, pipeline.classifier.describe())
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: reachable from other machines, with no authentication", args.host)
    launch(demo, args.host, args.port)
