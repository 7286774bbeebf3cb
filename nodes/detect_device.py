"""Detect Faces' tensor path (on a GPU): S3FD fed detection copies made on the device, and crops cut there.

IMAGE: float (B, H, W, 3|4) RGB 0..1; crops: (B, 96, 96, 3) IMAGE floats, bytes / 255 (crop_face's bytes).
"""
from __future__ import annotations

import numpy as np
import torch

from wav2lip_core.compositing.faces_torch import crop_faces
from wav2lip_core.detection.device_resize import DeviceResizingDetector
from wav2lip_core.detection.s3fd import S3FDDetector, s3fd_working_memory
from wav2lip_core.runtime.devices import host_to_device

from . import model_management as mm
from .device_frames import Staging, gather_rgb, region_batches, relative_boxes, to_device, union_box
from .types import FaceBoxes

# Detection batches take at most 1/DEVICE_DETECT_MEMORY_SHARE of the device's free memory, and at most
# MAX_DEVICE_DETECT_BATCH frames (never fewer than the node's batch_size; out-of-memory still halves them).
DEVICE_DETECT_MEMORY_SHARE = 4
MAX_DEVICE_DETECT_BATCH = 64


def s3fd_on_device(detector: S3FDDetector, detect_size: int | None, frame_height: int, frame_width: int,
                   batch_size: int) -> DeviceResizingDetector:
    """``detector`` wrapped to shrink full-size frames on its device, in batches as large as a share of the
    device's free memory allows (the tracker then asks for full-size frames; see device_resize.py)."""
    per_frame = max(1, s3fd_working_memory(frame_height, frame_width, detect_size, 1))
    fitting = mm.free_memory_bytes(detector.device) // DEVICE_DETECT_MEMORY_SHARE // per_frame
    detector.batch_size = max(batch_size, min(MAX_DEVICE_DETECT_BATCH, int(fitting)))
    return DeviceResizingDetector(detector, detect_size)


def crops_on_device(images: torch.Tensor, faces: FaceBoxes, with_face: np.ndarray, crops: torch.Tensor,
                    device: torch.device, progress: mm.Progress, batch_size: int) -> None:
    """Detect Faces' crops on ``device``: per batch of ``batch_size`` frames, the union of their boxes goes there
    once and every crop is cut at once (faces_torch.crop_faces: crop_face's bytes), into ``crops`` (zeros)."""
    staging = Staging(device)
    for start in range(0, len(with_face), batch_size):
        mm.throw_if_interrupted()
        batch = with_face[start:start + batch_size]
        for run in region_batches(faces.boxes[batch], 3 * images.element_size()):
            indices = batch[run]
            box = union_box(faces.boxes[indices])
            regions = to_device(gather_rgb(images, indices, box, staging, "regions", 0), device)
            staging.mark(0)             # the next batch's gather waits for this upload before reusing the buffer
            cut = crop_faces(regions, relative_boxes(faces.boxes[indices], box)).to(torch.float32) / 255.0
            crops[host_to_device(indices, crops.device)] = cut.to(crops.device)
        progress.advance(len(batch))
