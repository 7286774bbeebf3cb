"""Detection on key frames, the face followed between them (``tracking="flow"``).

The detector runs on every ``detect_every``-th frame (and the last). In between, the face box is carried
from frame to frame by its optical flow (``follow.estimate_face_motion``), which costs a small fraction of a
detection. The detector also runs, as soon as the walk through the clip reaches it, on a frame where
* the shot changes (colour histogram; the frame before the cut is detected too, to close the shot),
* the flow loses the face or its corners disagree,
* the face has moved or changed size a lot since the last detection.
Where a detection disagrees with the followed box by more than REFINE_DISAGREEMENT of the box size, the frame
halfway is detected too, and so on down (a drifting follow or another face). Between two detections the
followed boxes are corrected by the difference found at the later one, spread linearly, so boxes never jump
at a key frame. A key frame without a face leaves its neighbours to the per-frame detection of the caller.

Frames are uint8 RGB (H, W, 3); boxes are (y1, y2, x1, x2) full-resolution pixels.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .common import as_rgb_uint8_frame
from .follow import IDENTITY, Motion, box_size, colour_histogram, estimate_face_motion, is_shot_change

REDETECT_SHIFT = 0.5          # the face moved this many box sizes since the last detection
REDETECT_SCALE = 0.2          # or grew / shrank by this share
REFINE_DISAGREEMENT = 0.15    # a detection this far (share of the box size) from the followed box


def disagreement(detected_box: np.ndarray, followed_box: np.ndarray) -> float:
    """Largest coordinate difference between two (y1, y2, x1, x2) boxes, as a share of the first's size."""
    return float(np.abs(np.asarray(detected_box, np.float64) - followed_box).max()) / box_size(detected_box)


class KeyframeWalk:
    """One pass through the clip in order, following the face between detections.

    ``detect(indices)`` runs the detector on those frames and fills ``boxes`` / ``found`` (shared arrays of
    the caller, int64 (N, 4) and bool (N,)); ``detected`` marks the frames it ran on.
    """

    def __init__(self, frames: Sequence[np.ndarray], boxes: np.ndarray, found: np.ndarray, detected: np.ndarray,
                 detect: Callable[[np.ndarray], None]):
        self.frames, self.boxes, self.found, self.detected = frames, boxes, found, detected
        self._detect = detect
        count = len(found)
        self.anchor = np.full(count, -1, np.int64)      # the detection a followed frame was followed from
        self.motion = np.tile(np.array([1.0, 0.0, 0.0]), (count, 1))   # Motion from that detection to it
        self._from = -1                                  # detection being followed from (-1: none)
        self._box = np.zeros(4)                          # followed box on the previous frame
        self._previous: np.ndarray | None = None
        self._previous_histogram: np.ndarray | None = None

    # ---------------------------------------------------------------- bookkeeping
    def detect(self, *indices: int) -> None:
        wanted = np.array([i for i in indices if 0 <= i < len(self.found) and not self.detected[i]], np.int64)
        if wanted.size:
            self._detect(wanted)

    def _motion(self, index: int) -> Motion:
        return Motion(*self.motion[index])

    def _set_motion(self, index: int, anchor: int, motion: Motion) -> None:
        self.anchor[index] = anchor
        self.motion[index] = (motion.scale, motion.shift_x, motion.shift_y)

    def _start_from(self, index: int) -> None:
        """Follow from detected frame ``index`` (or stop following when it has no face)."""
        self._from = index if self.found[index] else -1
        self._box = self.boxes[index].astype(np.float64)

    # ---------------------------------------------------------------- the walk
    def step(self, index: int) -> None:
        """Visit frame ``index`` (called for 0, 1, 2, ... in order)."""
        frame = as_rgb_uint8_frame(self.frames[index], index)
        histogram = colour_histogram(frame)
        cut = self._previous_histogram is not None and is_shot_change(self._previous_histogram, histogram)
        previous, self._previous, self._previous_histogram = self._previous, frame, histogram
        if self._from < 0:                        # not following (also on frame 0)
            if self.detected[index]:
                self._start_from(index)
            return
        start = self._from
        if cut:
            self.detect(index - 1, index)
            self._close(start, index - 1)
            self._start_from(index)
            return
        step = estimate_face_motion(previous, frame, self._box)
        if step is None:
            self._lost_at(start, index)
            return
        followed = self._motion(index - 1).then(step) if index - 1 != start else step
        self._set_motion(index, start, followed)
        self._box = step.apply(self._box)
        if not self.detected[index] and self._moved_too_much(start, followed):
            self.detect(index)
        if self.detected[index]:
            self._close(start, index)
            self._start_from(index)

    def _moved_too_much(self, start: int, followed: Motion) -> bool:
        origin = self.boxes[start].astype(np.float64)
        moved = followed.apply(origin) - origin
        centre_shift = max(abs(moved[0] + moved[1]), abs(moved[2] + moved[3])) / 2
        return abs(followed.scale - 1.0) > REDETECT_SCALE or centre_shift > REDETECT_SHIFT * box_size(origin)

    def _lost_at(self, start: int, index: int) -> None:
        """The flow lost the face on ``index``: detect it; when the detection is close to where the face was
        on the frame before, the face is taken to have stood still for that frame; otherwise the frame before
        is detected too, so the followed frames end at a detection."""
        self.detect(index)
        if self.found[index] and disagreement(self.boxes[index], self._box) <= REFINE_DISAGREEMENT:
            self._set_motion(index, start, self._motion(index - 1) if index - 1 != start else IDENTITY)
            self._close(start, index)
        else:
            self.detect(index - 1)
            self._close(start, index - 1)
        self._start_from(index)

    def _close(self, start: int, stop: int) -> None:
        """Frames start..stop are followed from ``start`` and both ends are detected: where the end disagrees
        with where the face was followed to, detect halfway, and again in each half that still disagrees."""
        pending = [(start, stop)]
        while pending:
            first, last = pending.pop()
            if last - first < 2 or not (self.found[first] and self.found[last]) or self.anchor[last] != first:
                continue
            predicted = self._motion(last).apply(self.boxes[first].astype(np.float64))
            if disagreement(self.boxes[last], predicted) <= REFINE_DISAGREEMENT:
                continue
            middle = (first + last) // 2
            self.detect(middle)
            if not self.found[middle]:          # no face halfway: the caller detects every frame around it
                continue
            to_middle = self._motion(middle).inverse()
            for index in range(middle + 1, last + 1):      # re-anchor the second half at the new detection
                self._set_motion(index, middle, to_middle.then(self._motion(index)))
            pending += [(first, middle), (middle, last)]

    def followed_boxes(self) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) int64 and found (N,) for the frames between detections that were followed from one
        detection with a face to the next: the followed box plus the later detection's difference, spread
        linearly (rounded to pixels). Other rows are returned as the caller's arrays have them."""
        boxes, found = self.boxes.copy(), self.found.copy()
        keys = np.flatnonzero(self.detected)
        for first, last in zip(keys[:-1], keys[1:]):
            followed_from_first = (self.anchor[first + 1:last + 1] == first).all()
            if last - first < 2 or not (found[first] and found[last]) or not followed_from_first:
                continue
            origin = self.boxes[first].astype(np.float64)
            residual = self.boxes[last] - self._motion(last).apply(origin)
            for index in range(first + 1, last):
                weight = (index - first) / (last - first)
                boxes[index] = np.rint(self._motion(index).apply(origin) + weight * residual).astype(np.int64)
                found[index] = True
        return boxes, found


def unsure_ranges(keyframes: np.ndarray, found: np.ndarray) -> list[np.ndarray]:
    """The frames strictly between consecutive detected ``keyframes`` where one end (or both) has no face: a face
    that leaves or enters between them is found there by detecting frame by frame."""
    return [np.arange(a + 1, b) for a, b in zip(keyframes[:-1], keyframes[1:])
            if b - a > 1 and not (found[a] and found[b])]


def detect_and_follow(frames: Sequence[np.ndarray], boxes: np.ndarray, found: np.ndarray, detected: np.ndarray,
                      detect: Callable[[np.ndarray], None], detect_every: int, keyframes_per_call: int = 1,
                      progress: Callable[[int, int], None] | None = None) -> KeyframeWalk:
    """Detect on every ``detect_every``-th frame (and the last), up to ``keyframes_per_call`` of them per detector
    call, and follow the face in between (see the module text). ``detect`` fills ``boxes``/``found``/
    ``detected`` for the frames it is given; the walk's ``followed_boxes()`` then gives every frame's box."""
    count = len(found)
    walk = KeyframeWalk(frames, boxes, found, detected, detect)
    walk_in_one_pass(frames, [walk], np.unique(np.r_[np.arange(0, count, int(detect_every)), count - 1]),
                     int(detect_every), keyframes_per_call, progress=progress)
    return walk


def walk_in_one_pass(frames: Sequence[np.ndarray], walks: Sequence[KeyframeWalk], scheduled: np.ndarray,
                     detect_every: int, keyframes_per_call: int = 1, *, follow: bool = True,
                     progress: Callable[[int, int], None] | None = None,
                     after_block: Callable[[int], None] | None = None) -> None:
    """One walk through the clip for any number of faces: each walk detects on the ``scheduled`` frames (sorted,
    the last frame among them; at most ``detect_every`` apart), up to ``keyframes_per_call`` of them per detector call, and with ``follow`` steps
    through every frame in between; ``after_block(position)`` runs when every frame before ``position`` has been
    visited by every walk, so what it reads is still in the clip's window.

    Key frames detected ahead are decoded before the walks go back over the frames up to them, which a lazily
    decoded clip (``frames.window``: how many recent frames it keeps) must still hold: a call spans at most
    that many frames, and a key frame further away than that is detected when the walk reaches it, so each
    frame is decoded once, however many walks there are.
    """
    count = len(frames)
    window = getattr(frames, "window", None)
    per_call = max(1, int(keyframes_per_call))
    if window:
        per_call = max(1, min(per_call, int(window) // int(detect_every)))
    position = 0
    for start in range(0, len(scheduled), per_call):
        block = [int(i) for i in scheduled[start:start + per_call]]
        if not window or block[-1] - position < int(window):
            for walk in walks:
                walk.detect(*block)
        in_block = set(block)
        for index in range(position, block[-1] + 1) if follow else block:
            for walk in walks:
                if index in in_block:
                    walk.detect(index)          # reached (a no-op when it was detected ahead)
                if follow:
                    walk.step(index)
        position = block[-1] + 1
        if after_block is not None:
            after_block(position)
        if progress is not None:
            progress(position, count)
