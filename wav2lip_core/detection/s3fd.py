"""S3FD, the original Wav2Lip's face detector, through face-alignment's network definition.

Weights come from a local file when one is found (an explicit path, then ``s3fd.pth`` /
``s3fd-619a316812.pth`` in the search folders, then face-alignment's torch-hub cache), otherwise from
face-alignment's download URL; with no file and no download allowed (or no network) the error says which
file to put where. Inference is batched on the model's device; on out-of-memory the batch is halved and the
same frames are retried instead of failing.

Decoding is vectorised (all anchors of a batch at once, on the device) and gives the same boxes as
face-alignment's per-anchor loop followed by NMS(0.3) and the score > 0.5 filter: candidates at or below
0.5 can only suppress lower-scoring candidates, which that filter drops anyway, so they are dropped first.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..memory import is_out_of_memory
from .common import FaceDetectionError, as_rgb_uint8_frame, empty_detections

S3FD_URL = "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth"
S3FD_FILENAMES = ("s3fd.pth", "s3fd-619a316812.pth", "s3fd.safetensors")
# Per-channel means of the Caffe-trained (BGR) S3FD, subtracted in this order. The original Wav2Lip hands the
# network RGB frames with these means (spec 6.6); "rgb" replicates that, "bgr" is face-alignment's own order.
S3FD_MEANS = (104.0, 117.0, 123.0)
NMS_IOU = 0.3
SCORE_THRESHOLD = 0.5
ANCHOR_STRIDES = (4, 8, 16, 32, 64, 128)   # one per output level; the anchor is a square of 4 * stride
BOX_VARIANCES = (0.1, 0.2)
MIN_INPUT_SIDE = 32   # five 2x poolings; smaller inputs are padded (the original crashed on them, issue #705)


def _missing_weights_message(searched: Sequence[Path], reason: str) -> str:
    places = "\n".join(f"  - {p}" for p in searched) or "  - (no folders were given)"
    return (
        f"S3FD face-detector weights not found ({reason}). Put the file s3fd.pth (the original Wav2Lip's "
        f"face_detection/detection/sfd/s3fd.pth, or face-alignment's s3fd-619a316812.pth, about 86 MB) in one of:\n"
        f"{places}\n"
        f"or let it be downloaded from {S3FD_URL} (needs a network), or pick an offline detector that "
        f"needs no download: detector='dlib_hog' (pip install dlib-bin).")


def torch_hub_s3fd_path() -> Path:
    """Where face-alignment's own download of S3FD is cached."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(S3FD_URL)


def find_s3fd_weights(weights_path: str | os.PathLike | None = None,
                      search_dirs: Sequence[str | os.PathLike] = ()) -> Path | None:
    """The first S3FD weights file found, or None. An explicit ``weights_path`` must exist."""
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FaceDetectionError(_missing_weights_message([path], f"{path} does not exist"))
        return path
    for folder in search_dirs:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            continue
        for name in S3FD_FILENAMES:
            if (folder / name).is_file():
                return folder / name
        others = sorted(p for p in folder.glob("*s3fd*") if p.suffix in (".pth", ".pt", ".safetensors"))
        if others:
            return others[0]
    cached = torch_hub_s3fd_path()
    return cached if cached.is_file() else None


def build_s3fd_network() -> torch.nn.Module:
    """face-alignment's S3FD network (same parameter names as s3fd.pth), randomly initialised."""
    from face_alignment.detection.sfd.net_s3fd import s3fd
    return s3fd()


def load_s3fd_network(weights_path: str | os.PathLike | None = None,
                      search_dirs: Sequence[str | os.PathLike] = (), allow_download: bool = True,
                      device: str | torch.device = "cpu") -> torch.nn.Module:
    """The S3FD network with weights from a local file, else from face-alignment's download; eval mode."""
    from ..checkpoint import S3FD, CheckpointError, load_into, read_state_dict

    network = build_s3fd_network()
    path = find_s3fd_weights(weights_path, search_dirs)
    if path is not None:
        try:
            load_into(network, read_state_dict(path), path, S3FD)
        except CheckpointError as error:
            raise FaceDetectionError(f"S3FD weights unusable: {error}") from error
    else:
        searched = [Path(d).expanduser() for d in search_dirs] + [torch_hub_s3fd_path().parent]
        if not allow_download:
            raise FaceDetectionError(_missing_weights_message(searched, "downloads are switched off"))
        try:
            state_dict = torch.hub.load_state_dict_from_url(S3FD_URL, map_location="cpu", progress=True,
                                                            weights_only=True)
        except Exception as error:  # URLError, HTTPError, timeouts, truncated downloads: all mean "no file"
            raise FaceDetectionError(_missing_weights_message(
                searched, f"the download failed: {type(error).__name__}: {error}")) from error
        network.load_state_dict(state_dict)
    return network.to(device).eval().requires_grad_(False)


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
    per_level = []
    for level, stride in enumerate(ANCHOR_STRIDES):
        logits, regression = outputs[2 * level], outputs[2 * level + 1]
        scores = F.softmax(logits.float(), dim=1)[:, 1]
        image_index, row, column = torch.nonzero(scores > score_threshold, as_tuple=True)
        if image_index.numel() == 0:
            continue
        offsets = regression.float()[image_index, :, row, column]
        per_level.append((stride, image_index.cpu().numpy(), row.cpu().numpy(), column.cpu().numpy(),
                          scores[image_index, row, column].cpu().numpy(), offsets.cpu().numpy()))
    candidates: list[list[np.ndarray]] = [[] for _ in range(batch_size)]
    for stride, image_index, row, column, score, offsets in per_level:
        # float64 like face-alignment's numpy decode, so int() truncation lands on the same pixel
        anchor_x = stride / 2 + column.astype(np.float64) * stride
        anchor_y = stride / 2 + row.astype(np.float64) * stride
        anchor_size = stride * 4.0
        offsets = offsets.astype(np.float64)
        center_x = anchor_x + offsets[:, 0] * BOX_VARIANCES[0] * anchor_size
        center_y = anchor_y + offsets[:, 1] * BOX_VARIANCES[0] * anchor_size
        width = anchor_size * np.exp(offsets[:, 2] * BOX_VARIANCES[1])
        height = anchor_size * np.exp(offsets[:, 3] * BOX_VARIANCES[1])
        x1, y1 = center_x - width / 2, center_y - height / 2
        boxes = np.stack([x1, y1, x1 + width, y1 + height, score.astype(np.float64)], axis=1)
        for index in np.unique(image_index):
            candidates[index].append(boxes[image_index == index])
    results = []
    for image_candidates in candidates:
        if not image_candidates:
            results.append(empty_detections().astype(np.float64))
            continue
        detections = np.concatenate(image_candidates)
        results.append(detections[nms_keep(detections, iou_threshold)])
    return results


# Frames per S3FD call on the CPU. Measured on 2 cores at 640x360 (bench, random weights): batch 1 0.75 s a
# frame, 2 0.80, 4 0.81, 16 0.81, while peak memory grows ~0.12 GB per frame of batch (2.7 GB at 16). Batches
# only pay off on GPUs.
CPU_BATCH = 1


class S3FDDetector:
    """Batched S3FD. ``detect(frames)`` -> per frame (K, 5) float (x1, y1, x2, y2, score), input pixels.

    frames: uint8 RGB (H, W, 3), 0..255 (a list or an NHWC array). ``color_order="rgb"`` feeds them as the
    original Wav2Lip does (spec 6.6, identical boxes); ``"bgr"`` feeds BGR as face-alignment does.
    ``batch_size`` frames go through the network at once on a GPU (halved on out-of-memory); on the CPU at
    most ``CPU_BATCH``, the fastest there and the smallest in memory.
    """
    name = "s3fd"
    upscales_small_frames = False
    # 640: 1080p frames shrink 3x (9.7x less time measured), 720p 2x (3.7x); a face of 10 % of the frame
    # height is still 36 px in the copy, inside S3FD's anchor range (16..512 px). Its box accuracy there could
    # not be measured without the real weights; detect_size=None gives the original's full-resolution pass.
    default_detect_size: int | None = 640

    def __init__(self, network: torch.nn.Module | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 16, weights_path: str | os.PathLike | None = None,
                 search_dirs: Sequence[str | os.PathLike] = (), allow_download: bool = True,
                 color_order: str = "rgb", score_threshold: float = SCORE_THRESHOLD):
        if color_order not in ("rgb", "bgr"):
            raise ValueError(f"color_order must be 'rgb' or 'bgr', not {color_order!r}")
        self.device = torch.device(device)
        if network is None:
            network = load_s3fd_network(weights_path, search_dirs, allow_download, self.device)
        # channels-last convolutions are about 25% faster on CPU (oneDNN) and on CUDA tensor cores.
        self.network = network.to(self.device, memory_format=torch.channels_last).eval().requires_grad_(False)
        self.cpu_batch_limit: int | None = CPU_BATCH
        self.batch_size = batch_size
        self.color_order = color_order
        self.score_threshold = score_threshold
        self._means = torch.tensor(S3FD_MEANS, device=self.device).view(1, 3, 1, 1)

    @property
    def batch_size(self) -> int:
        """Frames per network call: the requested batch size, at most ``cpu_batch_limit`` on the CPU."""
        if self.device.type == "cpu" and self.cpu_batch_limit is not None:
            return min(self._batch_size, self.cpu_batch_limit)
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self._batch_size = max(1, int(value))

    def _forward(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        batch = torch.from_numpy(np.stack(frames)).to(self.device)
        batch = batch.permute(0, 3, 1, 2).float()
        if self.color_order == "bgr":
            batch = batch.flip(1)
        batch = batch - self._means
        height, width = batch.shape[-2:]
        if min(height, width) < MIN_INPUT_SIDE:   # pad bottom/right with the mean colour: boxes do not move
            batch = F.pad(batch, (0, max(0, MIN_INPUT_SIDE - width), 0, max(0, MIN_INPUT_SIDE - height)))
        batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            outputs = self.network(batch)
            return decode_s3fd_outputs(outputs, self.score_threshold)

    def detect(self, batch: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        frames = [as_rgb_uint8_frame(frame, index) for index, frame in enumerate(batch)]
        results: list[np.ndarray] = []
        start = 0
        while start < len(frames):
            chunk = frames[start:start + self.batch_size]
            same_size = next((i for i, f in enumerate(chunk) if f.shape != chunk[0].shape), len(chunk))
            chunk = chunk[:same_size]
            try:
                results.extend(self._forward(chunk))
            except RuntimeError as error:
                if not is_out_of_memory(error):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if len(chunk) == 1:
                    height, width = chunk[0].shape[:2]
                    raise FaceDetectionError(
                        f"S3FD ran out of memory on a single {width}x{height} frame on {self.device}. Detect on a "
                        f"smaller copy (a lower detect_size, e.g. 640) or on the CPU.") from error
                self.batch_size = max(1, len(chunk) // 2)   # remembered for the following batches
                continue
            start += len(chunk)
        return results
