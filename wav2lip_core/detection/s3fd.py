"""S3FD, the original Wav2Lip's face detector, through face-alignment's network definition.

The weights file comes through the pack's one checkpoint path (``checkpoints.resolve_checkpoint``: found,
fetched, verified and recorded like every model). Inference is batched on the model's device; on
out-of-memory the batch is halved and the same frames are retried instead of failing.

Decoding is vectorised (all anchors of a batch at once, on the device) and gives the same boxes as
face-alignment's per-anchor loop followed by NMS(0.3) and the score > 0.5 filter: candidates at or below
0.5 can only suppress lower-scoring candidates, which that filter drops anyway, so they are dropped first.
"""
from __future__ import annotations

import os
from itertools import groupby
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoints import S3FD, CheckpointError, load_network, pack_weights_dir, resolve_checkpoint
from ..runtime.batching import HalvingBatches
from ..runtime.devices import tuned_convolutions
from .common import FaceDetectionError, as_rgb_uint8_frame, empty_detections

# Per-channel means of the Caffe-trained (BGR) S3FD, subtracted in this order. The original Wav2Lip hands the
# network RGB frames with these means (spec 6.6); "rgb" replicates that, "bgr" is face-alignment's own order.
S3FD_MEANS = (104.0, 117.0, 123.0)
NMS_IOU = 0.3
SCORE_THRESHOLD = 0.5
ANCHOR_STRIDES = (4, 8, 16, 32, 64, 128)   # one per output level; the anchor is a square of 4 * stride
BOX_VARIANCES = (0.1, 0.2)
MIN_INPUT_SIDE = 32   # five 2x poolings; smaller inputs are padded (the original crashed on them, issue #705)
# Frames per S3FD call on the CPU: batches there are no faster and cost memory per frame (bench/README.md).
CPU_BATCH = 1
OFFLINE_DETECTOR_HINT = ("Or use the offline face detector dlib_hog, which needs no weights file "
                         "(--detector dlib_hog, or detector 'dlib_hog' in Detect Faces; pip install dlib-bin).")


def s3fd_weights(weights_path: str | os.PathLike | None = None, search_dirs: Sequence[str | os.PathLike] = (),
                 allow_download: bool = True, progress=None) -> Path:
    """The verified S3FD weights file: ``weights_path`` if given, else s3fd.pth from ``search_dirs`` (default: the
    pack's weights/ folder), fetched into the first of them when missing and allowed."""
    folders = list(search_dirs) or [pack_weights_dir()]
    try:
        return resolve_checkpoint(weights_path or "s3fd", search_dirs=folders, allow_download=allow_download,
                                  progress=progress, architecture=S3FD)
    except CheckpointError as error:
        raise FaceDetectionError(f"S3FD face-detector weights: {error} {OFFLINE_DETECTOR_HINT}") from error


def load_s3fd_network(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The S3FD network with the weights of ``path`` (see ``s3fd_weights``), eval mode, on ``device``."""
    try:
        network = load_network(path, S3FD)
    except CheckpointError as error:
        raise FaceDetectionError(f"S3FD weights unusable: {error}") from error
    return network.to(device)


def s3fd_working_memory(height: int, width: int, detect_size: int | None, batch_size: int) -> int:
    """Rough activation memory in bytes of one S3FD batch: two 64-channel float maps of the detection copy per
    frame (its first layers are the largest)."""
    scale = 1.0 if detect_size is None else min(1.0, detect_size / max(height, width))
    pixels = int(height * scale) * int(width * scale)
    return batch_size * pixels * 64 * 4 * 2


def nms_keep(detections: np.ndarray, iou_threshold: float = NMS_IOU) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (face-alignment's rule, with its +1 pixel areas).

    detections: (K, 5) float (x1, y1, x2, y2, score).
    """
    if len(detections) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2, scores = (detections[:, i] for i in range(5))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        overlap = width * height
        iou = overlap / (areas[best] + areas[rest] - overlap)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_s3fd_outputs(outputs: Sequence[torch.Tensor], score_threshold: float = SCORE_THRESHOLD,
                        iou_threshold: float = NMS_IOU) -> list[np.ndarray]:
    """Per image, the (K, 5) float64 detections (x1, y1, x2, y2, score) of S3FD's 12 raw output maps.

    ``outputs`` alternates class logits (B, 2, h, w) and box regressions (B, 4, h, w) for strides 4..128.
    Boxes are in the network input's pixels, sorted by descending score, after NMS and the score filter.
    """
    batch_size = outputs[0].shape[0]
    scores, offsets, level_starts, level_widths = [], [], [0], []
    for level in range(len(ANCHOR_STRIDES)):
        logits, regression = outputs[2 * level], outputs[2 * level + 1]
        scores.append(F.softmax(logits.float(), dim=1)[:, 1].reshape(batch_size, -1))    # (B, h * w)
        offsets.append(regression.float().reshape(batch_size, 4, -1))                     # (B, 4, h * w)
        level_starts.append(level_starts[-1] + scores[-1].shape[1])
        level_widths.append(logits.shape[-1])
    # Every level's anchors side by side, each level row-major: per image, the candidates come out in the order
    # face-alignment visits them (NMS breaks ties in score by that order). One nonzero and one download for the
    # whole batch, instead of a wait for the device at every level.
    all_scores = torch.cat(scores, dim=1)
    image_index, position = torch.nonzero(all_scores > score_threshold, as_tuple=True)
    # float32 on the device (MPS has no float64) holds the image numbers and positions exactly: far below 2**24.
    found = torch.cat([torch.stack([image_index, position], dim=1).float(), all_scores[image_index, position][:, None],
                       torch.cat(offsets, dim=2)[image_index, :, position]], dim=1).cpu().numpy().astype(np.float64)
    image_index, position = found[:, 0].astype(np.int64), found[:, 1].astype(np.int64)
    level = np.searchsorted(level_starts, position, side="right") - 1
    row, column = np.divmod(position - np.asarray(level_starts)[level], np.asarray(level_widths)[level])
    # float64 like face-alignment's numpy decode, so int() truncation lands on the same pixel
    stride = np.asarray(ANCHOR_STRIDES, np.float64)[level]
    anchor_x, anchor_y, anchor_size = stride / 2 + column * stride, stride / 2 + row * stride, stride * 4.0
    center_x = anchor_x + found[:, 3] * BOX_VARIANCES[0] * anchor_size
    center_y = anchor_y + found[:, 4] * BOX_VARIANCES[0] * anchor_size
    width = anchor_size * np.exp(found[:, 5] * BOX_VARIANCES[1])
    height = anchor_size * np.exp(found[:, 6] * BOX_VARIANCES[1])
    x1, y1 = center_x - width / 2, center_y - height / 2
    boxes = np.stack([x1, y1, x1 + width, y1 + height, found[:, 2]], axis=1)
    candidates = np.split(boxes, np.searchsorted(image_index, np.arange(1, batch_size)))     # image-major
    return [detections[nms_keep(detections, iou_threshold)] if len(detections) else
            empty_detections().astype(np.float64) for detections in candidates]


class S3FDDetector:
    """Batched S3FD. ``detect(frames)`` -> per frame (K, 5) float (x1, y1, x2, y2, score), input pixels.

    frames: uint8 RGB (H, W, 3), 0..255 (a list or an NHWC array). ``color_order="rgb"`` feeds them as the
    original Wav2Lip does (spec 6.6, identical boxes); ``"bgr"`` feeds BGR as face-alignment does.
    ``batch_size`` frames go through the network at once on a GPU (halved on out-of-memory); on the CPU at
    most ``CPU_BATCH``, the fastest there and the smallest in memory.
    """
    name = "s3fd"
    upscales_small_frames = False
    # 640: a 1080p frame shrinks 3x, 720p 2x; a face of 10 % of the frame height is still 36 px in the copy,
    # inside S3FD's anchor range (16..512 px). detect_size=None gives the original's full-resolution pass.
    default_detect_size: int | None = 640

    def __init__(self, network: torch.nn.Module, device: str | torch.device = "cpu", batch_size: int = 16,
                 color_order: str = "rgb", score_threshold: float = SCORE_THRESHOLD):
        if color_order not in ("rgb", "bgr"):
            raise ValueError(f"color_order must be 'rgb' or 'bgr', not {color_order!r}")
        self.device = torch.device(device)
        # channels-last convolutions are faster on CPU (oneDNN) and on CUDA tensor cores.
        self.network = network.to(self.device, memory_format=torch.channels_last).eval().requires_grad_(False)
        self._batches = HalvingBatches(batch_size, cap=CPU_BATCH if self.device.type == "cpu" else None,
                                       single_item_error=self._single_frame_error)
        self.color_order = color_order
        self.score_threshold = score_threshold
        self._means = torch.tensor(S3FD_MEANS, device=self.device).view(1, 3, 1, 1)

    @classmethod
    def from_weights(cls, path: str | os.PathLike, device: str | torch.device = "cpu",
                     batch_size: int = 16) -> "S3FDDetector":
        return cls(load_s3fd_network(path), device=device, batch_size=batch_size)

    @property
    def cpu_batch_limit(self) -> int | None:
        """At most this many frames per call on the CPU (None: no limit)."""
        return self._batches.cap

    @cpu_batch_limit.setter
    def cpu_batch_limit(self, value: int | None) -> None:
        self._batches.cap = value

    @property
    def batch_size(self) -> int:
        """Frames per network call: the requested batch size (halved after out-of-memory), at most
        ``cpu_batch_limit`` on the CPU."""
        return self._batches.current_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self._batches.size = max(1, int(value))

    def _single_frame_error(self, error: BaseException) -> FaceDetectionError:
        return FaceDetectionError(f"S3FD ran out of memory on a single frame on {self.device}. Detect on a smaller "
                                  f"copy (a lower detect_size, e.g. 640) or on the CPU.")

    def _forward(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self._forward_tensor(torch.from_numpy(np.stack(frames)).to(self.device))

    def _forward_tensor(self, batch: torch.Tensor) -> list[np.ndarray]:
        """(B, H, W, 3) uint8 RGB frames on the device -> their detections."""
        batch = batch.permute(0, 3, 1, 2).float()
        if self.color_order == "bgr":
            batch = batch.flip(1)
        batch = batch - self._means
        height, width = batch.shape[-2:]
        if min(height, width) < MIN_INPUT_SIDE:   # pad bottom/right with the mean colour: boxes do not move
            batch = F.pad(batch, (0, max(0, MIN_INPUT_SIDE - width), 0, max(0, MIN_INPUT_SIDE - height)))
        batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), tuned_convolutions(self.device):
            outputs = self.network(batch)
            return decode_s3fd_outputs(outputs, self.score_threshold)

    def detect(self, batch: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        frames = [as_rgb_uint8_frame(frame, index) for index, frame in enumerate(batch)]
        results: list[np.ndarray] = []
        for _, run in groupby(frames, key=lambda frame: frame.shape):   # one network call holds one frame size
            same_size = list(run)

            def process(start: int, stop: int) -> None:
                results.extend(self._forward(same_size[start:stop]))

            self._batches.run(len(same_size), process)
        return results

    def detect_tensor(self, frames: torch.Tensor) -> list[np.ndarray]:
        """``detect`` for frames already on the device: a (B, H, W, 3) uint8 RGB tensor, batched (and halved on
        out-of-memory) the same way."""
        results: list[np.ndarray] = []

        def process(start: int, stop: int) -> None:
            results.extend(self._forward_tensor(frames[start:stop].to(self.device)))

        self._batches.run(int(frames.shape[0]), process)
        return results
