"""The temporal model: what emotion a tracked face shows, over time, rather than frame by frame.

Per-frame probabilities flicker (two emotions nearly tied swap the top place from one frame to the next),
so every video front end (batch CSV and annotated video, summaries, both webcams, the Gradio video tab)
reads a face's emotion from :class:`TemporalFilter`, the same way:

1. **Smoothing in seconds.** Each face's probabilities are averaged with an exponential filter whose time
   constant is ``smooth_s`` seconds: a frame ``dt`` seconds after the previous one gets the weight
   ``1 - exp(-dt / smooth_s)``.  The weight depends on elapsed time, not on frame counts, so the filter
   means the same at 10 or 60 frames/s, with ``--stride``, and on variable-frame-rate video.
2. **Hysteresis with a minimum duration.** The emotion shown changes only when another emotion has led
   the smoothed probabilities for ``hold_s`` seconds without a break; so one face's label changes at most
   once per ``hold_s`` seconds, and a lead that is shorter (a blink, a half-turned frame) never shows.
   The emotion's ``confidence`` is its smoothed probability.  Both steps are causal (they use past frames
   only), so a live camera and a recorded video give the same labels for the same frames.

A face unseen for more than ``gap_s`` seconds starts afresh.  ``smooth_s=0`` and ``hold_s=0``
(:data:`RAW`) give the per-frame argmax: the raw view, kept in every CSV as the probability columns and
``raw_emotion``.  Segments in summaries are the runs of this label (:mod:`deepfer.outputs.summary`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from deepfer.faces import Faces
from deepfer.state import stateful


@dataclass(frozen=True)
class TemporalSettings:
    """``smooth_s``: time constant of the exponential filter (0: no smoothing); ``hold_s``: how long a new
    emotion must lead before the label changes (0: at once); ``gap_s``: a face unseen longer starts afresh."""

    smooth_s: float = 0.2
    hold_s: float = 0.2
    gap_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("smooth_s", "hold_s", "gap_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")

    @property
    def raw(self) -> bool:
        return self.smooth_s == 0 and self.hold_s == 0

    def to_json(self) -> dict:
        return {"method": "exponential smoothing in seconds + hysteresis with a minimum duration",
                "smooth_s": self.smooth_s, "hold_s": self.hold_s, "gap_s": self.gap_s}


#: The defaults of every video front end: 0.2 s of smoothing, a lead of 0.2 s to change.  Chosen by
#: ``python -m benchmarks.timeline`` on the shared clip and two recordings assembled from the shared media
#: (21 settings tried: smooth_s 0.15-0.6, hold_s 0-1.0, with and without a probability margin): the
#: setting that kept every emotion's share of time within 5 points of the per-frame shares on all three
#: with the fewest changes.  Longer settings steady the label more but shift the shares (the label lags:
#: with smooth_s=0.5, hold_s=1.0 the 4.6 s shared clip's shares moved 38 points).
DEFAULT_TEMPORAL = TemporalSettings()
#: The per-frame view: no smoothing, no hysteresis.
RAW = TemporalSettings(smooth_s=0.0, hold_s=0.0)


@stateful
@dataclass
class _FaceState:
    last_s: float
    probs: np.ndarray
    label: int
    candidate: int = -1
    since_s: float = 0.0


@dataclass
class TemporalFilter:
    """Per-track smoothing and label decision; see the module docstring.  Feed frames in time order."""

    settings: TemporalSettings = DEFAULT_TEMPORAL
    STATE_ATTRS = ("_faces",)
    _faces: dict[int, _FaceState] = field(default_factory=dict, init=False, repr=False)

    def reset(self) -> None:
        self._faces = {}

    def update(self, faces: Faces, timestamp_s: float) -> Faces:
        """``faces`` (classified, with track ids) with ``smoothed`` probabilities and the decided ``emotion_ids``.
        Faces without a track id (``-1``) get their own probabilities and argmax."""
        if faces.probs is None:
            raise ValueError("TemporalFilter needs classified faces (probs is None)")
        probs = faces.probs
        smoothed = probs.copy()
        labels = probs.argmax(axis=1) if len(faces) else np.zeros(0, np.int64)
        s = self.settings
        t = float(timestamp_s)
        for i, tid in enumerate(faces.track_ids):
            if tid < 0:
                continue
            st = self._faces.get(int(tid))
            p = probs[i].astype(np.float32)
            if st is None or t - st.last_s > s.gap_s or t < st.last_s:
                st = _FaceState(t, p.copy(), int(p.argmax()))
                self._faces[int(tid)] = st
            else:
                weight = 1.0 if s.smooth_s <= 0 else 1.0 - math.exp(-(t - st.last_s) / s.smooth_s)
                st.probs = (st.probs + np.float32(weight) * (p - st.probs)).astype(np.float32)
                st.last_s = t
                self._decide(st, t)
            smoothed[i] = st.probs
            labels[i] = st.label
        self._forget(t)
        return faces.with_smoothed(smoothed).with_emotions(labels)

    def _decide(self, st: _FaceState, t: float) -> None:
        best = int(st.probs.argmax())
        if best == st.label:
            st.candidate = -1
            return
        if best != st.candidate:
            st.candidate, st.since_s = best, t
        if t - st.since_s >= self.settings.hold_s - 1e-9:
            st.label, st.candidate = best, -1

    def _forget(self, t: float) -> None:
        """Drop faces unseen for longer than ``gap_s`` (memory stays bounded on long recordings)."""
        stale = [k for k, st in self._faces.items() if t - st.last_s > self.settings.gap_s]
        for k in stale:
            del self._faces[k]
