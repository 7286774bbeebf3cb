"""Putting generated faces back into their frames, a batch at a time, as tensor operations on any torch device.

The same result as blend.py's ``paste_face`` frame by frame (to float rounding: within 2/255, mostly exact;
tests/test_paste_torch.py measures it), computed for a whole batch at once so a GPU does the work: every box
of the batch is laid over the largest box (B, L, M) and positions past a frame's own box are masked out.
The formulas are blend.py's own (``feather_profile``, ``mouth_profile``, ``seam_profile``, ``shrinks_by_area``
and the colour constants), evaluated on tensors; the resampling is tensor_resize.py's OpenCV equivalents:
INTER_CUBIC / INTER_AREA matrices for every face, and for the ``original`` blend with the generator's 96 px
faces the original's uint8 INTER_LINEAR, bit for bit.

Frames: (B, H, W, 3) torch RGB, uint8 0..255, or a ComfyUI IMAGE's float 0..1 (the box is then worked on as
``round(x * 255)`` bytes and written back as bytes / 255, as Paste Back's CPU path does; pixels outside the
boxes keep their exact values). Faces: (B, S, S, 3) float RGB 0..1, S >= 96, on the frames' device. Boxes:
(B, 4) int (y1, y2, x1, x2) inside the frames. Strengths: (B,) 0..1; a frame at 0 is left exactly as it is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models.wav2lip import FACE_SIZE
from ..runtime.devices import full_float32_matmul, host_to_device
from .blend import (MAX_COLOR_GAIN, MIN_COLOR_STD, MIN_SEAM_WEIGHT, RGB_TO_YCBCR, YCBCR_TO_RGB, check_blend_mode,
                    check_face, feather_edge, feather_profile, mouth_profile, seam_profile, shrinks_by_area)
from .faces import boxes_misfit
from .tensor_resize import linear_taps, resample, resample_matrices, resize_uint8_linear, to_uint8_values


@dataclass(frozen=True)
class BoxBatch:
    """The frames of a batch that get a face, and their boxes laid over the batch's largest box.

    frames: (A,) int64 indices into the batch; heights, widths: (A,) int64 numpy; rows / cols:
    (A, L) / (A, M) int64 frame coordinates on the device (clamped into the frame); inside: (A, L, M) bool on
    the device, True on each frame's own box; index: ``frames`` on the device. Only these small tables go up to
    the device; the grid is built there.
    """
    frames: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    rows: torch.Tensor
    cols: torch.Tensor
    inside: torch.Tensor
    index: torch.Tensor

    @classmethod
    def of(cls, boxes, strengths, frame_height: int, frame_width: int, device: torch.device) -> "BoxBatch":
        boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
        frames = np.flatnonzero(np.asarray(strengths, np.float32) > 0.0)
        y1, y2, x1, x2 = boxes[frames].T
        heights, widths = y2 - y1, x2 - x1
        if boxes_misfit(boxes[frames], frame_height, frame_width).any():
            raise ValueError(f"face boxes must lie inside the {frame_width}x{frame_height} frames and not be empty")
        length_y, length_x = int(heights.max(initial=1)), int(widths.max(initial=1))
        rows = np.minimum(y1[:, None] + np.arange(length_y)[None, :], frame_height - 1)
        cols = np.minimum(x1[:, None] + np.arange(length_x)[None, :], frame_width - 1)
        offsets_y = torch.arange(length_y, device=device)[None, :, None]
        offsets_x = torch.arange(length_x, device=device)[None, None, :]
        inside = (offsets_y < host_to_device(heights, device)[:, None, None]) & \
            (offsets_x < host_to_device(widths, device)[:, None, None])
        return cls(frames, heights, widths, host_to_device(rows, device), host_to_device(cols, device),
                   inside, host_to_device(frames, device))

    @property
    def size(self) -> tuple[int, int]:
        """(L, M): the largest box height and width."""
        return int(self.rows.shape[1]), int(self.cols.shape[1])

    def read(self, frames: torch.Tensor) -> torch.Tensor:
        """(A, L, M, C) pixels of each frame's box (past its box: whatever lies there) from (B, H, W, C)."""
        return frames[self.index[:, None, None], self.rows[:, :, None], self.cols[:, None, :]]

    def write(self, frames: torch.Tensor, values: torch.Tensor) -> None:
        """Write (A, L, M, ...) values into each frame's own box of (B, H, W, ...), in place.

        Every position of the grid is written, each with what belongs on the pixel it lands on: the new value
        inside the box, the pixel's own outside it. A position past a box at the frame's bottom or right edge is
        clamped onto the box's last row or column, so a repeated pixel always gets the same value; no list of
        the positions inside the boxes is needed (finding one would make the host wait for the device).
        """
        item = torch.arange(len(self.frames), device=self.rows.device)[:, None, None]
        landed_rows = (self.rows - self.rows[:, :1])[:, :, None]      # box-local row each position lands on
        landed_cols = (self.cols - self.cols[:, :1])[:, None, :]
        landed_inside = self.inside[item, landed_rows, landed_cols]
        new = values[item, landed_rows, landed_cols].to(frames.dtype)
        landed_inside = landed_inside.reshape(landed_inside.shape + (1,) * (new.dim() - 3))
        frames[self.index[:, None, None], self.rows[:, :, None], self.cols[:, None, :]] = \
            torch.where(landed_inside, new, self.read(frames))

    def grid(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Pixel centres (1, L, 1) and (1, 1, M), box heights and widths (A, 1, 1), float32 on ``device``."""
        length_y, length_x = self.size
        rows = (torch.arange(length_y, dtype=torch.float32, device=device) + 0.5)[None, :, None]
        cols = (torch.arange(length_x, dtype=torch.float32, device=device) + 0.5)[None, None, :]
        sizes = [host_to_device(a.astype(np.float32), device)[:, None, None] for a in (self.heights, self.widths)]
        return rows, cols, *sizes


def box_masks(mode: str, boxes: BoxBatch, device: torch.device) -> torch.Tensor:
    """(A, L, M) float32 0..1: blend.blend_mask(mode, h, w) of every box, 0 past each box."""
    check_blend_mode(mode)
    rows, cols, heights, widths = boxes.grid(device)
    if mode == "feather":
        edge = np.array([feather_edge(int(h), int(w)) for h, w in zip(boxes.heights, boxes.widths)], np.float32)
        edge = host_to_device(edge, device)[:, None, None]
        mask = feather_profile(rows, cols, heights, widths, edge)
    elif mode == "mouth":
        mask = mouth_profile(rows, cols, heights, widths)
    else:
        mask = torch.ones((len(boxes.frames),) + boxes.size, dtype=torch.float32, device=device)
    return torch.where(boxes.inside, mask, torch.zeros((), dtype=torch.float32, device=device))


def resampled_faces(faces: torch.Tensor, mode: str, boxes: BoxBatch) -> torch.Tensor:
    """(A, S, S, 3) float RGB 0..1 faces -> (A, L, M, 3) float32 RGB 0..255 in their boxes (not clipped): the
    original's truncated uint8 bilinear for ``original`` with 96 px faces, else blend.resample_face's filters."""
    face_size = int(faces.shape[1])
    device = faces.device
    (length_y, length_x) = boxes.size
    if mode == "original" and face_size == FACE_SIZE:
        truncated = (faces.to(torch.float32) * 255.0).to(torch.int32).clamp_(0, 255)     # as .astype(np.uint8)
        rows = linear_taps(boxes.heights, face_size, length_y, device, horizontal=False)
        cols = linear_taps(boxes.widths, face_size, length_x, device, horizontal=True)
        return resize_uint8_linear(truncated, rows, cols).to(torch.float32)
    use_area = shrinks_by_area(face_size, boxes.heights, boxes.widths)
    rows = resample_matrices(boxes.heights, face_size, length_y, use_area, device)
    cols = resample_matrices(boxes.widths, face_size, length_x, use_area, device)
    return resample(faces, rows, cols) * 255.0


def _weighted_mean_and_std(values: torch.Tensor, weights: torch.Tensor, total: torch.Tensor):
    """Per item and channel, (A, 3) weighted mean and standard deviation of (A, L, M, 3) values."""
    mean = (values * weights).sum(dim=(1, 2)) / total
    spread = ((values - mean[:, None, None, :]) ** 2 * weights).sum(dim=(1, 2)) / total
    return mean, spread.sqrt()


def match_colours(faces: torch.Tensor, regions: torch.Tensor, masks: torch.Tensor,
                  inside: torch.Tensor) -> torch.Tensor:
    """blend.match_colours for a batch: (A, L, M, 3) faces moved to the regions' colours (YCbCr mean and spread,
    weighted by ``seam_profile`` of the (A, L, M) masks, or by the whole box where a mask has no soft edge)."""
    weights = seam_profile(masks)
    total = weights.sum(dim=(1, 2))
    whole_box = total <= MIN_SEAM_WEIGHT
    weights = torch.where(whole_box[:, None, None], inside.to(weights.dtype), weights)[..., None]
    total = weights.sum(dim=(1, 2))
    to_ycc = host_to_device(RGB_TO_YCBCR, faces.device)
    to_rgb = host_to_device(YCBCR_TO_RGB, faces.device)
    face_mean, face_std = _weighted_mean_and_std(faces @ to_ycc.T, weights, total)
    region_mean, region_std = _weighted_mean_and_std(regions @ to_ycc.T, weights, total)
    gain = (region_std / face_std.clamp(min=MIN_COLOR_STD)).clamp(1.0 / MAX_COLOR_GAIN, MAX_COLOR_GAIN)
    # RGB' = T^-1 (diag(gain) (T RGB - face_mean) + region_mean) = A RGB + b, per item
    linear = to_rgb[None] @ torch.diag_embed(gain) @ to_ycc[None]                        # (A, 3, 3)
    offset = (region_mean - gain * face_mean) @ to_rgb.T                                 # (A, 3)
    return faces @ linear.transpose(1, 2)[:, None] + offset[:, None, None, :]


def paste_faces(frames: torch.Tensor, faces: torch.Tensor, boxes, strengths=None, mode: str = "feather", *,
                color_match: bool = False, changed: torch.Tensor | None = None) -> None:
    """Blend each face into its frame's box in place: round(region + (face - region) * mask * strength).

    frames (B, H, W, 3) uint8 or IMAGE float; faces (B, S, S, 3) float 0..1; boxes (B, 4) (y1, y2, x1, x2);
    strengths (B,) or None (all 1). ``changed``: an optional (B, H, W) float tensor that receives mask *
    strength inside the pasted boxes (Paste Back's MASK output). See the module's docstring.
    """
    check_blend_mode(mode)
    check_face(faces[0])
    count = int(frames.shape[0])
    if faces.shape[0] != count or len(boxes) != count:
        raise ValueError(f"{count} frames need {count} faces and boxes, got {faces.shape[0]} and {len(boxes)}")
    # blend.paste_face: 0 or less leaves a frame as it is, 1 or more is the full mask
    strengths = np.ones(count, np.float32) if strengths is None else np.minimum(np.asarray(strengths, np.float32), 1)
    batch = BoxBatch.of(boxes, strengths, int(frames.shape[1]), int(frames.shape[2]), frames.device)
    if len(batch.frames) == 0:
        return
    device = frames.device
    region = batch.read(frames[..., :3])
    region = to_uint8_values(region, torch.float32) if region.is_floating_point() else region.to(torch.float32)
    face = resampled_faces(faces[batch.index], mode, batch)
    masks = box_masks(mode, batch, device)
    if color_match:
        with full_float32_matmul():            # TF32 (if a host switched it on) would move levels by a quarter
            face = match_colours(face, region, masks, batch.inside)
    weight = masks * host_to_device(strengths[batch.frames], device)[:, None, None]
    blended = region + (face - region) * weight[..., None]
    pasted = (blended + 0.5).clamp_(0, 255).floor_()                  # as np.clip(x + 0.5, 0, 255).astype(uint8)
    batch.write(frames[..., :3], pasted / 255.0 if frames.is_floating_point() else pasted)
    if changed is not None:
        batch.write(changed, weight)
