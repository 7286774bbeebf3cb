"""The custom ComfyUI types of this pack and the small read-only records they carry between nodes.

ComfyUI caches node outputs and may hand one output to several nodes, so every array here is read-only.
Boxes are (y1, y2, x1, x2) int64 full-frame pixels (crop = frame[y1:y2, x1:x2]), the engine's convention.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wav2lip_core.silence import pasted_frames

CATEGORY = "Wav2Lip"

# Type names as they appear on the sockets of the editor.
WAV2LIP_MODEL = "WAV2LIP_MODEL"    # a loaded generator (LoadWav2LipModel -> Wav2LipSync)
WAV2LIP_MEL = "WAV2LIP_MEL"        # mel chunks, one per output video frame (AudioToMel -> Wav2LipSync)
WAV2LIP_FACES = "WAV2LIP_FACES"    # one face box per input frame (DetectFaces -> Wav2LipSync)
WAV2LIP_SYNC = "WAV2LIP_SYNC"      # which frame and box every output frame uses (Wav2LipSync -> PasteBack)

CUSTOM_TYPES = (WAV2LIP_MODEL, WAV2LIP_MEL, WAV2LIP_FACES, WAV2LIP_SYNC)


def read_only(array: np.ndarray, dtype: Any) -> np.ndarray:
    """A read-only, C-contiguous copy of ``array`` in ``dtype`` (outputs are shared, never changed)."""
    copy = np.array(array, dtype=dtype, copy=True, order="C")
    copy.setflags(write=False)
    return copy


@dataclass(frozen=True, eq=False)
class Wav2LipModel:
    """WAV2LIP_MODEL: the generator, wrapped for ComfyUI's model management (see model_management.ManagedModel).

    ``managed.load()`` puts it on the compute device and returns the torch module (float ``dtype``).
    """
    managed: Any            # model_management.ManagedModel
    path: Path
    dtype: torch.dtype

    def __repr__(self) -> str:
        return f"Wav2LipModel({self.path.name}, {str(self.dtype).removeprefix('torch.')})"


@dataclass(frozen=True, eq=False)
class MelChunks:
    """WAV2LIP_MEL: chunks (M, 80, 16) float32 in [-4, 4], chunk i drives output frame i; ``fps`` they were cut for;
    ``loudness_dbfs`` (M,) the level of the audio under each chunk (silence.chunk_loudness_dbfs), None when unknown."""
    chunks: np.ndarray
    fps: float
    audio_seconds: float
    loudness_dbfs: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunks", read_only(self.chunks, np.float32))
        if self.chunks.ndim != 3 or self.chunks.shape[1:] != (80, 16):
            raise ValueError(f"mel chunks must be (M, 80, 16), got {self.chunks.shape}")
        if self.loudness_dbfs is not None:
            object.__setattr__(self, "loudness_dbfs", read_only(np.reshape(self.loudness_dbfs, (-1,)), np.float64))
            if len(self.loudness_dbfs) != len(self.chunks):
                raise ValueError(f"{len(self.loudness_dbfs)} loudness values for {len(self.chunks)} mel chunks")

    @property
    def num_frames(self) -> int:
        return int(self.chunks.shape[0])

    def __repr__(self) -> str:
        return f"MelChunks({self.num_frames} frames at {self.fps:g} fps, {self.audio_seconds:.2f} s of audio)"


@dataclass(frozen=True, eq=False)
class FaceBoxes:
    """WAV2LIP_FACES: one box per input frame. boxes (N, 4) int64 (y1, y2, x1, x2); found (N,) bool
    (False: no face, the frame passes through unchanged); the size of the frames they were found in."""
    boxes: np.ndarray
    found: np.ndarray
    frame_height: int
    frame_width: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", read_only(np.reshape(self.boxes, (-1, 4)), np.int64))
        object.__setattr__(self, "found", read_only(np.reshape(self.found, (-1,)), bool))
        if len(self.boxes) != len(self.found):
            raise ValueError(f"{len(self.boxes)} boxes but {len(self.found)} found flags")

    @property
    def num_frames(self) -> int:
        return int(len(self.found))

    def __repr__(self) -> str:
        return (f"FaceBoxes({self.num_frames} frames of {self.frame_width}x{self.frame_height}, "
                f"{int(self.found.sum())} with a face)")


@dataclass(frozen=True, eq=False)
class SyncPlan:
    """WAV2LIP_SYNC: for every output frame i, the input frame it shows (``source_frames[i]``), its face box
    ``boxes[i]``, whether it has a face (``found[i]``) and how much of the generated mouth goes into it
    (``paste_weights[i]``, 0..1: below 1 in the cross-fades of silence ``keep``, 0 in its pauses, where the frame
    stays the input frame); ``loop`` is the loop mode that produced it; ``fps`` the frame rate of the mel chunks
    (the video must be made at it). PasteBack follows all of it without asking again."""
    source_frames: np.ndarray
    boxes: np.ndarray
    found: np.ndarray
    frame_height: int
    frame_width: int
    num_input_frames: int
    loop: str
    paste_weights: np.ndarray | None = None          # None: 1 for every frame
    fps: float | None = None                          # the frame rate of the speech it was made for (None: unknown)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_frames", read_only(self.source_frames, np.int64))
        object.__setattr__(self, "boxes", read_only(np.reshape(self.boxes, (-1, 4)), np.int64))
        object.__setattr__(self, "found", read_only(self.found, bool))
        weights = np.ones(len(self.source_frames)) if self.paste_weights is None else self.paste_weights
        object.__setattr__(self, "paste_weights", read_only(np.clip(weights, 0.0, 1.0), np.float32))
        if not (len(self.source_frames) == len(self.boxes) == len(self.found) == len(self.paste_weights)):
            raise ValueError("source_frames, boxes, found and paste_weights must have one entry per output frame")

    @property
    def num_frames(self) -> int:
        return int(len(self.source_frames))

    @property
    def pasted(self) -> np.ndarray:
        """bool (M,): the output frames that get a generated mouth (silence.pasted_frames)."""
        return pasted_frames(self.found, self.paste_weights)

    def __repr__(self) -> str:
        return (f"SyncPlan({self.num_frames} output frames from {self.num_input_frames} input frames, "
                f"loop={self.loop})")
