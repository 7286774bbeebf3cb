"""Putting a generated 96x96 face back into its frame.

- ``original``: the original's hard paste, bit for bit: value * 255 truncated to uint8, resized as uint8 to the
  box (INTER_LINEAR), and the whole box replaced. Parity mode.
- ``feather`` (default): the generated face is resized in float (bicubic) and blended with a soft mask that
  covers the lower face (mouth, chin, cheeks) and fades out before the box edges and above the nose, so no
  box seam is visible and the eyes stay the original's.
Frames are uint8 RGB (H, W, 3); generated faces float32 RGB 0..1 (96, 96, 3).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .faces import Box

BLEND_MODES = ("feather", "original")


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@lru_cache(maxsize=64)
def feather_mask(height: int, width: int) -> np.ndarray:
    """(height, width, 1) float32 0..1 weight of the generated face inside a box of that size.

    1 over the lower face; fades in from 45% to 62% of the box height (below the nose), and fades out over
    the last 12% of the box width and height at the sides and the bottom.
    """
    edge = max(2.0, 0.12 * min(height, width))
    rows = np.arange(height, dtype=np.float32) + 0.5
    cols = np.arange(width, dtype=np.float32) + 0.5
    vertical = _smoothstep((rows - 0.45 * height) / (0.17 * height)) * _smoothstep((height - rows) / edge)
    horizontal = _smoothstep(cols / edge) * _smoothstep((width - cols) / edge)
    mask = (vertical[:, None] * horizontal[None, :]).astype(np.float32)
    mask.setflags(write=False)
    return mask[:, :, None]


def _box_size(box: Box) -> tuple[int, int]:
    y1, y2, x1, x2 = box
    return int(y2) - int(y1), int(x2) - int(x1)


def paste_original(frame: np.ndarray, generated_rgb: np.ndarray, box: Box) -> None:
    """Hard paste exactly as the original inference.py, in place into ``frame``."""
    y1, y2, x1, x2 = (int(v) for v in box)
    face_uint8 = (generated_rgb * 255.0).astype(np.uint8)            # truncation, as the original
    frame[y1:y2, x1:x2] = cv2.resize(face_uint8, (x2 - x1, y2 - y1))


def paste_feathered(frame: np.ndarray, generated_rgb: np.ndarray, box: Box) -> None:
    """Blend the generated lower face into ``frame`` in place with a soft mask (see ``feather_mask``)."""
    y1, y2, x1, x2 = (int(v) for v in box)
    height, width = y2 - y1, x2 - x1
    face = cv2.resize(generated_rgb, (width, height), interpolation=cv2.INTER_CUBIC) * 255.0
    region = frame[y1:y2, x1:x2].astype(np.float32)
    blended = region + (face - region) * feather_mask(height, width)
    frame[y1:y2, x1:x2] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def paste_face(frame: np.ndarray, generated_rgb: np.ndarray, box: Box, mode: str = "feather") -> None:
    """Paste one generated face (float32 RGB 0..1, 96x96) into ``frame`` (uint8 RGB) in place."""
    if mode == "original":
        paste_original(frame, generated_rgb, box)
    elif mode == "feather":
        paste_feathered(frame, generated_rgb, box)
    else:
        raise ValueError(f"blend must be one of {BLEND_MODES}, not {mode!r}")


def changed_region_mask(frame_height: int, frame_width: int, box: Box, mode: str = "feather") -> np.ndarray:
    """(H, W) float32 0..1: how much of each pixel comes from the generated face."""
    mask = np.zeros((frame_height, frame_width), dtype=np.float32)
    y1, y2, x1, x2 = (int(v) for v in box)
    if mode == "original":
        mask[y1:y2, x1:x2] = 1.0
    else:
        mask[y1:y2, x1:x2] = feather_mask(y2 - y1, x2 - x1)[:, :, 0]
    return mask
