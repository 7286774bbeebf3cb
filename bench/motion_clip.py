"""A benchmark clip with real camera motion and a known face position on every frame.

skimage's astronaut (512x512 RGB) is filmed by a virtual hand-held camera: shot 1 dollies in on her face while
panning, bobbing and turning a little; then a hard cut to shot 2, a mirrored, tighter framing that pans the
other way. Every frame is ``cv2.warpAffine(astronaut, M_i)`` with a known 2x3 matrix ``M_i`` (source pixels ->
frame pixels), so where the face is on each frame is known exactly, not only where a detector puts it.

Frames are uint8 RGB (H, W, 3); boxes are (y1, y2, x1, x2) float64 in frame pixels.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# The face in astronaut() pixels, hairline to below the chin (the area S3FD-style boxes cover):
# (y1, y2, x1, x2); the same region as bench/common.py face_box (its crop starts at x = 60).
SOURCE_FACE_BOX = (70.0, 205.0, 165.0, 285.0)
SOURCE_SIZE = 512
CUT_AT = 0.6            # the cut, as a fraction of the clip's frames


def camera_matrix(index: int, num_frames: int, height: int, width: int) -> np.ndarray:
    """The 2x3 affine map astronaut pixels -> frame pixels of frame ``index``."""
    cut = int(round(CUT_AT * num_frames))
    face_y = (SOURCE_FACE_BOX[0] + SOURCE_FACE_BOX[1]) / 2
    face_x = (SOURCE_FACE_BOX[2] + SOURCE_FACE_BOX[3]) / 2
    base = height / 400.0                         # the face fills about a third of the frame height
    shake_x = 3.0 * math.sin(index * 1.7) + 2.0 * math.sin(index * 0.43)
    shake_y = 2.5 * math.sin(index * 1.3 + 1.0) + 1.5 * math.sin(index * 0.61)
    if index < cut:                               # shot 1: dolly in (x1.3), pan right, bob, turn +-2 degrees
        t = index / max(1, cut - 1)
        zoom = base * (1.0 + 0.3 * t)
        centre_x = width * (0.35 + 0.25 * t) + shake_x
        centre_y = height * 0.45 + 18.0 * math.sin(2 * math.pi * t) + shake_y
        angle = math.radians(2.0 * math.sin(2 * math.pi * 0.8 * t))
        mirror = 1.0
    else:                                         # shot 2: mirrored, tighter, panning left, drifting down
        t = (index - cut) / max(1, num_frames - cut - 1)
        zoom = base * 1.15
        centre_x = width * (0.7 - 0.2 * t) + shake_x
        centre_y = height * (0.42 + 0.06 * t) + shake_y
        angle = math.radians(-1.5 * t)
        mirror = -1.0
    cos, sin = zoom * math.cos(angle), zoom * math.sin(angle)
    linear = np.array([[cos * mirror, -sin], [sin * mirror, cos]])
    offset = np.array([centre_x, centre_y]) - linear @ np.array([face_x, face_y])
    return np.hstack([linear, offset[:, None]])


def true_face_boxes(num_frames: int, height: int, width: int,
                    source_box: tuple[float, float, float, float] = SOURCE_FACE_BOX) -> np.ndarray:
    """(N, 4) float64 (y1, y2, x1, x2): ``source_box`` (astronaut pixels) as each frame shows it (the bounding
    box of its four mapped corners)."""
    y1, y2, x1, x2 = source_box
    corners = np.array([[x1, y1, 1], [x2, y1, 1], [x1, y2, 1], [x2, y2, 1]], np.float64)
    boxes = []
    for index in range(num_frames):
        mapped = corners @ camera_matrix(index, num_frames, height, width).T
        boxes.append([mapped[:, 1].min(), mapped[:, 1].max(), mapped[:, 0].min(), mapped[:, 0].max()])
    return np.array(boxes)


def shot_starts(num_frames: int) -> list[int]:
    """First frame of each shot."""
    return [0, int(round(CUT_AT * num_frames))]


def moving_astronaut_frames(height: int, width: int, num_frames: int, timeline: int | None = None) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB frames of the moving camera (edges reflected where the camera sees past the
    image): the first ``num_frames`` of a camera move lasting ``timeline`` frames (default: all of it)."""
    import cv2
    from skimage.data import astronaut

    timeline = num_frames if timeline is None else timeline
    source = np.ascontiguousarray(astronaut())
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for index in range(num_frames):
        frames[index] = cv2.warpAffine(source, camera_matrix(index, timeline, height, width), (width, height),
                                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return frames


def map_box_to_source(box: np.ndarray, index: int, num_frames: int, height: int, width: int) -> np.ndarray:
    """A frame box (y1, y2, x1, x2) back in astronaut pixels (the bounding box of its mapped corners)."""
    matrix = camera_matrix(index, num_frames, height, width)
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    y1, y2, x1, x2 = box
    corners = np.array([[x1, y1, 1], [x2, y1, 1], [x1, y2, 1], [x2, y2, 1]], np.float64) @ inverse.T
    return np.array([corners[:, 1].min(), corners[:, 1].max(), corners[:, 0].min(), corners[:, 0].max()])


def make_motion_clip(folder: Path, height: int, width: int, num_frames: int, fps: int = 25,
                     timeline: int | None = None) -> Path:
    """The clip (see moving_astronaut_frames) as H.264 mp4 (CRF 18) in ``folder`` (made once, reused)."""
    from common import write_h264

    timeline = num_frames if timeline is None else timeline
    path = Path(folder) / f"moving_astronaut_{width}x{height}_{num_frames}of{timeline}f_{fps}fps.mp4"
    if not path.is_file():
        write_h264(moving_astronaut_frames(height, width, num_frames, timeline), path, fps)
    return path
