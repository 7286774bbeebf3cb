"""Following a face from one frame to the next without the detector: sparse optical flow inside the box,
and shot changes from colour histograms.

Frames are uint8 RGB (H, W, 3) 0..255. Boxes here are float (y1, y2, x1, x2) in full-resolution pixels.
A ``Motion`` maps full-resolution pixels of one frame to the next as x' = scale * x + shift_x,
y' = scale * y + shift_y (a face box stays axis-aligned, so rotation is left out).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The face's longer side in the grey copy the flow is computed on (up to twice this): enough corners for a
# sub-pixel estimate, and the cost no longer grows with the frame size.
TRACK_FACE_PIXELS = 128
ROI_MARGIN = 0.5             # the flow looks this many box sizes around the box (the largest per-frame motion)
INNER_BOX = 0.8              # corners are taken in the central part of the box (its edges are background)
MAX_CORNERS = 60
MIN_POINTS = 10              # fewer corners that survive the forward-backward check: the face is lost
MAX_ROUND_TRIP_PX = 1.0      # forward-then-backward flow must come back within this (grey-copy pixels)
MIN_INLIER_SHARE = 0.6       # share of surviving corners that must agree on one motion
LK_PARAMETERS = dict(winSize=(15, 15), maxLevel=3,
                     criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))

HISTOGRAM_STEP = 8           # every 8th pixel of every 8th row: plenty for a colour histogram
HISTOGRAM_BINS = 16
SHOT_CHANGE_DISTANCE = 0.3   # Bhattacharyya distance between consecutive frames' histograms that means a cut


@dataclass(frozen=True)
class Motion:
    """x' = scale * x + shift_x, y' = scale * y + shift_y, in full-resolution pixels."""
    scale: float = 1.0
    shift_x: float = 0.0
    shift_y: float = 0.0

    def then(self, later: "Motion") -> "Motion":
        """This motion followed by ``later``."""
        return Motion(later.scale * self.scale, later.scale * self.shift_x + later.shift_x,
                      later.scale * self.shift_y + later.shift_y)

    def inverse(self) -> "Motion":
        return Motion(1.0 / self.scale, -self.shift_x / self.scale, -self.shift_y / self.scale)

    def apply(self, box: np.ndarray) -> np.ndarray:
        """A float (y1, y2, x1, x2) box moved."""
        y1, y2, x1, x2 = np.asarray(box, np.float64)
        return np.array([self.scale * y1 + self.shift_y, self.scale * y2 + self.shift_y,
                         self.scale * x1 + self.shift_x, self.scale * x2 + self.shift_x])


IDENTITY = Motion()


def box_size(box: np.ndarray) -> float:
    """The longer side of a (y1, y2, x1, x2) box, at least one pixel."""
    return max(1.0, float(box[1] - box[0]), float(box[3] - box[2]))


def colour_histogram(frame: np.ndarray) -> np.ndarray:
    """A normalised float32 histogram of a subsampled uint8 RGB frame (per channel, concatenated)."""
    sample = np.ascontiguousarray(frame[::HISTOGRAM_STEP, ::HISTOGRAM_STEP])
    histogram = np.concatenate([cv2.calcHist([sample], [channel], None, [HISTOGRAM_BINS], [0, 256]).ravel()
                                for channel in range(3)]).astype(np.float32)
    return histogram / max(1.0, float(histogram.sum()))


def is_shot_change(previous_histogram: np.ndarray, histogram: np.ndarray) -> bool:
    return cv2.compareHist(previous_histogram, histogram, cv2.HISTCMP_BHATTACHARYYA) > SHOT_CHANGE_DISTANCE


def _grey_region(frame: np.ndarray, top: int, left: int, height: int, width: int, factor: int) -> np.ndarray:
    """uint8 grey copy of frame[top:top + height, left:left + width] shrunk ``factor`` times (sizes are
    multiples of it: whole-number area averaging is several times faster than any other ratio)."""
    region = frame[top:top + height, left:left + width]
    if factor > 1:
        region = cv2.resize(region, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2GRAY)


def estimate_face_motion(previous: np.ndarray, current: np.ndarray, box: np.ndarray) -> Motion | None:
    """How the face in ``box`` (float (y1, y2, x1, x2) on ``previous``) moved to ``current``; None when it
    cannot be followed (too few corners survive the forward-backward check, or they disagree).

    Pyramidal Lucas-Kanade flow of Shi-Tomasi corners inside the box, on a grey copy of the region around it
    shrunk a whole number of times (the face's longer side becomes TRACK_FACE_PIXELS to twice that); a RANSAC
    fit of scale + rotation + shift to the corners that came back to where they started.
    """
    frame_height, frame_width = previous.shape[:2]
    size = box_size(box)
    margin = ROI_MARGIN * size
    factor = max(1, int(size // TRACK_FACE_PIXELS))
    top, left = int(max(0, box[0] - margin)), int(max(0, box[2] - margin))
    height = (int(min(frame_height, box[1] + margin)) - top) // factor * factor
    width = (int(min(frame_width, box[3] + margin)) - left) // factor * factor
    if height < 8 * factor or width < 8 * factor:
        return None
    scale = 1.0 / factor
    before = _grey_region(previous, top, left, height, width, factor)
    after = _grey_region(current, top, left, height, width, factor)

    mask = np.zeros_like(before)
    inset_y = (1 - INNER_BOX) / 2 * (box[1] - box[0])
    inset_x = (1 - INNER_BOX) / 2 * (box[3] - box[2])
    mask_top, mask_bottom = (box[0] + inset_y - top) * scale, (box[1] - inset_y - top) * scale
    mask_left, mask_right = (box[2] + inset_x - left) * scale, (box[3] - inset_x - left) * scale
    mask[max(0, int(mask_top)):max(0, int(np.ceil(mask_bottom))),
         max(0, int(mask_left)):max(0, int(np.ceil(mask_right)))] = 255
    corners = cv2.goodFeaturesToTrack(before, maxCorners=MAX_CORNERS, qualityLevel=0.01, minDistance=3, mask=mask)
    if corners is None or len(corners) < MIN_POINTS:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(before, after, corners, None, **LK_PARAMETERS)
    returned, status_back, _ = cv2.calcOpticalFlowPyrLK(after, before, moved, None, **LK_PARAMETERS)
    round_trip = np.linalg.norm((returned - corners).reshape(-1, 2), axis=1)
    good = (status.ravel() == 1) & (status_back.ravel() == 1) & (round_trip < MAX_ROUND_TRIP_PX)
    if good.sum() < MIN_POINTS:
        return None
    origin = np.array([left, top], np.float32) + (factor - 1) / 2      # a shrunk pixel's centre
    start = corners.reshape(-1, 2)[good] / scale + origin
    end = moved.reshape(-1, 2)[good] / scale + origin
    matrix, inliers = cv2.estimateAffinePartial2D(start, end, method=cv2.RANSAC,
                                                  ransacReprojThreshold=1.5 / scale)
    if matrix is None or inliers is None or inliers.sum() < max(MIN_POINTS, MIN_INLIER_SHARE * good.sum()):
        return None
    motion_scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    # The box's centre moves as the fitted motion moves it; its size scales with the motion's scale.
    centre = np.array([(box[2] + box[3]) / 2, (box[0] + box[1]) / 2])
    new_centre = matrix[:, :2] @ centre + matrix[:, 2]
    return Motion(motion_scale, float(new_centre[0] - motion_scale * centre[0]),
                  float(new_centre[1] - motion_scale * centre[1]))
