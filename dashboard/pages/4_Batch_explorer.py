"""Batch explorer: open a batch output folder, or upload videos/images and run the batch here."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.views import batch_results as br
from dashboard.views.uploads import delete_run, run_folder_of
from deepfer.errors import DeepFERError
from deepfer.labels import EMOTIONS
from deepfer.media import upload_types
from deepfer.outputs import readers as bv

st.set_page_config(page_title="DeepFER: batch explorer", layout="wide")
st.title("Batch explorer")

roots = br.results_roots()
source = st.radio("Results", ["Open a batch output folder", "Upload videos or images and run the batch"], horizontal=True)
if source.startswith("Upload"):
    from dashboard.views.uploads import run_uploads

    files = st.file_uploader("Videos or images", accept_multiple_files=True, type=upload_types(("image", "video")))
    from dashboard.views.model import detector_choice

    c1, c2, c3, c4 = st.columns(4)
    stride = c1.number_input("Analyze every n-th frame", 1, 100, 1)
    smooth = c2.number_input("Smoothing (seconds, 0 = off)", 0.0, 10.0, 0.2, 0.1,
                             help="time constant of each face's exponential smoothing; the emotion shown changes only after "
                             "another one has led for 0.2 s")
    detector = detector_choice(c3, key="batch_detector")
    annotate_video = c4.checkbox("Write annotated videos", value=True)
    if files and st.button("Run the batch", type="primary"):
        bar = st.progress(0.0, text="Starting...")
        try:
            run = run_uploads(files, stride=int(stride), smooth_s=float(smooth), annotate=annotate_video, detector=detector,
                              on_progress=lambda f, m: bar.progress(min(max(float(f), 0.0), 1.0), text=m))
            st.session_state["batch_dir"], st.session_state["batch_refused"] = str(run.out_dir), run.refused
            bar.progress(1.0, text="Done")
        except DeepFERError as exc:
            bar.empty()
            st.error(f"The batch could not run: {exc}")
    for name, why in st.session_state.get("batch_refused", []):
        st.warning(f"{name} was not analyzed: {why}")
    folder = st.session_state.get("batch_dir", "")
    if not folder:
        st.stop()
    st.caption(f"Results in `{folder}`. Your uploaded files were deleted when the run ended; these results stay until "
               "you delete them (below) or a run started a day later removes them.")
else:
    runs = br.list_runs(roots)
    picked = st.selectbox("Batch run", runs, format_func=str, key="run",
                          help=f"Batch outputs under {roots[0]}, newest first (set DEEPFER_RESULTS_DIR to change it)") if runs else None
    typed = st.text_input(f"Or a batch output folder under {roots[0]}", key="folder", placeholder=str(roots[0] / "..."))
    folder = typed.strip() or (str(picked) if picked else "")
    if not folder:
        st.info(f"No batch output under {roots[0]} yet: run `python -m batch ... --out` into a folder under it, upload files "
                "(above), or set DEEPFER_RESULTS_DIR to the folder holding your batch outputs.")
        st.stop()

try:
    out = br.open_results(folder, roots)
except DeepFERError as exc:
    st.error(str(exc))
    st.stop()
within = [out.folder, *roots, *br.analyzed_sources(out.folder)]  # the batch's own inputs, from its manifest
if run_folder_of(out.folder) is not None:  # a run on uploads made here: its owner may delete it now
    if st.button("Delete this run", help=f"delete {run_folder_of(out.folder)} (results, annotated videos) from the server"):
        try:
            gone = delete_run(out.folder)
        except DeepFERError as exc:
            st.error(str(exc))
        else:
            st.session_state.pop("batch_dir", None)
            st.session_state.pop("folder", None)
            st.success(f"Deleted {gone}.")
            st.stop()

if out.errors_csv is not None:
    try:
        errors = bv.load_errors_csv(out.errors_csv)
    except DeepFERError as exc:
        st.warning(str(exc))
    else:
        if len(errors):
            with st.expander(f"{len(errors)} input(s) failed", expanded=not out.videos and out.images_csv is None):
                st.dataframe(br.with_file_names(errors), hide_index=True,
                             column_config={"path": st.column_config.TextColumn("path", width="small")})
            st.download_button("Download errors.csv", out.errors_csv.read_bytes(), "errors.csv", "text/csv")

COMPARE = "compare all videos"


@st.cache_data(max_entries=4, show_spinner="Building the HTML report...")
def _report(folder: str, stamp: float) -> str | None:
    return br.report_html(Path(folder))



tabs = ([COMPARE] if len(out.videos) > 1 else []) + [f"video: {s}" for s in out.videos] + (["images"] if out.images_csv else [])
if not tabs:
    st.info("This folder has no per-video or image results, only errors.")
    st.stop()
choice = st.selectbox("Result", tabs, key="result")
report_html = _report(str(out.folder), br.folder_stamp(out.folder))
if report_html is not None:
    st.download_button("Download the HTML report (all videos, images and failures in one page)", report_html,
                       "report.html", "text/html")

if choice == COMPARE:
    summaries = br.compare_summaries(out.folder)
    st.dataframe(br.compare_table(summaries), hide_index=True)
    st.plotly_chart(br.compare_shares_figure(summaries))
    st.plotly_chart(br.compare_timelines_figure(summaries))
    st.caption("Each face's emotion decided over time (as in the CSVs' emotion column); time from the start of each video.")
    st.stop()

if choice == "images":
    try:
        df = bv.load_images_csv(out.images_csv)
    except DeepFERError as exc:
        st.error(str(exc))
        st.stop()
    st.download_button("Download images.csv", out.images_csv.read_bytes(), "images.csv", "text/csv")
    faces = bv.faces_only(df)
    st.write(f"{df['path'].nunique()} image(s), {len(faces)} face(s), {df['path'].nunique() - faces['path'].nunique()} image(s) without a face")
    c1, c2 = st.columns(2)
    emotions = c1.multiselect("Emotion", list(EMOTIONS), default=list(EMOTIONS))
    lo, hi = c2.slider("Confidence", 0.0, 1.0, (0.0, 1.0), 0.05)
    shown = faces[faces["emotion"].isin(emotions) & faces["confidence"].between(lo, hi)].head(300).copy()
    st.dataframe(br.images_table(shown, within), hide_index=True, row_height=70,
                 column_config={"face": st.column_config.ImageColumn("face"),
                                "file": st.column_config.TextColumn("file", help="the image's file name (full path: last column)"),
                                "face_id": st.column_config.NumberColumn("face", help="the face's number in its image, as drawn on it", width="small"),
                                "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="percent"),
                                "path": st.column_config.TextColumn("path", width="small", help="where the batch read the image")})
    st.caption(f"{len(shown)} face(s) shown (at most 300); pictures of the images this run analyzed (its manifest.json) "
               f"or that lie under {roots[0]}")
    st.stop()

video = out.videos[choice.removeprefix("video: ")]
try:
    df = bv.load_video_csv(video.csv)
except DeepFERError as exc:
    st.error(str(exc))
    st.stop()
for col, (label, path, mime) in zip(st.columns(3), br.video_downloads(video)):
    col.download_button(f"Download the {label}", path.read_bytes, path.name, mime, help=path.name, on_click="ignore")
player, not_playable = br.playable_video(video)
if player is not None:
    st.columns([3, 2])[0].video(str(player))
elif video.annotated is not None:
    st.caption(not_playable)
if bv.faces_only(df).empty:
    st.info(f"No face was found in {video.stem} ({df['frame'].nunique()} frames analyzed).")
    st.stop()
has_decided = bv.decided(df)
raw = st.toggle("Raw per-frame emotions", value=not has_decided, disabled=not has_decided,
                help="off: each face's emotion decided over time (smoothed, with a minimum hold; as in the CSV's emotion column "
                "and the summary); on: the argmax of each frame's own probabilities" if has_decided else
                "this CSV was written before DeepFER decided emotions over time: only the per-frame view exists")
smoothed = not raw

st.plotly_chart(br.timeline_figure(df, smoothed))
left, right = st.columns(2)
summary = video.summary_data()
left.plotly_chart(br.share_figure(df, smoothed, summary))
min_frames = right.number_input("Ignore segments shorter than (frames)", 1, 100, 3)
seg = br.segments(df, smoothed, int(min_frames), summary)
right.plotly_chart(br.segments_figure(seg))
st.subheader("Faces")
st.dataframe(br.face_summary(df, smoothed), hide_index=True)
with st.expander(f"Dominant-emotion segments ({len(seg)})"):
    st.dataframe(seg, hide_index=True)

st.subheader("Frame inspector")
frames = sorted(df["frame"].unique().tolist())
frame = st.select_slider("Frame", frames, value=frames[0]) if len(frames) > 1 else frames[0]
rows = df[df["frame"] == frame]
st.caption(f"frame {frame} at {float(rows['timestamp_s'].iloc[0]):.2f} s")
src = br.video_to_show(video, within)
img = bv.read_frame(src, int(frame)) if src is not None else None
if img is not None:
    from deepfer.analysis.annotate import annotate

    shown_img = img if src == video.annotated else annotate(img, bv.faces_of_frame(df, int(frame)))
    st.image(shown_img, channels="BGR", caption=src.name)
else:
    st.info("The video itself is not available (neither the analyzed file under the results folder nor an annotated copy), "
            "so only the numbers are shown.")
st.dataframe(bv.faces_only(rows)[["face_id", "x", "y", "w", "h", "emotion", "confidence", *EMOTIONS]], hide_index=True)
