"""Dataset: class distribution per split, imbalance, sample faces per class, unreadable files."""

from __future__ import annotations

import streamlit as st

from dashboard.views import dataset as datasets
from deepfer.errors import DeepFERError
from deepfer.labels import EMOTIONS

st.set_page_config(page_title="DeepFER: dataset", layout="wide")
st.title("Dataset")


@st.cache_data(show_spinner="Scanning the dataset (every image is decoded once)...", max_entries=4)
def scan(root: str, check: bool) -> datasets.DatasetScan:
    return datasets.scan_dataset(root, check_readable=check)


default = datasets.default_dataset_dir()
root = st.text_input("Dataset folder (`<split>/<class>/<images>` or one split folder)", value=str(default or ""),
                     placeholder="/path/to/fer2013")
check = st.checkbox("Check that every image can be decoded", value=True)
if not root.strip():
    st.info("Type the path of a dataset folder: split folders (train, validation, test) holding class folders "
            f"({', '.join(EMOTIONS)}).")
    st.stop()
try:
    result = scan(root.strip(), check)
except DeepFERError as exc:
    st.error(f"Cannot read this dataset: {exc}")
    st.stop()
except OSError as exc:
    st.error(f"Cannot read this dataset: {exc}")
    st.stop()

st.plotly_chart(datasets.counts_figure(result))
st.subheader("Imbalance")
st.dataframe(result.imbalance(), hide_index=True)
if check:
    if result.unreadable:
        st.warning(f"{len(result.unreadable)} unreadable file(s) (skipped by training):")
        st.dataframe([{"path": p, "reason": r} for p, r in result.unreadable[:200]], hide_index=True)
    else:
        st.success("Unreadable files: 0")

st.subheader("Sample faces")
split = st.selectbox("Split", list(result.files))
per_class = st.slider("Faces per class", 1, 12, 6)
seed = st.number_input("Sample seed", 0, 10_000, 0)
for cls, paths in result.samples(split, per_class, int(seed)).items():
    st.markdown(f"**{cls}** ({len(result.files[split].get(cls, []))} images)")
    images = datasets.read_samples(paths)
    if images:
        st.image(images, width=72, channels="BGR")
    else:
        st.caption("no readable images")
