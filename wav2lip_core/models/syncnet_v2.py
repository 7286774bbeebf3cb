"""SyncNet v2 (Chung & Zisserman, "Out of time", 2016): the network behind the LSE-D / LSE-C lip-sync metrics.

Written for this pack from the architecture of joonson/syncnet_python (MIT); no code is taken from it. Module
and parameter names follow the state dict of ``syncnet_v2.model`` (``netcnnaud.*``, ``netfcaud.*``,
``netcnnlip.*``, ``netfclip.*``, with the same ``nn.Sequential`` indices, ReLU and pooling layers counted), so
the published file loads with strict key matching (``checkpoints.load_syncnet_v2``).

Inputs at the boundary
----------------------
* lips: float32 ``(B, 3, 5, 224, 224)`` = (batch, channel, time, height, width): 5 consecutive 224x224 face
  crops, channels in **BGR** order (the reference reads frames with OpenCV), values **0..255** (not
  normalised; the network was trained on raw pixel values).
* audio: float32 ``(B, 1, 13, 20)``: 13 MFCC coefficients (rows) x 20 MFCC frames (10 ms apart, = 200 ms = 5
  video frames at 25 fps), as ``scoring.mfcc.mfcc`` computes them from 16 kHz audio at int16 scale.
Outputs: ``(B, 1024)`` float32 embeddings for each stream (not normalised; compared by Euclidean distance).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

EMBEDDING_SIZE = 1024
LIP_WINDOW_FRAMES = 5        # video frames per window (200 ms at 25 fps)
LIP_CROP_SIZE = 224          # crop side in pixels
MFCC_WINDOW_FRAMES = 20      # MFCC frames per window: 4 per video frame (100 MFCC frames/s, 25 video frames/s)
# Activation memory of one window in float32: its input (3 MiB) and the first block's convolution, BatchNorm and
# ReLU maps (96 x 109 x 109, 4.4 MiB each) are alive at once; 16 MiB leaves a margin.
WORKING_BYTES_PER_WINDOW_FP32 = 16 * 2**20


def working_memory_bytes(num_windows: int) -> int:
    """Device memory the network's activations need for a batch of ``num_windows`` windows in float32 (for a
    model manager that must make room first)."""
    return WORKING_BYTES_PER_WINDOW_FP32 * max(1, int(num_windows))

# Layer specifications, in order. ("conv", cin, cout, kernel, stride, padding) adds Conv -> BatchNorm -> ReLU
# (three Sequential entries, as the published state dict counts them); ("pool", kernel, stride, padding) adds
# a MaxPool (one entry).
_LayerSpec = tuple
_AUDIO_TRUNK: list[_LayerSpec] = [
    ("conv", 1, 64, (3, 3), (1, 1), (1, 1)), ("pool", (1, 1), (1, 1), 0),
    ("conv", 64, 192, (3, 3), (1, 1), (1, 1)), ("pool", (3, 3), (1, 2), 0),
    ("conv", 192, 384, (3, 3), (1, 1), (1, 1)),
    ("conv", 384, 256, (3, 3), (1, 1), (1, 1)),
    ("conv", 256, 256, (3, 3), (1, 1), (1, 1)), ("pool", (3, 3), (2, 2), 0),
    ("conv", 256, 512, (5, 4), (1, 1), (0, 0)),
]
_LIP_TRUNK: list[_LayerSpec] = [
    ("conv", 3, 96, (5, 7, 7), (1, 2, 2), (0, 0, 0)), ("pool", (1, 3, 3), (1, 2, 2), 0),
    ("conv", 96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), ("pool", (1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)), ("pool", (1, 3, 3), (1, 2, 2), 0),
    ("conv", 256, 512, (1, 6, 6), (1, 1, 1), (0, 0, 0)),
]


def _trunk(specs: Sequence[_LayerSpec], volumetric: bool) -> nn.Sequential:
    """A conv trunk from layer specs; 3-D layers for the lip stream (time is a dimension), 2-D for audio."""
    conv, norm, pool = (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d) if volumetric else \
        (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
    layers: list[nn.Module] = []
    for spec in specs:
        if spec[0] == "conv":
            _, cin, cout, kernel, stride, padding = spec
            layers += [conv(cin, cout, kernel, stride, padding), norm(cout), nn.ReLU()]
        else:
            _, kernel, stride, padding = spec
            layers.append(pool(kernel, stride, padding))
    return nn.Sequential(*layers)


def _embedding_head() -> nn.Sequential:
    """512 trunk features -> 1024-d embedding (Linear, BatchNorm1d, ReLU, Linear)."""
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, EMBEDDING_SIZE))


class SyncNetV2(nn.Module):
    """Two streams into one 1024-d space: 5-frame lip windows and 200 ms MFCC windows (see module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.netcnnaud = _trunk(_AUDIO_TRUNK, volumetric=False)
        self.netfcaud = _embedding_head()
        self.netfclip = _embedding_head()
        self.netcnnlip = _trunk(_LIP_TRUNK, volumetric=True)

    def forward_audio(self, mfcc_windows: torch.Tensor) -> torch.Tensor:
        """(B, 1, 13, 20) MFCC windows -> (B, 1024) audio embeddings."""
        return self.netfcaud(self.netcnnaud(mfcc_windows).flatten(1))

    def forward_lips(self, lip_windows: torch.Tensor) -> torch.Tensor:
        """(B, 3, 5, 224, 224) BGR 0..255 lip windows -> (B, 1024) video embeddings."""
        return self.netfclip(self.netcnnlip(lip_windows).flatten(1))

    def forward(self, mfcc_windows: torch.Tensor, lip_windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_audio(mfcc_windows), self.forward_lips(lip_windows)
