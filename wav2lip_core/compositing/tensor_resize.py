"""OpenCV's resizing on torch tensors, for a batch of images that each go to a size of their own.

The batched paste (paste_torch.py), the face crops (faces_torch.py) and the detection copies on a GPU must give
what cv2.resize gives on the CPU, image by image, while one call handles a whole batch whose boxes differ in
size. Every output here is laid out over the largest size of the batch; positions past an item's own size hold
values that mean nothing (callers mask them). Tap tables are computed on the CPU in float64, as OpenCV does,
and travel to the device as small (B, L) tables.

- ``linear_taps`` + ``resize_uint8_linear``: INTER_LINEAR on uint8 images, bit for bit: OpenCV's fixed point
  (11-bit coefficients; a horizontal pass in integers, then its vector code's vertical pass, which rounds in two
  steps). The original Wav2Lip resizes its crops and its pasted faces this way.
- ``resample_matrices`` + ``resample``: INTER_CUBIC (a = -0.75, the border replicated) and INTER_AREA (each
  output pixel the average of the source area it covers) on float images, as dense (B, L, S) matrices applied
  to rows and columns: the same weights as OpenCV's, to float rounding.
- ``to_uint8_values``: a ComfyUI IMAGE's 0..1 floats as the byte values ``round(x * 255)`` (nodes/tensors.py's
  image_to_uint8), on any device.

Images are NHWC (B, H, W, C), any number of channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..runtime.devices import full_float32_matmul, host_to_device

COEFFICIENT_BITS = 11                     # OpenCV's INTER_RESIZE_COEF_BITS
COEFFICIENT_ONE = 1 << COEFFICIENT_BITS
CUBIC_A = -0.75                           # OpenCV's (and torch's) bicubic kernel parameter


def to_uint8_values(image: torch.Tensor, dtype: torch.dtype = torch.int32) -> torch.Tensor:
    """IMAGE floats 0..1 -> 0..255 in ``dtype``, ``round(x * 255)`` in float32 (half-way to even), as
    image_to_uint8 (asking for the dtype the caller needs saves a conversion pass)."""
    return (image.to(torch.float32) * 255.0).round_().clamp_(0, 255).to(dtype)


def _source_positions(out_sizes: np.ndarray, in_sizes: np.ndarray, length: int) -> np.ndarray:
    """(B, length) float32: OpenCV's ``(float)((d + 0.5) * scale - 0.5)`` with ``scale = 1. / (out / in)`` in
    float64, for output positions d of each item."""
    scale = 1.0 / (np.asarray(out_sizes, np.float64) / np.asarray(in_sizes, np.float64))
    return ((np.arange(length, dtype=np.float64)[None, :] + 0.5) * scale[:, None] - 0.5).astype(np.float32)


@dataclass(frozen=True)
class LinearTaps:
    """Along one axis, for each item and output position: two source indices and their fixed-point weights
    (summing to COEFFICIENT_ONE). (B, L) int64 indices and int32 weights, on one device."""
    first: torch.Tensor
    second: torch.Tensor
    first_weight: torch.Tensor
    second_weight: torch.Tensor


def linear_taps(out_sizes, in_sizes, length: int, device: torch.device | str, *, horizontal: bool,
                offsets=None) -> LinearTaps:
    """INTER_LINEAR taps from sources of ``in_sizes`` pixels to ``out_sizes`` pixels, ``length`` >= every out size.

    OpenCV treats the two axes differently at the border: horizontally a position before the first or past the
    last source pixel takes that pixel with the full weight; vertically it keeps its fractional weights and
    reads the edge row twice. ``offsets`` (B,) are added to the indices (a box's origin in its frame).
    """
    in_sizes = np.broadcast_to(np.asarray(in_sizes, np.int64), np.shape(out_sizes))
    position = _source_positions(out_sizes, in_sizes, length)
    start = np.floor(position).astype(np.int64)
    fraction = (position - start.astype(np.float32)).astype(np.float32)
    last = in_sizes[:, None] - 1
    if horizontal:
        before, after = start < 0, start >= last
        fraction[before | after] = 0.0
        start = np.where(before, 0, np.where(after, last, start))
    first, second = np.clip(start, 0, last), np.clip(start + 1, 0, last)
    second_weight = np.rint(fraction * COEFFICIENT_ONE).astype(np.int32)
    first_weight = np.rint((np.float32(1.0) - fraction) * COEFFICIENT_ONE).astype(np.int32)
    if offsets is not None:
        shift = np.asarray(offsets, np.int64)[:, None]
        first, second = first + shift, second + shift
    return LinearTaps(*(host_to_device(a, device) for a in (first, second, first_weight, second_weight)))


def resize_uint8_linear(images: torch.Tensor, rows: LinearTaps, cols: LinearTaps) -> torch.Tensor:
    """cv2.resize(image, INTER_LINEAR) of uint8 images, bit for bit, for each item of a batch.

    images: (B, H, W, C) byte values (uint8 or int tensors), or IMAGE floats 0..1 (read as ``to_uint8_values``;
    only the pixels the taps touch are converted). rows / cols: ``linear_taps`` (vertical / horizontal) into
    ``images``' rows and columns. Returns (B, Ly, Lx, C) int32 0..255.
    """
    batch = torch.arange(images.shape[0], device=images.device)[:, None, None]

    def read(row_index: torch.Tensor) -> torch.Tensor:
        """One vertical tap: the horizontal pass over the rows ``row_index`` (B, Ly), int32 (B, Ly, Lx, C)."""
        values = []
        for index in (cols.first, cols.second):
            pixels = images[batch, row_index[:, :, None], index[:, None, :]]
            values.append(to_uint8_values(pixels) if pixels.is_floating_point() else pixels.to(torch.int32))
        return values[0] * cols.first_weight[:, None, :, None] + values[1] * cols.second_weight[:, None, :, None]

    # OpenCV's vector code: (((S0 >> 4) * b0) >> 16) + (((S1 >> 4) * b1) >> 16), then (+ 2) >> 2.
    upper = ((read(rows.first) >> 4) * rows.first_weight[:, :, None, None]) >> 16
    lower = ((read(rows.second) >> 4) * rows.second_weight[:, :, None, None]) >> 16
    return ((upper + lower + 2) >> 2).clamp_(0, 255)


def _cubic_coefficients(fraction: np.ndarray) -> np.ndarray:
    """(..., 4) float32 weights of the taps at -1, 0, 1, 2 for a fractional position (OpenCV's interpolateCubic)."""
    x = fraction.astype(np.float32)
    a = np.float32(CUBIC_A)
    one = np.float32(1.0)
    c0 = ((a * (x + one) - 5 * a) * (x + one) + 8 * a) * (x + one) - 4 * a
    c1 = ((a + 2) * x - (a + 3)) * x * x + one
    c2 = ((a + 2) * (one - x) - (a + 3)) * (one - x) * (one - x) + one
    return np.stack([c0, c1, c2, one - c0 - c1 - c2], axis=-1).astype(np.float32)


def cubic_matrix(out_sizes, in_size: int, length: int, device: torch.device | str) -> torch.Tensor:
    """(B, length, in_size) float32: INTER_CUBIC from ``in_size`` to each of ``out_sizes`` pixels (border
    replicated: taps past the edge add their weight to the edge pixel)."""
    position = _source_positions(out_sizes, np.full(np.shape(out_sizes), in_size), length)
    start = np.floor(position).astype(np.int64)
    weights = _cubic_coefficients(position - start.astype(np.float32))
    taps = np.clip(start[:, :, None] + np.arange(-1, 3)[None, None, :], 0, in_size - 1)
    matrix = torch.zeros((len(position), length, in_size), dtype=torch.float32, device=device)
    return matrix.scatter_add_(2, host_to_device(taps, device), host_to_device(weights, device))


def area_matrix(out_sizes, in_size: int, length: int, device: torch.device | str) -> torch.Tensor:
    """(B, length, in_size) float32: INTER_AREA from ``in_size`` down to each of ``out_sizes`` pixels: output
    pixel d averages source span [d * scale, (d + 1) * scale), partial pixels by the share they overlap."""
    scale = np.asarray(in_size, np.float64) / np.asarray(out_sizes, np.float64)
    starts = np.arange(length, dtype=np.float64)[None, :] * scale[:, None]
    ends = np.minimum(starts + scale[:, None], in_size)
    spans = np.maximum(ends - starts, 1e-6)
    to_device = [host_to_device(a.astype(np.float32), device)[:, :, None] for a in (starts, ends, spans)]
    pixel = torch.arange(in_size, dtype=torch.float32, device=device)[None, None, :]
    overlap = (torch.minimum(pixel + 1.0, to_device[1]) - torch.maximum(pixel, to_device[0])).clamp_(min=0.0)
    return overlap / to_device[2]


def resample_matrices(out_sizes, in_size: int, length: int, use_area, device: torch.device | str) -> torch.Tensor:
    """(B, length, in_size): per item, ``area_matrix`` where ``use_area`` (B,) else ``cubic_matrix``."""
    use_area = np.asarray(use_area, bool)
    matrix = cubic_matrix(out_sizes, in_size, length, device)
    if use_area.any():
        area = area_matrix(out_sizes, in_size, length, device)
        matrix = torch.where(host_to_device(use_area, device)[:, None, None], area, matrix)
    return matrix


def resample(images: torch.Tensor, row_matrix: torch.Tensor, col_matrix: torch.Tensor) -> torch.Tensor:
    """(B, S, S2, C) float -> (B, Ly, Lx, C) float32: rows then columns through (B, Ly, S) and (B, Lx, S2)
    matrices, in full float32 (no TF32, whose 10-bit mantissa would move 0..255 values by a quarter level)."""
    batch, height, width, channels = images.shape
    with full_float32_matmul():
        by_rows = torch.bmm(row_matrix, images.to(torch.float32).reshape(batch, height, width * channels))
        by_rows = by_rows.reshape(batch, -1, width, channels).permute(0, 1, 3, 2)       # (B, Ly, C, S2)
        out = torch.matmul(by_rows, col_matrix.transpose(1, 2)[:, None])               # (B, Ly, C, Lx)
    return out.permute(0, 1, 3, 2)


def area_downscale_uint8(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """cv2.resize(image, (width, height), INTER_AREA) of (B, H, W, C) uint8 images shrunk on both axes ->
    (B, height, width, C) uint8 on their device, as OpenCV rounds: whole-number factors average their cells
    (a 2 x 2 cell rounds half up, as OpenCV's vector code; larger ones half to even), other ratios weigh
    partial pixels (``area_matrix``). Detection copies are made this way on a GPU."""
    batch, in_height, in_width, channels = images.shape
    values = images.permute(0, 3, 1, 2).to(torch.float32)                                  # (B, C, H, W)
    factor_y, factor_x = in_height // height, in_width // width
    if factor_y * height == in_height and factor_x * width == in_width:
        mean = torch.nn.functional.avg_pool2d(values, (factor_y, factor_x))
        rounded = (mean + 0.5).floor_() if (factor_y, factor_x) == (2, 2) else mean.round_()
    else:
        rows = area_matrix(np.array([height]), in_height, height, images.device)[0]           # (height, H)
        cols = area_matrix(np.array([width]), in_width, width, images.device)[0]              # (width, W)
        with full_float32_matmul():
            rounded = (rows @ values @ cols.T).round_()
    return rounded.clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
