"""Every face of a clip, linked into face tracks: the first of the two passes that lip-sync a chosen person.

One walk through the clip in order: a colour histogram of every frame finds the cuts (detection/follow.py's
rule, the one the face following uses); the detector finds every face on every ``detect_every``-th frame, the
last frame and the frames on both sides of each cut (the key frames). A face is linked to a track of the same
shot whose last box (at most MAX_GAP_KEYFRAMES key frames back) it overlaps most, by at least LINK_OVERLAP
(intersection over union); a face no track takes starts one. Who a track is, is its identity descriptors
(tracks/identity.py), taken on a few of its key frames only: its first, then every DESCRIBE_AGAIN_FRAMES frames,
at most MAX_DESCRIPTORS. Tracks are joined across cuts by identity when a person is chosen (tracks/person.py).

Frames are uint8 RGB (H, W, 3) 0..255; boxes are (y1, y2, x1, x2) int64 full-resolution pixels.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..detection.common import FaceDetector
from ..detection.follow import colour_histogram, is_shot_change
from ..detection.options import DetectionOptions
from ..detection.track import checked_frame, detector_scale, faces_in_frames
from .identity import DESCRIPTOR_SIZE, FaceDescriber

LINK_OVERLAP = 0.3            # intersection over union of a face with its track's last box
MAX_GAP_KEYFRAMES = 2         # a face missed on this many key frames in a row can still rejoin its track
DESCRIBE_AGAIN_FRAMES = 50    # a long track is described again after this many frames (pose and light change)
MAX_DESCRIPTORS = 3
# Full frames held until their detection batch runs (they are needed again for the descriptors).
MAX_PENDING_BYTES = 256 * 2**20


def overlap(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union (K,) of one (y1, y2, x1, x2) box with (K, 4) boxes."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    height = np.clip(np.minimum(box[1], boxes[:, 1]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    width = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[2], boxes[:, 2]), 0, None)
    inter = height * width
    area = lambda b: (b[..., 1] - b[..., 0]) * (b[..., 3] - b[..., 2])
    return inter / np.maximum(area(np.asarray(box, np.float64)) + area(boxes) - inter, 1e-9)


@dataclass
class Track:
    """One face followed through one shot: its box on each key frame it was found on, and who it is."""
    id: int
    shot: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    descriptors: list[np.ndarray] = field(default_factory=list)
    described_at: int = -1

    def boxes_between(self, frames: np.ndarray) -> np.ndarray:
        """(len(frames), 4) float64 boxes on ``frames``: linear between the key frames around each, the nearest key
        frame's box outside its span."""
        keys = np.array(self.frames, np.float64)
        boxes = np.array(self.boxes, np.float64).reshape(-1, 4)
        return np.stack([np.interp(np.asarray(frames, np.float64), keys, boxes[:, k]) for k in range(4)], axis=-1)


@dataclass
class FaceSurvey:
    """The faces of a clip: every face of every key frame (``faces``: frame -> (K, 4) boxes, ``labels``: frame ->
    (K,) track ids), the tracks, and the first frame of each shot (``shot_starts``, 0 first)."""
    num_frames: int
    faces: dict[int, np.ndarray]
    labels: dict[int, np.ndarray]
    tracks: list[Track]
    shot_starts: np.ndarray

    def shot_of(self, frame: int) -> int:
        return int(np.searchsorted(self.shot_starts, frame, side="right")) - 1

    def track_descriptors(self, track_id: int) -> np.ndarray:
        descriptors = self.tracks[track_id].descriptors
        return np.array(descriptors, np.float32).reshape(-1, DESCRIPTOR_SIZE)

    def most_faces(self) -> int:
        return max((len(boxes) for boxes in self.faces.values()), default=0)


class _Linker:
    def __init__(self, describer: FaceDescriber | None):
        self.describer = describer
        self.tracks: list[Track] = []
        self.labels: dict[int, np.ndarray] = {}
        self.faces: dict[int, np.ndarray] = {}
        self.keyframes_of_shot: dict[int, list[int]] = {}

    def add(self, index: int, shot: int, frame: np.ndarray, boxes: np.ndarray) -> None:
        keyframes = self.keyframes_of_shot.setdefault(shot, [])
        recent = set(keyframes[-MAX_GAP_KEYFRAMES:])
        keyframes.append(index)
        candidates = [t for t in self.tracks if t.shot == shot and t.frames and t.frames[-1] in recent]
        pairs = [(overlap(track.boxes[-1], boxes[k:k + 1])[0], k, track) for track in candidates
                 for k in range(len(boxes))]
        labels = np.full(len(boxes), -1, np.int64)
        taken: set[int] = set()
        for score, k, track in sorted(pairs, key=lambda p: -p[0]):
            if score >= LINK_OVERLAP and labels[k] < 0 and track.id not in taken:
                labels[k] = track.id
                taken.add(track.id)
        for k in np.flatnonzero(labels < 0):
            self.tracks.append(Track(len(self.tracks), shot))
            labels[k] = self.tracks[-1].id
        describe = []
        for k, label in enumerate(labels):
            track = self.tracks[label]
            track.frames.append(index)
            track.boxes.append(boxes[k])
            if self.describer is not None and len(track.descriptors) < MAX_DESCRIPTORS and \
                    (track.described_at < 0 or index - track.described_at >= DESCRIBE_AGAIN_FRAMES):
                describe.append(k)
        if describe:
            for k, descriptor in zip(describe, self.describer.describe(frame, boxes[describe])):
                self.tracks[labels[k]].descriptors.append(descriptor)
                self.tracks[labels[k]].described_at = index
        self.faces[index], self.labels[index] = boxes, labels


def survey_faces(frames: Sequence[np.ndarray], options: DetectionOptions, detector: FaceDetector,
                 describer: FaceDescriber | None,
                 progress: Callable[[int, int], None] | None = None) -> FaceSurvey:
    """Every face on the key frames of ``frames`` (uint8 RGB, a sequence read in order once), linked into tracks
    and, with a ``describer``, described (see the module text)."""
    num_frames = len(frames)
    first = checked_frame(frames, 0, *np.asarray(frames[0]).shape[:2])
    height, width = first.shape[:2]
    scale = detector_scale(detector, options, height, width)
    every = int(options.detect_every)
    linker = _Linker(describer)
    shot_starts = [0]
    pending: dict[int, np.ndarray] = {}          # key frames waiting for their detection batch
    previous, previous_histogram = None, None

    def flush() -> None:
        order = sorted(pending)
        held = {i: pending[i] for i in order}
        for index, boxes in zip(order, faces_in_frames(held, order, detector, scale)):
            linker.add(index, int(np.searchsorted(shot_starts, index, side="right")) - 1, held[index], boxes)
        pending.clear()

    for index in range(num_frames):
        frame = checked_frame(frames, index, height, width)
        histogram = colour_histogram(frame)
        if previous_histogram is not None and is_shot_change(previous_histogram, histogram):
            if index - 1 not in linker.faces:
                pending[index - 1] = previous
            flush()                                # the old shot's key frames are linked before the cut
            shot_starts.append(index)
            pending[index] = frame
        elif index % every == 0 or index == num_frames - 1:
            pending[index] = frame
        previous, previous_histogram = frame, histogram
        if len(pending) >= int(options.batch_size) or sum(f.nbytes for f in pending.values()) > MAX_PENDING_BYTES:
            flush()
            if progress is not None:
                progress(index + 1, num_frames)
    flush()
    if progress is not None:
        progress(num_frames, num_frames)
    return FaceSurvey(num_frames, linker.faces, linker.labels, linker.tracks, np.array(shot_starts, np.int64))
