"""``<video-stem>.summary.json``: share of time in each emotion and dominant-emotion segments.

Built incrementally, frame by frame, so memory does not grow with the video's length (only
with the number of faces and emotion changes).  Per face, a frame's emotion is the one shown for
that face (in a video: decided over time by :mod:`deepfer.analysis.temporal`); ``share_raw`` gives
the shares of the per-frame argmax beside it.  Overall, a frame's emotion is its one face's, or with
several faces the most probable emotion of the mean of their shown probabilities.  A segment is a
run of one emotion; it ends where the emotion changes or the face is not seen; ``end_s`` is
exclusive (the timestamp of the last frame plus one analyzed-frame step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepfer.labels import EMOTIONS
from deepfer.state import stateful


@stateful
@dataclass
class _Timeline:
    counts: np.ndarray = field(default_factory=lambda: np.zeros(len(EMOTIONS), np.int64))
    raw_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(EMOTIONS), np.int64))
    segments: list[dict] = field(default_factory=list)
    first_s: float | None = None
    last_frame: int | None = None

    def add(self, frame: int, ts: float, label: int, step_s: float, step_frames: int, raw_label: int | None = None) -> None:
        self.counts[label] += 1
        self.raw_counts[label if raw_label is None else raw_label] += 1
        if self.first_s is None:
            self.first_s = ts
        seg = self.segments[-1] if self.segments else None
        contiguous = self.last_frame is not None and frame - self.last_frame <= step_frames
        if seg is not None and contiguous and seg["emotion"] == EMOTIONS[label]:
            seg["end_s"] = round(ts + step_s, 4)
            seg["frames"] += 1
        else:
            if seg is not None and contiguous:  # the previous segment ends where this one starts (true times may
                seg["end_s"] = min(seg["end_s"], round(ts, 4))  # be closer than the container's nominal fps says)
            self.segments.append({"start_s": round(ts, 4), "end_s": round(ts + step_s, 4), "emotion": EMOTIONS[label], "frames": 1})
        self.last_frame = frame

    def to_json(self) -> dict:
        n = int(self.counts.sum())
        def shares(counts: np.ndarray) -> dict:
            return {e: round(float(c) / n, 4) if n else 0.0 for e, c in zip(EMOTIONS, counts)}

        return {
            "frames": n,
            "first_s": self.first_s,
            "dominant": EMOTIONS[int(self.counts.argmax())] if n else None,
            "share": shares(self.counts),
            "share_raw": shares(self.raw_counts),
            "segments": self.segments,
        }


class SummaryBuilder:
    """Feed each analyzed frame's faces (:meth:`add`); :meth:`to_json` gives the summary."""

    STATE_ATTRS = ("frames_analyzed", "frames_with_face", "face_rows", "last_frame", "overall", "faces")

    def __init__(self, fps: float, stride: int = 1):
        self.fps = fps
        self.stride = stride
        self.step_s = stride / fps if fps > 0 else 0.0
        self.frames_analyzed = 0
        self.frames_with_face = 0
        self.face_rows = 0
        self.last_frame = -1
        self.overall = _Timeline()
        self.faces: dict[int, _Timeline] = {}

    def add(self, frame: int, ts: float, track_ids: np.ndarray, labels: np.ndarray, probs: np.ndarray,
            raw_labels: np.ndarray | None = None) -> None:
        """One analyzed frame: its faces' ids, shown emotions (indices), the probabilities behind them and
        the per-frame argmax (``raw_labels``, for ``share_raw``; default: the shown emotions)."""
        self.frames_analyzed += 1
        self.last_frame = max(self.last_frame, frame)
        if len(track_ids) == 0:
            return
        self.frames_with_face += 1
        self.face_rows += len(track_ids)
        raw = labels if raw_labels is None else raw_labels
        for tid, label, r in zip(track_ids, labels, raw):
            self.faces.setdefault(int(tid), _Timeline()).add(frame, ts, int(label), self.step_s, self.stride, int(r))
        if len(labels) == 1:
            overall, overall_raw = int(labels[0]), int(raw[0])
        else:
            overall = overall_raw = int(np.argmax(np.mean(probs, axis=0)))
        self.overall.add(frame, ts, overall, self.step_s, self.stride, overall_raw)

    def add_faces(self, frame: int, ts: float, faces) -> None:
        """:meth:`add` for a frame's :class:`~deepfer.faces.Faces` (classified)."""
        if len(faces) == 0:
            self.add(frame, ts, faces.track_ids, np.zeros(0, np.int64), np.zeros((0, len(EMOTIONS))))
        else:
            self.add(frame, ts, faces.track_ids, faces.label_ids, faces.shown_probs, faces.raw_label_ids)

    def to_json(self, **extra) -> dict:
        return {
            **extra,
            "frames_analyzed": self.frames_analyzed,
            "frames_with_face": self.frames_with_face,
            "face_rows": self.face_rows,
            "faces_tracked": len(self.faces),
            "emotions": list(EMOTIONS),
            "overall": self.overall.to_json(),
            "faces": {str(k): v.to_json() for k, v in sorted(self.faces.items())},
        }
