"""Small generated inputs for the dashboard tests: batch output folders, training runs, frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def _probs(k: int, conf: float = 0.8) -> list[float]:
    p = np.full(7, (1 - conf) / 6)
    p[k] = conf
    return [round(float(v), 6) for v in p]


def make_video_output(folder: Path, stem: str = "clip", frames: int = 20, fps: float = 10.0, smooth: bool = False) -> Path:
    """``<stem>.csv`` + ``<stem>.summary.json`` in the batch format: face 0 happy for frames 0-9 then sad,
    face 1 neutral on even frames; frames 18-19 have no face (empty face columns)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for f in range(frames):
        t = round(f / fps, 4)
        if f >= frames - 2:
            rows.append({"frame": f, "timestamp_s": t, **{c: "" for c in ("face_id", "x", "y", "w", "h", "det_score", *EMOTIONS, "emotion", "confidence")}})
            continue
        faces = [(0, 3 if f < 10 else 5, (10, 10, 50, 50))]
        if f % 2 == 0:
            faces.append((1, 4, (100, 20, 40, 40)))
        for fid, k, (x, y, w, h) in faces:
            p = _probs(k)
            rows.append({"frame": f, "timestamp_s": t, "face_id": fid, "x": x, "y": y, "w": w, "h": h, "det_score": 5.0,
                         **dict(zip(EMOTIONS, p)), "emotion": EMOTIONS[k], "confidence": max(p)})
    df = pd.DataFrame(rows)
    if smooth:  # the format with emotions decided over time (smooth_* and raw_emotion columns)
        for e in EMOTIONS:
            df[f"smooth_{e}"] = df[e]
        df["raw_emotion"] = df["emotion"]
    df.to_csv(folder / f"{stem}.csv", index=False)
    (folder / f"{stem}.summary.json").write_text(json.dumps({"source": str(folder / f"{stem}.mp4"), "frames": frames, "fps": fps}))
    return folder


def make_images_output(folder: Path, image_dir: Path) -> Path:
    """``images.csv`` (faces numbered 1..N per image in face_id, as the batch writes it) for two generated images (one with a face row, one without) and ``errors.csv``."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    image_dir.mkdir(parents=True, exist_ok=True)
    a, b = image_dir / "a.png", image_dir / "b.png"
    cv2.imwrite(str(a), np.full((120, 160, 3), 128, np.uint8))
    cv2.imwrite(str(b), np.zeros((50, 50, 3), np.uint8))
    p = _probs(3, 0.9)
    rows = [{"path": str(a), "face_id": 1, "x": 20, "y": 20, "w": 60, "h": 60, "det_score": 4.0, **dict(zip(EMOTIONS, p)),
             "emotion": "happy", "confidence": 0.9},
            {"path": str(a), "face_id": 2, "x": 90, "y": 20, "w": 50, "h": 50, "det_score": 3.0, **dict(zip(EMOTIONS, _probs(0, 0.4))),
             "emotion": "angry", "confidence": 0.4},
            {"path": str(b), **{c: "" for c in ("face_id", "x", "y", "w", "h", "det_score", *EMOTIONS, "emotion", "confidence")}}]
    pd.DataFrame(rows).to_csv(folder / "images.csv", index=False)
    pd.DataFrame([{"path": str(image_dir / "broken.jpg"), "error": "not a readable image (corrupt or unsupported format)"}]).to_csv(
        folder / "errors.csv", index=False)
    return folder


def make_run(folder: Path, epochs: int = 3, name: str = "tiny", evaluation: bool = True, history: bool = True) -> Path:
    """A training-run folder: metadata, history.csv, evaluation.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"name": name, "architecture": "seed", "parameters": 1000, "labels": list(EMOTIONS)}))
    if history:
        pd.DataFrame({"epoch": range(1, epochs + 1), "loss": np.linspace(2, 1, epochs), "accuracy": np.linspace(0.2, 0.5, epochs),
                      "val_loss": np.linspace(2, 1.2, epochs), "val_accuracy": np.linspace(0.2, 0.45, epochs),
                      "lr": [0.01] * epochs}).to_csv(folder / "history.csv", index=False)
    if evaluation:
        cm = (np.eye(7) * 8 + 1).astype(int)
        per = {e: {"precision": 0.6, "recall": 0.5, "f1": 0.55, "support": 14} for e in EMOTIONS}
        (folder / "evaluation.json").write_text(json.dumps({"validation": {"n": 98, "accuracy": 0.57, "macro_f1": 0.55, "labels": list(EMOTIONS),
                                                                          "per_class": per, "confusion_matrix": cm.tolist()}}))
    return folder


def letterbox(bgr, width: int = 640, height: int = 480):
    import cv2

    h, w = bgr.shape[:2]
    s = min(width / w, height / h)
    img = cv2.resize(bgr, (round(w * s), round(h * s)))
    top, left = (height - img.shape[0]) // 2, (width - img.shape[1]) // 2
    return cv2.copyMakeBorder(img, top, height - img.shape[0] - top, left, width - img.shape[1] - left, cv2.BORDER_CONSTANT)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """A YUV4MPEG2 (4:2:0) file from BGR frames, for Chromium's fake camera (which loops it)."""
    import cv2

    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for bgr in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path
