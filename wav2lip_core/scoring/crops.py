"""Face crops for lip-sync scoring: the reference pipeline's crop geometry, and the plain fixed-box crop.

Frames are uint8 RGB (H, W, 3) 0..255; boxes are (y1, y2, x1, x2) int pixels of the full frame (this pack's
``--box`` order, crop = ``frame[y1:y2, x1:x2]``), one row per frame. Crops come out uint8 RGB (size, size, 3).

Reference geometry (``crop_video`` of joonson/syncnet_python's run_pipeline.py, re-derived, no code copied)
----------------------------------------------------------------------------------------------------------
For each frame's face box: half-size ``s = max(height, width) / 2``, centre ``(cy, cx)``. Each of the three
sequences is median-filtered over 13 frames (zero-padded at both ends, as the reference's scipy ``medfilt``).
The crop is a square of side ``2 s (1 + cs)`` with ``cs = 0.4``: from ``s`` above the centre to
``s (1 + 2 cs)`` below it (the face sits high, so mouth and chin are inside), ``s (1 + cs)`` either side,
cut from the frame padded by ``int(s (1 + 2 cs))`` pixels of grey 110, then resized to 224x224 (bilinear).
Integer truncation follows the reference's float expressions exactly. Two documented differences: the
reference writes the crops to an XVID AVI and decodes them again (lossy), we hand them over directly; and a
window whose start would be negative (a box centre far outside the frame) starts at 0 here instead of
wrapping around as numpy slicing does there.

Boxes should be the detector's raw boxes (``detect_face_boxes(..., pads=(0, 0, 0, 0), smoothing="none")``):
the median filter is this geometry's smoothing. The reference pipeline keeps only face tracks longer than
100 frames; a track needs at least ``MIN_REFERENCE_TRACK_FRAMES`` here, because with fewer the zero padding
of the 13-frame median filter wins every median and the box collapses to nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from ..compositing.faces import crop_face
from ..detection import DEFAULT_DETECTION, FaceTrack
from ..models.syncnet_v2 import LIP_CROP_SIZE
from ..pipeline import check_boxes_fit
from .median_filter import zero_padded_median_filter

CROP_SIZE = LIP_CROP_SIZE          # SyncNet v2's input size
REFERENCE_CROP_SCALE = 0.40         # ``cs``: how much context around the face box
REFERENCE_SMOOTHING_FRAMES = 13     # median filter length over the box centre and size
REFERENCE_PAD_VALUE = 110           # grey used where the crop leaves the frame (same in every channel)
MIN_REFERENCE_TRACK_FRAMES = REFERENCE_SMOOTHING_FRAMES // 2 + 1   # 7
GEOMETRIES = ("reference", "box")
# Faces are detected as raw boxes for scoring: the reference geometry pads and smooths them itself, and a frame
# without a face is left to the nearest box later.
SCORING_DETECTION = DEFAULT_DETECTION.with_changes(pads=(0, 0, 0, 0), smoothing="none", on_missing="skip")

Box = tuple[int, int, int, int]     # (y1, y2, x1, x2) full-frame pixels


@dataclass(frozen=True)
class ReferenceCropTrack:
    """Per-frame crop parameters (float64 (N,) each), already median-filtered: box centre and half-size."""
    centre_y: np.ndarray
    centre_x: np.ndarray
    half_size: np.ndarray

    def __len__(self) -> int:
        return len(self.half_size)


def _as_box_rows(boxes: np.ndarray | Sequence[Box]) -> np.ndarray:
    rows = np.asarray(boxes, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) rows of (y1, y2, x1, x2), got shape {rows.shape}")
    if np.any(rows[:, 1] <= rows[:, 0]) or np.any(rows[:, 3] <= rows[:, 2]):
        first = int(np.argmax((rows[:, 1] <= rows[:, 0]) | (rows[:, 3] <= rows[:, 2])))
        raise ValueError(f"face box {tuple(rows[first])} of frame {first} is empty (need y1 < y2 and x1 < x2)")
    return rows


def reference_crop_track(boxes: np.ndarray | Sequence[Box]) -> ReferenceCropTrack:
    """(N, 4) (y1, y2, x1, x2) face boxes -> the reference pipeline's smoothed crop centres and half-sizes."""
    rows = _as_box_rows(boxes)
    if len(rows) < MIN_REFERENCE_TRACK_FRAMES:
        raise ValueError(f"the reference crop geometry needs a face track of at least {MIN_REFERENCE_TRACK_FRAMES} "
                         f"frames (its 13-frame median filter is zero-padded), got {len(rows)}; use the fixed-box crop")
    y1, y2, x1, x2 = rows.T
    half_size = np.maximum(y2 - y1, x2 - x1) / 2
    smooth = lambda values: zero_padded_median_filter(values, REFERENCE_SMOOTHING_FRAMES)  # noqa: E731
    return ReferenceCropTrack(centre_y=smooth((y1 + y2) / 2), centre_x=smooth((x1 + x2) / 2),
                              half_size=smooth(half_size))


def _cut_with_fill(frame: np.ndarray, top: int, bottom: int, left: int, right: int, fill: int) -> np.ndarray:
    """frame[top:bottom, left:right] where rows/columns outside the frame read as ``fill`` (frame coordinates,
    may be negative or beyond the edges)."""
    height, width = frame.shape[:2]
    cut = np.full((max(0, bottom - top), max(0, right - left), frame.shape[2]), fill, dtype=frame.dtype)
    inside_top, inside_bottom = max(top, 0), min(bottom, height)
    inside_left, inside_right = max(left, 0), min(right, width)
    if inside_bottom > inside_top and inside_right > inside_left:
        cut[inside_top - top:inside_bottom - top, inside_left - left:inside_right - left] = \
            frame[inside_top:inside_bottom, inside_left:inside_right]
    return cut


def crop_reference(frame_rgb: np.ndarray, centre_y: float, centre_x: float, half_size: float,
                   crop_scale: float = REFERENCE_CROP_SCALE, size: int = CROP_SIZE) -> np.ndarray:
    """One frame's reference-geometry crop (see module docstring) -> uint8 RGB (size, size, 3)."""
    if half_size <= 0:
        raise ValueError(f"face half-size must be positive, got {half_size}")
    pad = int(half_size * (1 + 2 * crop_scale))
    padded_height, padded_width = frame_rgb.shape[0] + 2 * pad, frame_rgb.shape[1] + 2 * pad
    centre_y_padded, centre_x_padded = centre_y + pad, centre_x + pad
    # Window in the padded frame's coordinates, truncated exactly as the reference's int() calls do, then
    # clipped to the padded frame as numpy slicing clips it.
    top = min(max(int(centre_y_padded - half_size), 0), padded_height)
    bottom = min(max(int(centre_y_padded + half_size * (1 + 2 * crop_scale)), top), padded_height)
    left = min(max(int(centre_x_padded - half_size * (1 + crop_scale)), 0), padded_width)
    right = min(max(int(centre_x_padded + half_size * (1 + crop_scale)), left), padded_width)
    if bottom == top or right == left:
        raise ValueError(f"the crop window around centre ({centre_y}, {centre_x}) is empty")
    face = _cut_with_fill(frame_rgb, top - pad, bottom - pad, left - pad, right - pad, REFERENCE_PAD_VALUE)
    return cv2.resize(face, (size, size))


def crop_box(frame_rgb: np.ndarray, box: Box, size: int = CROP_SIZE) -> np.ndarray:
    """``frame[y1:y2, x1:x2]`` resized to (size, size) (bilinear), uint8 RGB; the fixed ``--box`` crop.
    A box (0, 224, 0, 224) on a 224x224 frame returns the frame itself. A box that is empty or reaches outside
    the frame is refused (ValueError), as the lip-sync job refuses it, never silently cut to the frame."""
    row = np.asarray([box], dtype=np.int64).reshape(1, 4)
    check_boxes_fit(FaceTrack(row, np.ones(1, dtype=bool)), frame_rgb.shape[0], frame_rgb.shape[1])
    return crop_face(frame_rgb, tuple(int(v) for v in row[0]), size)


def iter_face_crops(frames: Iterable[np.ndarray], boxes: np.ndarray | Sequence[Box], geometry: str = "reference",
                    size: int = CROP_SIZE) -> Iterator[np.ndarray]:
    """Crop each frame as it arrives (frames are never held): uint8 RGB (size, size, 3) per frame.

    frames: uint8 RGB (H, W, 3) frames (an array, a list, a VideoFrames or any iterator).
    boxes: (N, 4) (y1, y2, x1, x2), one per frame (or one row: the same box on every frame, only for "box").
    geometry: "reference" (the reference pipeline's smoothed, padded square) or "box" (the box as it is).
    Frames beyond the last box row are not read.
    """
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {GEOMETRIES}, not {geometry!r}")
    rows = _as_box_rows(boxes)
    if geometry == "reference":
        track = reference_crop_track(rows)
        for index, frame in zip(range(len(track)), frames):
            yield crop_reference(frame, track.centre_y[index], track.centre_x[index], track.half_size[index],
                                 size=size)
        return
    if len(rows) == 1:
        fixed_box = tuple(int(v) for v in rows[0])
        for frame in frames:
            yield crop_box(frame, fixed_box, size)
        return
    for row, frame in zip(rows, frames):
        yield crop_box(frame, tuple(int(v) for v in row), size)
