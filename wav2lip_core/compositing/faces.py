"""Face crops in, generated faces out: the model's input layout and the call itself.

Crops are uint8 RGB NHWC 96x96 here; the network itself works in BGR (the original feeds OpenCV's channel
order), so the channel flip happens in this module and nowhere else.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from ..models.wav2lip import FACE_SIZE
from ..runtime.devices import tuned_convolutions

Box = tuple[int, int, int, int]  # (y1, y2, x1, x2) in full-frame pixels; crop = frame[y1:y2, x1:x2]


def boxes_misfit(boxes: np.ndarray, frame_height: int, frame_width: int) -> np.ndarray:
    """bool (N,): which (y1, y2, x1, x2) rows are empty or reach outside a frame_width x frame_height frame."""
    y1, y2, x1, x2 = np.asarray(boxes, np.int64).reshape(-1, 4).T
    return (y1 < 0) | (x1 < 0) | (y2 > frame_height) | (x2 > frame_width) | (y2 <= y1) | (x2 <= x1)

# float32(i / 255.0) computed in float64 and rounded once, exactly as the original's `/ 255.` then FloatTensor.
UINT8_TO_UNIT = (np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)


def crop_face(frame: np.ndarray, box: Box, size: int = FACE_SIZE) -> np.ndarray:
    """frame uint8 (H, W, 3) + box -> the crop resized to (size, size) uint8 (INTER_LINEAR, as the original)."""
    y1, y2, x1, x2 = (int(v) for v in box)
    crop = frame[y1:y2, x1:x2]
    if crop.size == 0:
        raise ValueError(f"face box {box} is empty inside a frame of {frame.shape[1]}x{frame.shape[0]} pixels")
    return cv2.resize(crop, (size, size))


def model_face_input(faces_rgb: np.ndarray) -> torch.Tensor:
    """(B, 96, 96, 3) uint8 RGB crops -> (B, 6, 96, 96) float32 0..1 NCHW network input.

    Channels 0-2: the crop in B,G,R with its lower half (rows 48..95) zeroed; channels 3-5: the same crop
    unmasked (the reference), B,G,R. Values are uint8 / 255 as the original computes them.
    """
    faces_bgr = faces_rgb[..., ::-1]
    masked = faces_bgr.copy()
    masked[:, FACE_SIZE // 2:] = 0
    stacked = np.concatenate([masked, faces_bgr], axis=3)              # (B, 96, 96, 6) uint8
    unit = UINT8_TO_UNIT[stacked]                                      # float32 0..1
    return torch.from_numpy(np.ascontiguousarray(unit.transpose(0, 3, 1, 2)))


def model_mel_input(chunks: np.ndarray) -> torch.Tensor:
    """(B, 80, 16) mel chunks -> (B, 1, 80, 16) float32."""
    return torch.from_numpy(np.ascontiguousarray(chunks, dtype=np.float32)[:, None])


def run_generator(model: torch.nn.Module, face_input: torch.Tensor, chunks: np.ndarray,
                  first_row: int = 0) -> torch.Tensor:
    """The generator on (B, 6, 96, 96) network input (model_face_input's, any device) and (B, 80, 16) mel chunks,
    both moved to the model's device and dtype -> (B, 3, 96 - first_row, 96) B,G,R 0..1 there, in the model's
    dtype: output rows ``first_row`` to 95 (Wav2Lip.forward computes no more than those need)."""
    parameter = next(model.parameters())
    face_input = face_input.to(device=parameter.device, dtype=parameter.dtype)
    mel_input = model_mel_input(chunks).to(device=parameter.device, dtype=parameter.dtype)
    with torch.inference_mode(), tuned_convolutions(parameter.device):
        return model(mel_input, face_input, first_row) if first_row else model(mel_input, face_input)


def generate_faces(model: torch.nn.Module, faces_rgb: np.ndarray, chunks: np.ndarray,
                   first_row: int = 0) -> np.ndarray:
    """Run the generator: 96x96 uint8 RGB crops + mel chunks -> (B, 96, 96, 3) float32 RGB 0..1 faces.

    Inputs go to the model's device and dtype; the output comes back to the CPU as float32. Rows above
    ``first_row`` are not generated: they repeat row ``first_row``. Pass the first row the paste reads
    (blend.first_face_row_read), and the pasted frames are those of the whole face.
    """
    generated_bgr = run_generator(model, model_face_input(faces_rgb), chunks, first_row)
    generated_bgr = generated_bgr.float().cpu().numpy().transpose(0, 2, 3, 1)
    faces = np.empty((len(generated_bgr), FACE_SIZE, FACE_SIZE, 3), np.float32)
    faces[:, first_row:] = generated_bgr[..., ::-1]
    faces[:, :first_row] = faces[:, first_row:first_row + 1]
    return faces
