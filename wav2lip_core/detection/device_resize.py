"""Detection copies made on the detector's device: S3FD takes full-size frames and shrinks them itself.

The tracker (track.py) makes each frame's detection copy with OpenCV on the CPU, one frame at a time, before
handing a batch to the detector. On a GPU that resize is most of the cost of detecting on every frame, so
``DeviceResizingDetector`` tells the tracker it wants full-size frames (``default_detect_size = None``), moves
each batch to the device once as uint8, makes the copies there (tensor_resize.area_downscale_uint8: OpenCV's
INTER_AREA, the same copy size as track.resize_for_detection) and returns the detections in full-frame pixels,
scaled exactly as the tracker scales a copy's detections, so the boxes are the ones the tracker would find.

Frames: uint8 RGB (H, W, 3) 0..255; detections: (K, 5) float (x1, y1, x2, y2, score).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..compositing.tensor_resize import area_downscale_uint8
from .common import as_rgb_uint8_frame
from .s3fd import S3FDDetector
from .track import detection_copy_size, detection_scale


class DeviceResizingDetector:
    """Wraps an ``S3FDDetector``: full-size frames in, detections in full-frame pixels out, the detection copy of
    longest side ``detect_size`` (None: full resolution) made on the detector's device."""
    upscales_small_frames = False
    default_detect_size = None          # the tracker passes full-size frames; the copies are made here

    def __init__(self, detector: S3FDDetector, detect_size: int | None):
        self.detector = detector
        self.detect_size = detect_size
        self.name = detector.name

    @property
    def batch_size(self) -> int:
        """The wrapped detector's (it halves on out-of-memory)."""
        return self.detector.batch_size

    def copy_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the detection copy of a height x width frame: the tracker's own size rule."""
        return detection_copy_size(height, width, detection_scale(height, width, self.detect_size, upscale=False))

    def detect(self, batch: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        frames = [as_rgb_uint8_frame(frame, index) for index, frame in enumerate(batch)]
        if not frames:
            return []
        height, width = frames[0].shape[:2]
        if any(frame.shape[:2] != (height, width) for frame in frames):   # an IMAGE batch has one size
            raise ValueError(f"a detection batch holds frames of one size, not {sorted({f.shape[:2] for f in frames})}")
        device = self.detector.device
        on_device = torch.empty((len(frames), height, width, 3), dtype=torch.uint8, device=device)
        for index, frame in enumerate(frames):      # frames from pinned memory travel without waiting
            on_device[index].copy_(torch.from_numpy(frame), non_blocking=True)
        copy_height, copy_width = self.copy_size(height, width)
        copies = on_device if (copy_height, copy_width) == (height, width) else \
            area_downscale_uint8(on_device, copy_height, copy_width)
        scale = np.array([width / copy_width, height / copy_height, width / copy_width, height / copy_height, 1.0])
        return [np.asarray(found, np.float64) * scale for found in self.detector.detect_tensor(copies)]
