"""Face-box arithmetic: picking a face, mapping back to full resolution, pads, clamping, interpolation,
the missing-face policies and temporal smoothing.

Boxes here are (y1, y2, x1, x2) in full-resolution pixels (the original's ``--box`` order, crop =
``frame[y1:y2, x1:x2]``), one row per frame, with a ``found`` flag per frame; detections are
(x1, y1, x2, y2, score) rows in the pixels of the image the detector saw.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .common import FaceNotDetectedError
from .options import MISSING_FACE_POLICIES, SMOOTHING_MODES


def select_face(detections: np.ndarray, face_index: int | None = None) -> np.ndarray | None:
    """One (x1, y1, x2, y2) row of a (K, 5) detection array, or None.

    face_index None: the largest face (by area); k >= 0: the k-th face counted from the left (by centre x);
    None is returned when there are fewer than k + 1 faces.
    """
    if len(detections) == 0:
        return None
    if face_index is None:
        areas = (detections[:, 2] - detections[:, 0]) * (detections[:, 3] - detections[:, 1])
        return detections[int(np.argmax(areas)), :4]
    if face_index < 0:
        raise ValueError(f"face_index must be None (largest face) or >= 0, not {face_index}")
    if face_index >= len(detections):
        return None
    left_to_right = np.argsort((detections[:, 0] + detections[:, 2]) / 2, kind="stable")
    return detections[left_to_right[face_index], :4]


def detection_to_box(xyxy: np.ndarray, scale_x: float = 1.0, scale_y: float = 1.0) -> np.ndarray:
    """(x1, y1, x2, y2) seen at a scaled copy -> (y1, y2, x1, x2) int64 at full resolution.

    ``scale_x``/``scale_y`` = full-resolution size / detection-copy size. Like the original: negative
    coordinates clipped to 0, then int() truncation.
    """
    x1, y1, x2, y2 = np.maximum(np.asarray(xyxy, dtype=np.float64) * (scale_x, scale_y, scale_x, scale_y), 0.0)
    return np.array([int(y1), int(y2), int(x1), int(x2)], dtype=np.int64)


def clip_to_frame(box: np.ndarray, height: int, width: int) -> np.ndarray | None:
    """A (y1, y2, x1, x2) box cut to the ``width`` x ``height`` frame; None when nothing of it is inside (a
    detector may report a face reaching past the frame edge, or wholly outside it)."""
    y1, y2, x1, x2 = (int(v) for v in box)
    y1, y2, x1, x2 = max(0, y1), min(int(height), y2), max(0, x1), min(int(width), x2)
    if y2 <= y1 or x2 <= x1:
        return None
    return np.array([y1, y2, x1, x2], dtype=np.int64)


def pad_and_clamp(boxes: np.ndarray, pads: Sequence[int], height: int, width: int) -> np.ndarray:
    """Grow (N, 4) (y1, y2, x1, x2) boxes by pads (top, bottom, left, right) pixels, clamped to the frame.

    The original's rule: y1 = max(0, y1 - top), y2 = min(H, y2 + bottom), x1 = max(0, x1 - left),
    x2 = min(W, x2 + right). Additionally y1/x1 are kept below H/W so a crop is never empty.
    """
    top, bottom, left, right = (int(p) for p in pads)
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    y1 = np.clip(boxes[:, 0] - top, 0, height - 1)
    y2 = np.clip(boxes[:, 1] + bottom, y1 + 1, height)
    x1 = np.clip(boxes[:, 2] - left, 0, width - 1)
    x2 = np.clip(boxes[:, 3] + right, x1 + 1, width)
    return np.stack([y1, y2, x1, x2], axis=1).astype(np.int64)


def interpolate_between_keyframes(boxes: np.ndarray, found: np.ndarray,
                                  keyframes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill frames between consecutive detected keyframes by linear interpolation (rounded to int).

    boxes (N, 4), found (N,) bool (only keyframes may be True on entry), keyframes: sorted frame indices
    that were run through the detector. A frame between two keyframes of which one has no face stays
    not found (the missing-face policy decides about it).
    """
    boxes, found = boxes.astype(np.int64).copy(), found.copy()
    for start, stop in zip(keyframes[:-1], keyframes[1:]):
        if stop - start < 2 or not (found[start] and found[stop]):
            continue
        fractions = (np.arange(start + 1, stop) - start)[:, None] / (stop - start)
        between = boxes[start] + fractions * (boxes[stop] - boxes[start])
        boxes[start + 1:stop] = np.rint(between).astype(np.int64)
        found[start + 1:stop] = True
    return boxes, found


def fill_missing_nearest(boxes: np.ndarray, found: np.ndarray,
                         max_gap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Give each frame without a face the box of the nearest frame with one (the earlier one on a tie).

    Frames farther than ``max_gap`` frames from any face stay not found. With no face at all nothing changes.
    """
    boxes, found = boxes.copy(), found.copy()
    known = np.flatnonzero(found)
    missing = np.flatnonzero(~found)
    if len(known) == 0 or len(missing) == 0:
        return boxes, found
    after = np.clip(np.searchsorted(known, missing), 0, len(known) - 1)
    before = np.clip(after - 1, 0, len(known) - 1)
    distance_before = np.abs(missing - known[before])
    distance_after = np.abs(known[after] - missing)
    nearest = np.where(distance_before <= distance_after, known[before], known[after])
    distance = np.minimum(distance_before, distance_after)
    usable = np.ones_like(missing, dtype=bool) if max_gap is None else distance <= max_gap
    boxes[missing[usable]] = boxes[nearest[usable]]
    found[missing[usable]] = True
    return boxes, found


def smooth_centered(boxes: np.ndarray, window: int = 5) -> np.ndarray:
    """Lag-free temporal smoothing of (N, 4) boxes, rounded (not truncated) to int64.

    Inside the clip, frame i is the mean of frames i - r .. i + r, r = (window - 1) // 2 (a centred moving
    average). Within r frames of either end, where a centred window does not fit, the value is a straight
    line fitted to the nearest ``2 r + 1`` frames and read at frame i (in the interior that line gives
    exactly the centred mean). Either way a box moving at constant speed is reproduced exactly (no lag) and
    the first and last frames are smoothed too.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    count = len(boxes)
    span = min(2 * max(0, (int(window) - 1) // 2) + 1, count)
    if span <= 1:
        return np.rint(boxes).astype(np.int64)
    index = np.arange(count)
    start = np.clip(index - span // 2, 0, count - span)
    stop = start + span
    times = index.astype(np.float64)

    def window_sums(values: np.ndarray) -> np.ndarray:
        cumulative = np.concatenate([np.zeros((1,) + values.shape[1:]), np.cumsum(values, axis=0)])
        return cumulative[stop] - cumulative[start]

    sum_t, sum_tt = window_sums(times), window_sums(times ** 2)
    sum_y, sum_ty = window_sums(boxes), window_sums(times[:, None] * boxes)
    slope = (span * sum_ty - sum_t[:, None] * sum_y) / (span * sum_tt - sum_t ** 2)[:, None]
    intercept = (sum_y - slope * sum_t[:, None]) / span
    return np.rint(intercept + slope * times[:, None]).astype(np.int64)


def smooth_original(boxes: np.ndarray, window: int = 5) -> np.ndarray:
    """The original Wav2Lip's smoothing, reproduced exactly for parity (spec 6.6).

    Forward-looking window (box i = mean of boxes i .. i + T - 1), computed in place on int64, so means are
    truncated and the last windows reuse already-smoothed boxes (x1 ramp 0,3,..,21 -> 6,9,12,15,16,17,17,17).
    """
    boxes = np.array(boxes, dtype=np.int64).reshape(-1, 4)
    count = len(boxes)
    for i in range(count):
        window_rows = boxes[count - window:] if i + window > count else boxes[i:i + window]
        boxes[i] = np.mean(window_rows, axis=0)
    return boxes


def found_runs(found: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of consecutive True values."""
    padded = np.concatenate([[False], np.asarray(found, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def smooth_boxes(boxes: np.ndarray, found: np.ndarray, mode: str = "centered", window: int = 5) -> np.ndarray:
    """Smooth each run of consecutive found frames on its own (never across a frame without a face)."""
    if mode not in SMOOTHING_MODES:
        raise ValueError(f"smoothing must be one of {SMOOTHING_MODES}, not {mode!r}")
    boxes = np.asarray(boxes, dtype=np.int64).copy()
    if mode == "none" or window <= 1:
        return boxes
    smoother = smooth_centered if mode == "centered" else smooth_original
    for start, stop in found_runs(found):
        boxes[start:stop] = smoother(boxes[start:stop], window)
    return boxes


def apply_missing_face_policy(boxes: np.ndarray, found: np.ndarray, policy: str,
                              max_gap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``error``: raise naming the first frame without a face; ``skip``: leave such frames not found
    (they pass through unchanged); ``nearest``: borrow the nearest found box (see fill_missing_nearest)."""
    if policy not in MISSING_FACE_POLICIES:
        raise ValueError(f"on_missing must be one of {MISSING_FACE_POLICIES}, not {policy!r}")
    if policy == "error" and not found.all():
        first = int(np.flatnonzero(~found)[0])
        raise FaceNotDetectedError(missing_face_message(first, len(found)), first)
    if policy == "nearest":
        return fill_missing_nearest(boxes, found, max_gap)
    return boxes, found


def face_index_note(face_index: int | None, faces_found: int, option: str = "face_index",
                    in_that_frame: bool = False) -> str:
    """Why no face was chosen: "" unless ``face_index`` (given as ``option``) asks for more faces than the
    ``faces_found`` (the most in one frame of a clip, or those of one frame: ``in_that_frame``); else how many
    there were and which values pick one."""
    if face_index is None or faces_found <= 0 or face_index < faces_found:
        return ""
    found = f"{faces_found} face(s) were found in that frame" if in_that_frame else \
        f"at most {faces_found} face(s) were found in a frame"
    return (f" with {option} {face_index} (face number {face_index + 1} from the left): {found}, so {option} "
            f"0 to {faces_found - 1} picks one (or leave it out for the largest face)")


def missing_face_message(frame_index: int, num_frames: int, face_index: int | None = None,
                         faces_in_frame: int = 0) -> str:
    """The on_missing='error' message for a frame without a face (``faces_in_frame``: the faces that were found
    in it, none of them the ``face_index``-th)."""
    note = face_index_note(face_index, faces_in_frame, in_that_frame=True)
    return (f"Face not detected in frame {frame_index} (of {num_frames}){note}. Use on_missing='nearest' to borrow "
            f"the nearest frame's box, on_missing='skip' to pass frames without a face through unchanged, or give a "
            f"fixed box.")
