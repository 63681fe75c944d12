"""``<video-stem>.summary.json``: share of time in each emotion and dominant-emotion segments.

Built incrementally, frame by frame, so memory does not grow with the video's length (only
with the number of faces and emotion changes).  Per face, a frame's emotion is that face's most
probable emotion; overall, it is the most probable emotion of the mean over the frame's faces.
A segment ends where the emotion changes or the face is not seen; ``end_s`` is exclusive
(the timestamp of the last frame plus one analyzed-frame step).
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
    segments: list[dict] = field(default_factory=list)
    first_s: float | None = None
    last_frame: int | None = None

    def add(self, frame: int, ts: float, label: int, step_s: float, step_frames: int) -> None:
        self.counts[label] += 1
        if self.first_s is None:
            self.first_s = ts
        seg = self.segments[-1] if self.segments else None
        contiguous = self.last_frame is not None and frame - self.last_frame <= step_frames
        if seg is not None and contiguous and seg["emotion"] == EMOTIONS[label]:
            seg["end_s"] = round(ts + step_s, 4)
            seg["frames"] += 1
        else:
            self.segments.append({"start_s": round(ts, 4), "end_s": round(ts + step_s, 4), "emotion": EMOTIONS[label], "frames": 1})
        self.last_frame = frame

    def to_json(self) -> dict:
        n = int(self.counts.sum())
        share = {e: round(float(c) / n, 4) if n else 0.0 for e, c in zip(EMOTIONS, self.counts)}
        return {
            "frames": n,
            "first_s": self.first_s,
            "dominant": EMOTIONS[int(self.counts.argmax())] if n else None,
            "share": share,
            "segments": self.segments,
        }


class SummaryBuilder:
    """Feed each analyzed frame's track ids and probabilities; :meth:`to_json` gives the summary."""

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

    def add(self, frame: int, ts: float, track_ids: np.ndarray, probs: np.ndarray) -> None:
        self.frames_analyzed += 1
        self.last_frame = max(self.last_frame, frame)
        if len(track_ids) == 0:
            return
        self.frames_with_face += 1
        self.face_rows += len(track_ids)
        for tid, p in zip(track_ids, probs):
            self.faces.setdefault(int(tid), _Timeline()).add(frame, ts, int(np.argmax(p)), self.step_s, self.stride)
        self.overall.add(frame, ts, int(np.argmax(np.mean(probs, axis=0))), self.step_s, self.stride)

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
