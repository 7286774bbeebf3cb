"""Putting a generated face back into its frame: one face, one box, one frame at a time.

Faces are square, float32 RGB 0..1 (S, S, 3) with S >= 96: the generator's own 96x96 output, or the same face
after any image-to-image model (a 4x upscaler gives 384, a face restorer 512). Frames are uint8 RGB (H, W, 3).

Blend modes (``BLEND_MODES``), each a mask over the box (``blend_mask``; 1 = generated, 0 = the frame's own):
- ``feather`` (default): a soft mask over the lower face (mouth, chin, cheeks) that fades out before the box
  edges and above the nose, so no box seam is visible and the eyes stay the original's.
- ``original``: the whole box replaced. With the generator's 96 px faces this is the original inference.py's
  hard paste, bit for bit: value * 255 truncated to uint8, resized as uint8 to the box (INTER_LINEAR). Larger
  faces (which the original never had) are resampled as every other mode does, then pasted whole.
- ``mouth``: a feathered ellipse over the mouth and jaw only (``mouth_mask``), so the nose, the cheeks and
  whatever lies below the chin stay the frame's own pixels.

Resampling into the box (``resample_face``): 96 px faces with INTER_CUBIC in float, as ``feather`` always did;
larger faces with INTER_AREA when the box is smaller than the face on both axes (an average over every source
pixel, where a 4-tap kernel would skip detail and alias restored texture) and INTER_CUBIC otherwise (sharp).

``color_match`` (off by default) moves the resampled face's colours to the frame's before blending: per channel
of YCbCr, mean and standard deviation, measured over the blend's seam (see ``match_colours``).
``strength`` (0..1) scales the mask: 0 leaves the frame untouched, used for the cross-fades of ``keep``.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from ..models.wav2lip import FACE_SIZE
from .faces import Box

BLEND_MODES = ("feather", "original", "mouth")

# The mouth-and-jaw ellipse, in fractions of the box (y down, x right), for boxes in S3FD's convention (the
# default detector, and the crops Wav2Lip was trained on): from the brows or forehead to about the chin, plus
# the 10 px bottom pad, so the nose's base sits near 50 % of the height, the lips around 60-75 %, the chin near
# 95 %. The ellipse spans 47-99 % of the height and 14-86 % of the width, with full weight inside MOUTH_CORE of
# its radius (60-86 % of the height in the middle: both lips and the chin), easing to 0 at its rim.
MOUTH_CENTRE_Y, MOUTH_CENTRE_X = 0.73, 0.5
MOUTH_RADIUS_Y, MOUTH_RADIUS_X = 0.26, 0.36
MOUTH_CORE = 0.5
# The feather mask, in fractions of the box: fades in from FEATHER_FADE_IN_START of the height over
# FEATHER_FADE_IN_LENGTH (below the nose), and out over the last FEATHER_EDGE_SHARE of the shorter side at the
# sides and the bottom (at least FEATHER_MIN_EDGE pixels).
FEATHER_FADE_IN_START, FEATHER_FADE_IN_LENGTH = 0.45, 0.17
FEATHER_EDGE_SHARE, FEATHER_MIN_EDGE = 0.12, 2.0
# Colour matching: the widest change of contrast it makes. A face whose spread differs more from the frame's
# differs in content (an open mouth against a closed one), not in colour, and is left at this limit.
MAX_COLOR_GAIN = 2.0
MIN_COLOR_STD = 1e-6          # a flat face's spread, so the gain stays finite
MIN_SEAM_WEIGHT = 1.0         # less seam than this (a hard mask): statistics over the whole box instead
# Full-range BT.601 RGB -> YCbCr (as JPEG), without the +128 offsets, which cancel in a mean/std transfer.
RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                          [-0.168736, -0.331264, 0.5],
                          [0.5, -0.418688, -0.081312]], dtype=np.float32)
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR.astype(np.float64)).astype(np.float32)


def smoothstep(x):
    """0 below 0, 1 above 1, 3x^2 - 2x^3 between: numpy arrays or torch tensors alike (operators and .clip only,
    so the torch paste evaluates the very same formulas, see paste_torch.py)."""
    x = x.clip(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def feather_edge(height: int, width: int) -> float:
    """Pixels over which the feather mask fades out at the sides and the bottom of a height x width box."""
    return max(FEATHER_MIN_EDGE, FEATHER_EDGE_SHARE * min(height, width))


def feather_profile(rows, cols, height, width, edge):
    """The feather weight at pixel centres ``rows`` x ``cols`` (broadcastable numpy arrays or torch tensors, in
    pixels from the box's top-left corner) of a height x width box whose fade-out is ``edge`` pixels."""
    vertical = smoothstep((rows - FEATHER_FADE_IN_START * height) / (FEATHER_FADE_IN_LENGTH * height)) * \
        smoothstep((height - rows) / edge)
    horizontal = smoothstep(cols / edge) * smoothstep((width - cols) / edge)
    return vertical * horizontal


def mouth_profile(rows, cols, height, width):
    """The mouth-and-jaw weight at pixel centres ``rows`` x ``cols`` (as ``feather_profile``) of a box."""
    dy = (rows / height - MOUTH_CENTRE_Y) / MOUTH_RADIUS_Y
    dx = (cols / width - MOUTH_CENTRE_X) / MOUTH_RADIUS_X
    radius = (dy ** 2 + dx ** 2) ** 0.5
    return smoothstep((1.0 - radius) / (1.0 - MOUTH_CORE))


def _read_only(mask: np.ndarray) -> np.ndarray:
    mask = mask.astype(np.float32)[:, :, None]
    mask.setflags(write=False)
    return mask


def _pixel_centres(count: int) -> np.ndarray:
    return np.arange(count, dtype=np.float32) + 0.5


@lru_cache(maxsize=64)
def feather_mask(height: int, width: int) -> np.ndarray:
    """(height, width, 1) float32 0..1 weight of the generated face inside a box of that size.

    1 over the lower face; fades in from 45% to 62% of the box height (below the nose), and fades out over
    the last 12% of the box width and height at the sides and the bottom (``feather_profile``).
    """
    rows, cols = _pixel_centres(height)[:, None], _pixel_centres(width)[None, :]
    return _read_only(feather_profile(rows, cols, height, width, feather_edge(height, width)))


@lru_cache(maxsize=64)
def mouth_mask(height: int, width: int) -> np.ndarray:
    """(height, width, 1) float32 0..1: the mouth-and-jaw ellipse (see MOUTH_*), 1 inside MOUTH_CORE of its
    radius, easing (smoothstep) to 0 at its rim; 0 at the box's edges, the nose, the cheeks and the eyes."""
    rows, cols = _pixel_centres(height)[:, None], _pixel_centres(width)[None, :]
    return _read_only(mouth_profile(rows, cols, height, width))


@lru_cache(maxsize=64)
def _whole_box_mask(height: int, width: int) -> np.ndarray:
    return _read_only(np.ones((height, width), np.float32))


_MASKS = {"feather": feather_mask, "original": _whole_box_mask, "mouth": mouth_mask}


def check_blend_mode(mode: str) -> None:
    if mode not in BLEND_MODES:
        raise ValueError(f"blend must be one of {BLEND_MODES}, not {mode!r}")


def blend_mask(mode: str, height: int, width: int) -> np.ndarray:
    """(height, width, 1) float32 0..1, read-only: the weight of the generated face in a box of that size."""
    check_blend_mode(mode)
    return _MASKS[mode](int(height), int(width))


def check_face(generated_rgb: np.ndarray) -> int:
    """The face's side in pixels; raises unless it is a square (S, S, 3) face with S >= 96."""
    shape = np.shape(generated_rgb)
    if len(shape) != 3 or shape[2] != 3 or shape[0] != shape[1] or shape[0] < FACE_SIZE:
        raise ValueError(f"a generated face must be a square RGB image of at least {FACE_SIZE}x{FACE_SIZE} "
                         f"pixels (S, S, 3), got shape {shape}")
    return int(shape[0])


def shrinks_by_area(face_size, height, width):
    """Whether a face of ``face_size`` px goes into a height x width box by area averaging: a face larger than the
    generator's, into a box smaller on both axes (ints, or numpy / torch arrays of box sizes alike)."""
    return (face_size > FACE_SIZE) & (height < face_size) & (width < face_size)


def resize_filter(face_size: int, height: int, width: int) -> int:
    """The OpenCV interpolation that takes a face of ``face_size`` px into a box of height x width."""
    return cv2.INTER_AREA if shrinks_by_area(face_size, height, width) else cv2.INTER_CUBIC


def resample_face(generated_rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Square face float32 RGB 0..1 -> (height, width, 3) float32 RGB 0..255 (not clipped), ``resize_filter``."""
    face_size = check_face(generated_rgb)
    face = np.ascontiguousarray(generated_rgb, dtype=np.float32)
    return cv2.resize(face, (width, height), interpolation=resize_filter(face_size, height, width)) * 255.0


def original_face(generated_rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """The original's face for its paste: truncated to uint8 and resized as uint8 (INTER_LINEAR)."""
    face_uint8 = (generated_rgb * 255.0).astype(np.uint8)            # truncation, as the original
    return cv2.resize(face_uint8, (width, height))


def seam_profile(mask):
    """``4 m (1 - m)`` of blend mask values ``m`` (numpy or torch): 1 where face and frame mix half and half
    (where a colour difference shows as a seam), 0 in the mask's core (where the mouth itself changes shape)
    and outside it."""
    return 4.0 * mask * (1.0 - mask)


def has_seam(mask: np.ndarray) -> bool:
    """Whether a blend mask has a soft edge to measure colours over (total seam weight above MIN_SEAM_WEIGHT)."""
    return float(seam_profile(mask).sum()) > MIN_SEAM_WEIGHT


def seam_weights(mask: np.ndarray) -> np.ndarray:
    """(h, w, 1) float32: where the colour statistics are measured, ``seam_profile`` of the blend mask; a mask
    without a soft edge (``has_seam``): the whole box."""
    return seam_profile(mask) if has_seam(mask) else np.ones_like(mask)


def _weighted_mean_and_std(pixels: np.ndarray, weights3: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel weighted mean and standard deviation (float64 (3,)) of (h, w, 3) float32 pixels; weights3 is
    (h, w, 3). OpenCV's sums accumulate in float64 (numpy's per-channel reductions are several times slower)."""
    weighted = cv2.multiply(pixels, weights3)
    mean = np.array(cv2.sumElems(weighted)[:3]) / total
    mean_square = np.array(cv2.sumElems(cv2.multiply(weighted, pixels))[:3]) / total
    return mean, np.sqrt(np.maximum(mean_square - mean * mean, 0.0))


def match_colours(face: np.ndarray, region: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Move ``face``'s colours to ``region``'s: per YCbCr channel, (value - face mean) * gain + region mean, gain
    = region std / face std (within 1/MAX_COLOR_GAIN..MAX_COLOR_GAIN), statistics weighted by ``weights``.

    face: (h, w, 3) float32 RGB 0..255; region: the frame's box, (h, w, 3) uint8 or float RGB 0..255;
    weights: (h, w, 1). Returns (h, w, 3) float32 RGB 0..255 (not clipped). The transfer is one affine map of
    RGB, applied with cv2.transform (numpy's BLAS matmul on tall (N, 3) arrays crawls on a busy machine).
    """
    total = float(weights.sum())
    weights3 = np.ascontiguousarray(np.broadcast_to(weights, face.shape), dtype=np.float32)
    face_mean, face_std = _weighted_mean_and_std(cv2.transform(face, RGB_TO_YCBCR), weights3, total)
    region_ycc = cv2.transform(np.asarray(region, dtype=np.float32), RGB_TO_YCBCR)
    region_mean, region_std = _weighted_mean_and_std(region_ycc, weights3, total)
    gain = np.clip(region_std / np.maximum(face_std, MIN_COLOR_STD), 1.0 / MAX_COLOR_GAIN, MAX_COLOR_GAIN)
    # RGB' = T^-1 (diag(gain) (T RGB - face_mean) + region_mean) = A RGB + b
    to_rgb = YCBCR_TO_RGB.astype(np.float64)
    linear = to_rgb @ np.diag(gain) @ RGB_TO_YCBCR.astype(np.float64)
    offset = to_rgb @ (region_mean - gain * face_mean)
    return cv2.transform(face, np.hstack([linear, offset[:, None]]).astype(np.float32))


def paste_original(frame: np.ndarray, generated_rgb: np.ndarray, box: Box) -> None:
    """Hard paste exactly as the original inference.py, in place into ``frame`` (96 px faces)."""
    y1, y2, x1, x2 = (int(v) for v in box)
    frame[y1:y2, x1:x2] = original_face(generated_rgb, y2 - y1, x2 - x1)


@lru_cache(maxsize=64)
def changed_part(mode: str, height: int, width: int) -> tuple[slice, slice]:
    """(rows, columns) of a height x width box: the smallest rectangle holding every pixel where ``mode``'s mask
    is above 0. Outside it a blend gives back the frame's own pixels, so it is never computed."""
    rows, cols = np.nonzero(blend_mask(mode, height, width)[:, :, 0])
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1)


def first_face_row_read(mode: str, height: int, width: int, color_match: bool = False) -> int:
    """The first row of a generator face (96 px) that pasting it into a height x width box with ``mode`` reads:
    its rows above never reach the frame, so the generator may leave them out (``Wav2Lip.forward``'s
    ``first_row``). 0 where the whole face counts: ``original`` (the whole box), and colour matching whose
    statistics fall back to the whole box."""
    if mode == "original" or (color_match and not has_seam(blend_mask(mode, height, width))):
        return 0
    rows = changed_part(mode, height, width)[0]
    if rows.start >= rows.stop:
        return FACE_SIZE - 1                      # nothing is pasted; one row keeps the generator's output whole
    # INTER_CUBIC reads source rows floor(y) - 1 .. floor(y) + 2 for box row r at y = (r + 0.5) * 96 / height - 0.5;
    # one row more for OpenCV's fixed-point coordinates.
    source = (rows.start + 0.5) * FACE_SIZE / height - 0.5
    return int(min(max(np.floor(source) - 2, 0), FACE_SIZE - 1))


def paste_blended(frame: np.ndarray, generated_rgb: np.ndarray, box: Box, mode: str = "feather", *,
                  color_match: bool = False, strength: float = 1.0) -> None:
    """Blend the face into ``frame``'s box in place: round(region + (face - region) * mask * strength), over the
    box's ``changed_part`` (colour statistics still come from the whole box)."""
    y1, y2, x1, x2 = (int(v) for v in box)
    height, width = y2 - y1, x2 - x1
    if mode == "original" and check_face(generated_rgb) == FACE_SIZE:
        face = original_face(generated_rgb, height, width).astype(np.float32)
    else:
        face = resample_face(generated_rgb, height, width)
    region = frame[y1:y2, x1:x2]
    mask = blend_mask(mode, height, width)
    if color_match:
        face = match_colours(face, region, seam_weights(mask))
    changed = changed_part(mode, height, width)
    region, face, mask = region[changed], face[changed], mask[changed]
    region_float = region.astype(np.float32)
    weight = mask if strength >= 1.0 else mask * np.float32(strength)
    blended = region_float + (face - region_float) * weight
    region[...] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def paste_feathered(frame: np.ndarray, generated_rgb: np.ndarray, box: Box) -> None:
    """Blend the generated lower face into ``frame`` in place with a soft mask (see ``feather_mask``)."""
    paste_blended(frame, generated_rgb, box, "feather")


def paste_face(frame: np.ndarray, generated_rgb: np.ndarray, box: Box, mode: str = "feather", *,
               color_match: bool = False, strength: float = 1.0) -> None:
    """Paste one generated face (float32 RGB 0..1, square, >= 96 px) into ``frame`` (uint8 RGB) in place.

    strength: 0..1, scales the blend mask (0: the frame is left exactly as it is)."""
    check_blend_mode(mode)
    if strength <= 0.0:
        return
    if mode == "original" and strength >= 1.0 and not color_match and check_face(generated_rgb) == FACE_SIZE:
        paste_original(frame, generated_rgb, box)                    # the original's own code path, bit for bit
    else:
        paste_blended(frame, generated_rgb, box, mode, color_match=color_match, strength=strength)


def changed_region_mask(frame_height: int, frame_width: int, box: Box, mode: str = "feather",
                        strength: float = 1.0) -> np.ndarray:
    """(H, W) float32 0..1: how much of each pixel comes from the generated face."""
    mask = np.zeros((frame_height, frame_width), dtype=np.float32)
    y1, y2, x1, x2 = (int(v) for v in box)
    mask[y1:y2, x1:x2] = blend_mask(mode, y2 - y1, x2 - x1)[:, :, 0] * np.float32(min(1.0, max(0.0, strength)))
    return mask
