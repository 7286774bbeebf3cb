"""Stand-in scoring networks for tests: they see only what the scorer must keep aligned (is a frame bright, is its
40 ms of audio loud), so an offset between a clip's pictures and sound shows up exactly in the scores."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


class LoudnessBrightnessSyncNetV2(nn.Module):
    """Stand-in SyncNet v2 that sees only what the scorer must keep aligned: per video frame of a window, the
    lips embedding says "bright frame" and the audio embedding "loud 40 ms" (MFCC coefficient 0 is log energy)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.largest_lip_batch = 0

    def forward_lips(self, lips: torch.Tensor) -> torch.Tensor:           # (B, 3, 5, H, W) BGR 0..255
        self.largest_lip_batch = max(self.largest_lip_batch, len(lips))
        return (lips.mean(dim=(1, 3, 4)) > 127).float()

    def forward_audio(self, mfcc_windows: torch.Tensor) -> torch.Tensor:  # (B, 1, 13, 20)
        log_energy = mfcc_windows[:, 0, 0, :].reshape(-1, 5, 4)[:, :, :2].mean(dim=2)
        return (log_energy > 18).float()


class LoudnessBrightnessExpert(nn.Module):
    """The same stand-in for Wav2Lip's expert interface: forward(mel, faces) -> (audio, face) embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, mels: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.inputs.append((mels, faces))
        columns = [round(3.2 * frame + 1.6) for frame in range(5)]       # the mel column centred on each frame
        loud = (mels[:, 0, :, columns].mean(dim=1) > -1.0).float()
        bright = (faces.reshape(len(faces), 5, 3, 48, 96).mean(dim=(2, 3, 4)) > 0.5).float()
        return loud, bright


def audio_leading_clip(lead_frames: int, num_frames: int = 60, size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Frames that light up ``lead_frames`` frames after the audio gets loud (the audio leads): uint8 RGB
    (N, size, size, 3) grey 50 or 200, and float32 16 kHz audio with a noise burst in each loud frame's 40 ms."""
    generator = np.random.default_rng(1)
    loud = generator.integers(0, 2, num_frames)
    bright = np.concatenate([generator.integers(0, 2, lead_frames), loud[:num_frames - lead_frames]])
    frames = np.where(bright[:, None, None, None] == 1, 200, 50).astype(np.uint8) * np.ones((1, size, size, 3),
                                                                                          np.uint8)
    wav = (generator.standard_normal(num_frames * 640) * 0.001).astype(np.float32)
    for frame in np.flatnonzero(loud):
        wav[frame * 640 + 160:frame * 640 + 480] = generator.standard_normal(320) * 0.3
    return frames, wav
