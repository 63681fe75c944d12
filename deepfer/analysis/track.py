"""Face ids across frames, and per-face smoothing of probabilities over time.

:class:`FaceTracker` matches each frame's boxes to the tracks of earlier frames by IoU (greedy,
best pair first), falling back to centroid distance for a face that moved more than its box
overlaps; a track not seen for ``max_missed`` updates is dropped.  Ids start at 0 and are never
reused within one tracker, so one person's emotions can be plotted over time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepfer.faces import Faces, iou_matrix
from deepfer.state import stateful


@stateful
@dataclass
class _Track:
    id: int
    box: np.ndarray
    missed: int = 0


@dataclass
class FaceTracker:
    """Assign stable ``track_ids`` to faces, frame after frame.

    ``iou_threshold``: minimum IoU to continue a track; ``max_missed``: updates a track survives
    without a match; ``max_center_shift``: centroid fallback, as a fraction of the box side.
    """

    iou_threshold: float = 0.3
    max_missed: int = 10
    max_center_shift: float = 0.6
    #: what :func:`deepfer.state.snapshot` saves (a video resumed mid-way continues its ids)
    STATE_ATTRS = ("_tracks", "_next_id")
    _tracks: list[_Track] = field(default_factory=list, init=False, repr=False)
    _next_id: int = field(default=0, init=False, repr=False)

    def reset(self) -> None:
        """Forget every track; ids start again at 0."""
        self._tracks = []
        self._next_id = 0

    @property
    def active_ids(self) -> list[int]:
        return [t.id for t in self._tracks]

    def update(self, faces: Faces) -> Faces:
        """The same ``faces`` with ``track_ids`` set."""
        n = len(faces)
        ids = np.full(n, -1, np.int64)
        boxes = faces.boxes.astype(np.float64)
        unmatched_faces = set(range(n))
        unmatched_tracks = set(range(len(self._tracks)))
        if n and self._tracks:
            tboxes = np.stack([t.box for t in self._tracks])
            iou = iou_matrix(boxes, tboxes)
            for fi, ti in zip(*np.unravel_index(np.argsort(-iou, axis=None), iou.shape)):
                if iou[fi, ti] < self.iou_threshold:
                    break
                if fi in unmatched_faces and ti in unmatched_tracks:
                    ids[fi] = self._tracks[ti].id
                    unmatched_faces.discard(fi)
                    unmatched_tracks.discard(ti)
            if unmatched_faces and unmatched_tracks:
                fc = boxes[:, :2] + boxes[:, 2:] / 2
                tc = tboxes[:, :2] + tboxes[:, 2:] / 2
                dist = np.linalg.norm(fc[:, None] - tc[None], axis=2)
                side = np.maximum(boxes[:, 2:].max(axis=1)[:, None], tboxes[:, 2:].max(axis=1)[None])
                rel = dist / np.maximum(side, 1.0)
                for fi, ti in zip(*np.unravel_index(np.argsort(rel, axis=None), rel.shape)):
                    if rel[fi, ti] > self.max_center_shift:
                        break
                    if fi in unmatched_faces and ti in unmatched_tracks:
                        ids[fi] = self._tracks[ti].id
                        unmatched_faces.discard(fi)
                        unmatched_tracks.discard(ti)
        by_id = {t.id: t for t in self._tracks}
        for fi in range(n):
            if ids[fi] >= 0:
                t = by_id[int(ids[fi])]
                t.box, t.missed = boxes[fi], 0
        for ti in unmatched_tracks:
            self._tracks[ti].missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for fi in sorted(unmatched_faces):
            ids[fi] = self._next_id
            self._tracks.append(_Track(self._next_id, boxes[fi]))
            self._next_id += 1
        return faces.with_track_ids(ids)
