"""Types shared by the face detectors and the tracker.

Conventions (everywhere in this package):
* a frame is a uint8 RGB array (H, W, 3), values 0..255; a clip is (N, H, W, 3) NHWC or a sequence of frames;
* a detection is a float row (x1, y1, x2, y2, score) in the pixel coordinates of the image it was found in
  (x2/y2 exclusive, like the original's S3FD boxes);
* a face box handed to the rest of the engine is (y1, y2, x1, x2) int64 in full-resolution pixels, the
  original Wav2Lip's ``--box`` order, and the crop is ``frame[y1:y2, x1:x2]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


class FaceDetectionError(RuntimeError):
    """Detection could not run (missing weights, missing package, out of memory at batch size 1)."""


class FaceNotDetectedError(ValueError):
    """A frame has no face and the missing-face policy is ``"error"``; ``frame_index`` says which frame."""

    def __init__(self, message: str, frame_index: int):
        super().__init__(message)
        self.frame_index = frame_index


@dataclass
class FaceTrack:
    """One face box per frame.

    boxes: (N, 4) int64 (y1, y2, x1, x2) in full-resolution pixels, pads applied, clamped to the frame;
           a row is only meaningful where ``found`` is True (other rows are 0).
    found: (N,) bool; False = no face for that frame (the frame must pass through unchanged).
    faces_seen: the most faces the detector found in one frame (0: none, or no detection ran); says why a
           ``face_index`` found nothing.
    """
    boxes: np.ndarray
    found: np.ndarray
    faces_seen: int = 0

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.int64).reshape(-1, 4)
        self.found = np.asarray(self.found, dtype=bool).reshape(-1)
        if len(self.boxes) != len(self.found):
            raise ValueError(f"FaceTrack: {len(self.boxes)} boxes but {len(self.found)} found flags")

    def __len__(self) -> int:
        return len(self.found)


@runtime_checkable
class FaceDetector(Protocol):
    """What the tracker needs from a detector.

    ``detect(batch)`` takes a list (or NHWC array) of uint8 RGB frames, 0..255, and returns one float array
    of shape (K, 5) per frame: (x1, y1, x2, y2, score) in that frame's pixel coordinates, K >= 0.
    """
    name: str
    upscales_small_frames: bool   # True: the tracker may enlarge small frames up to detect_size (HOG needs it)
    default_detect_size: int | None

    def detect(self, batch: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]: ...


def empty_detections() -> np.ndarray:
    """A (0, 5) float32 array: no face."""
    return np.zeros((0, 5), dtype=np.float32)


def as_rgb_uint8_frame(frame: np.ndarray, index: int | None = None) -> np.ndarray:
    """Check one frame is uint8 (H, W, 3) RGB and return it C-contiguous."""
    frame = np.asarray(frame)
    where = f"frame {index}" if index is not None else "frame"
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"{where}: expected an (H, W, 3) RGB image, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"{where}: expected uint8 values 0..255, got {frame.dtype}")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"{where}: empty image {frame.shape}")
    return np.ascontiguousarray(frame)
