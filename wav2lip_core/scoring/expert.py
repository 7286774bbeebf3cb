"""Lip-sync scores with Wav2Lip's own lip-sync expert (SyncNet_color, ``lipsync_expert.pth``).

Same windows, offsets and statistics as SyncNet v2 (``evaluate.py``), but the expert's inputs and metric:

* face window ``i``: frames ``i .. i+4`` as 96x96 face crops (the face box resized, as Wav2Lip crops faces),
  flipped to **BGR**, scaled to **0..1** (``uint8 / 255``), lower half only (rows 48..95), stacked on channels
  in time order (frame 0 B,G,R, frame 1 B,G,R, ...) -> float32 ``(B, 15, 48, 96)``;
* audio window ``i``: Wav2Lip's mel spectrogram (``audio.melspectrogram``, 80 columns per second) from column
  ``int(80 * (i / 25))`` (the expert's training arithmetic in color_syncnet_train.py), 16 columns (200 ms)
  -> float32 ``(B, 1, 80, 16)``;
* distance = ``1 - cosine similarity`` of the two L2-normalised embeddings (the expert is trained on the
  cosine as an in-sync probability), so ``min_dist`` lies in [0, 1] for in-clip audio and zero-padded audio
  scores 1.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from ..audio import MEL_FRAMES_PER_SECOND, MEL_STEP_SIZE, melspectrogram
from ..compositing.faces import UINT8_TO_UNIT
from ..runtime.batching import HalvingBatches
from .evaluate import (DEFAULT_BATCH_SIZE, DEFAULT_VSHIFT, VIDEO_FPS, WINDOW_FRAMES, Progress, SyncScore,
                       model_device_dtype, mono_samples, score_windows)
from .mfcc import INT16_SCALE

EXPERT_FACE_SIZE = 96


def expert_mel_start(window_index: int) -> int:
    """First mel column of audio window ``window_index`` (Wav2Lip's ``crop_audio_window``, 25 fps)."""
    return int(float(MEL_FRAMES_PER_SECOND) * (window_index / float(VIDEO_FPS)))


def expert_face_input(windows_rgb: np.ndarray) -> torch.Tensor:
    """(B, 5, 96, 96, 3) uint8 RGB crops -> (B, 15, 48, 96) float32 BGR 0..1 lower halves, time-major channels."""
    if windows_rgb.shape[1:] != (WINDOW_FRAMES, EXPERT_FACE_SIZE, EXPERT_FACE_SIZE, 3):
        raise ValueError(f"expected (B, 5, 96, 96, 3) face windows, got {windows_rgb.shape}")
    lower_bgr = windows_rgb[:, :, EXPERT_FACE_SIZE // 2:, :, ::-1]               # (B, 5, 48, 96, 3)
    unit = UINT8_TO_UNIT[lower_bgr]                                             # float32 0..1
    channels_first = unit.transpose(0, 1, 4, 2, 3)                              # (B, 5, 3, 48, 96)
    return torch.from_numpy(np.ascontiguousarray(channels_first).reshape(len(unit), 15, 48, 96))


def expert_mel_input(mel: np.ndarray, first_window: int, count: int) -> torch.Tensor:
    """(80, T) mel + window range -> (count, 1, 80, 16) float32 audio windows."""
    starts = [expert_mel_start(index) for index in range(first_window, first_window + count)]
    return torch.from_numpy(np.stack([mel[:, start:start + MEL_STEP_SIZE] for start in starts])[:, None])


def score_lipsync_expert(model: torch.nn.Module, face_crops: Iterable[np.ndarray], wav_16k: np.ndarray, *,
                         vshift: int = DEFAULT_VSHIFT, batch_size: int = DEFAULT_BATCH_SIZE,
                         progress: Progress | None = None, batches: HalvingBatches | None = None,
                         num_frames: int | None = None) -> SyncScore:
    """AV offset / confidence / min distance with Wav2Lip's expert (see module docstring).

    model: a SyncNetColor in eval mode (``forward(mel (B, 1, 80, 16), faces (B, 15, 48, 96))`` ->
        (audio embedding, face embedding)), on any device/dtype.
    face_crops: uint8 RGB (96, 96, 3) crops, one per video frame at 25 fps (any iterable; read lazily).
    wav_16k: mono 16 kHz audio, float32 in [-1, 1] or int16 samples (read as int16 / 32768).
    num_frames: how many crops come, when known (only sizes the progress total).
    """
    samples = mono_samples(wav_16k)
    if np.issubdtype(samples.dtype, np.integer):                                # the mel spectrogram takes [-1, 1]
        samples = (samples.astype(np.float64) / INT16_SCALE).astype(np.float32)
    mel = melspectrogram(samples)                                               # (80, T) in [-4, 4]
    device, dtype = model_device_dtype(model)

    def embed_batch(windows_rgb: np.ndarray, first_window: int) -> tuple[torch.Tensor, torch.Tensor]:
        faces = expert_face_input(windows_rgb).to(device=device, dtype=dtype)
        mels = expert_mel_input(mel, first_window, len(windows_rgb)).to(device=device, dtype=dtype)
        with torch.inference_mode():
            audio_embedding, face_embedding = model(mels, faces)
        return face_embedding, audio_embedding

    return score_windows(face_crops, len(samples), embed_batch, vshift=vshift, batch_size=batch_size,
                         metric="cosine", model="lipsync_expert", progress=progress, batches=batches,
                         num_frames=num_frames)
