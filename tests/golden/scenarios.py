"""Batch runs on the shared media whose outputs are frozen in ``tests/golden/batch_media/``.

The files there were produced by the code *before* the one-analysis-core refactor (commit aae872a),
by ``python tests/golden/scenarios.py --write``; ``tests/test_outputs_unchanged.py`` runs the same
commands with the current code and compares every output byte for byte, after replacing the run's
temporary folder by ``<TMP>`` and dropping the one timing figure (``analysis_fps``).

Each scenario goes through the command line (``python -m batch``), the interface that stays the same
across refactors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "batch_media"

SCENARIOS: dict[str, list[str]] = {
    "default": [],
    # frozen with "--smooth 3" (a 3-frame moving average, replaced since by the temporal model in seconds):
    # its smooth_* columns are not compared any more
    "stride2_smooth3_annotate_sort": ["--stride", "2", "--annotate", "--sort-into", "sorted"],
}


def make_inputs(media: Path, root: Path) -> list[str]:
    """``root/in``: the shared photos and video, a 48x48 face crop, a corrupt image and video, a text file."""
    import cv2

    photos, clips = root / "in" / "photos", root / "in" / "clips"
    photos.mkdir(parents=True)
    clips.mkdir(parents=True)
    for name in ("justin.jpg", "test_image.jpg", "no-faces.jpg"):
        shutil.copy(media / name, photos / name)
    img = cv2.imread(str(media / "justin.jpg"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(photos / "crop48.png"), cv2.resize(img[60:300, 70:310], (48, 48), interpolation=cv2.INTER_AREA))
    (photos / "broken.jpg").write_bytes(b"this is not a jpeg" * 10)
    shutil.copy(media / "street_phone.mp4", clips / "street_phone.mp4")
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    (root / "in" / "readme.txt").write_text("not media\n")
    return ["in/photos", "in/clips", "in/readme.txt"]


def run(media: Path, root: Path, name: str, extra: tuple[str, ...] = ()) -> tuple[int, Path]:
    """Run scenario ``name`` in ``root`` (inputs made there), with ``extra`` command-line options;
    returns the exit code and the output folder."""
    inputs = make_inputs(media, root) if not (root / "in").exists() else ["in/photos", "in/clips", "in/readme.txt"]
    out = f"out_{name}"
    args = [a if a != "sorted" else f"sorted_{name}" for a in SCENARIOS[name]]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "batch", *inputs, "--out", out, "--no-progress", *args, *extra],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"batch failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.returncode, root / out


#: Run files that did not exist when the goldens were frozen.
LATER_RUN_FILES = ("manifest.json", "skipped.csv")


def normalized(root: Path, name: str) -> dict[str, str]:
    """Every output of scenario ``name`` as text: CSV and JSON verbatim but for ``<TMP>`` (and no
    ``analysis_fps``), binary files and --sort-into copies as their SHA-256.  The run files added
    after the freeze (``manifest.json``: hashes and settings; ``skipped.csv``) are left out: they are
    tested on their own (tests/test_batch_integrity.py)."""
    files: dict[str, str] = {}
    folders = [root / f"out_{name}"] + ([root / f"sorted_{name}"] if (root / f"sorted_{name}").exists() else [])
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if not p.is_file() or (folder.name.startswith("out_") and p.name in LATER_RUN_FILES):
                continue
            key = f"{folder.name.split('_')[0]}/{p.relative_to(folder).as_posix()}"
            if p.suffix in (".csv", ".json"):
                text = p.read_text(encoding="utf-8").replace(str(root.resolve()), "<TMP>").replace(str(root), "<TMP>")
                if p.suffix == ".json":
                    data = json.loads(text)
                    data.pop("analysis_fps", None)
                    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
                files[key] = text
            elif p.suffix == ".mp4":  # the pictures, not the container's bytes (its muxer may change)
                files[key] = frames_digest(p)
            else:
                files[key] = "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    return files


def frames_digest(path: Path) -> str:
    """``frames-sha256:<count>:<digest>`` of a video's decoded frames (BGR pixels, in order)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    h, n = hashlib.sha256(), 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        h.update(frame.tobytes())
        n += 1
    cap.release()
    return f"frames-sha256:{n}:{h.hexdigest()}"


def write(media: Path, work: Path) -> None:
    for name in SCENARIOS:
        code, _ = run(media, work, name)
        dest = GOLDEN / name
        shutil.rmtree(dest, ignore_errors=True)
        files = normalized(work, name)
        for key, text in files.items():
            target = dest / (key + (".sha256" if text.startswith("sha256:") else ".frames" if text.startswith("frames-sha256:") else ""))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        (dest / "exit_code").write_text(f"{code}\n")
        print(f"{name}: exit {code}, {len(files)} files -> {dest}")


def read_golden(name: str) -> dict[str, str]:
    dest = GOLDEN / name
    out = {}
    for p in sorted(dest.rglob("*")):
        if p.is_file() and p.name != "exit_code":
            key = p.relative_to(dest).as_posix().removesuffix(".sha256").removesuffix(".frames")
            out[key] = p.read_text(encoding="utf-8")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="(re)write the golden batch outputs; only when an output change is intended")
    ap.add_argument("--write", action="store_true", required=True)
    ap.add_argument("--media", default=str(REPO.parent / "shared" / "media"))
    ap.add_argument("--work", required=True, help="an empty scratch folder")
    a = ap.parse_args()
    write(Path(a.media), Path(a.work))
