"""Face crops in, generated faces out, a batch at a time on any torch device: the tensor twin of faces.py.

Crops are cut from frames already on the device (uint8 RGB, or a ComfyUI IMAGE's 0..1 floats read as
``round(x * 255)``) with the original's uint8 INTER_LINEAR resize, bit for bit (tensor_resize.py), and the
generator's input is built there with faces.py's own byte -> float table, so the network sees exactly what
faces.generate_faces would hand it. Layouts: frames and crops NHWC RGB; faces out (B, 96, 96, 3) float32 RGB
0..1 on the model's device.
"""
from __future__ import annotations

import numpy as np
import torch

from ..models.wav2lip import FACE_SIZE
from ..runtime.devices import host_to_device
from .faces import UINT8_TO_UNIT, boxes_misfit, run_generator
from .tensor_resize import linear_taps, resize_uint8_linear


def crop_faces(frames: torch.Tensor, boxes) -> torch.Tensor:
    """(B, H, W, 3) frames + (B, 4) (y1, y2, x1, x2) boxes -> (B, 96, 96, 3) uint8: faces.crop_face of each."""
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    y1, y2, x1, x2 = boxes.T
    if len(boxes) != frames.shape[0]:
        raise ValueError(f"{len(boxes)} boxes for {frames.shape[0]} frames")
    if boxes_misfit(boxes, frames.shape[1], frames.shape[2]).any():
        raise ValueError(f"a face box is empty or reaches outside the {frames.shape[2]}x{frames.shape[1]} frames")
    out = np.full(len(boxes), FACE_SIZE)
    rows = linear_taps(out, y2 - y1, FACE_SIZE, frames.device, horizontal=False, offsets=y1)
    cols = linear_taps(out, x2 - x1, FACE_SIZE, frames.device, horizontal=True, offsets=x1)
    return resize_uint8_linear(frames[..., :3], rows, cols).to(torch.uint8)


def model_face_input(crops: torch.Tensor) -> torch.Tensor:
    """(B, 96, 96, 3) uint8 RGB crops -> (B, 6, 96, 96) float32 0..1 network input on their device (faces.py's
    model_face_input: masked B,G,R crop with rows 48..95 zeroed, then the unmasked B,G,R reference)."""
    unit = host_to_device(UINT8_TO_UNIT, crops.device)[crops.to(torch.long)].flip(-1)   # (B, 96, 96, 3) BGR
    masked = unit.clone()
    masked[:, FACE_SIZE // 2:] = 0.0
    return torch.cat([masked, unit], dim=3).permute(0, 3, 1, 2).contiguous()     # NCHW, as faces.py hands it


def generate_faces(model: torch.nn.Module, crops: torch.Tensor, chunks: np.ndarray) -> torch.Tensor:
    """Run the generator on crops already on its device: (B, 96, 96, 3) uint8 RGB + (B, 80, 16) mel chunks ->
    (B, 96, 96, 3) float32 RGB 0..1 on that device."""
    generated_bgr = run_generator(model, model_face_input(crops), chunks)
    return generated_bgr.to(torch.float32).permute(0, 2, 3, 1).flip(-1)
