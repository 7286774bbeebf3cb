"""ComfyUI tensors <-> the engine's arrays. Pure layout and range conversion, nothing else.

ComfyUI IMAGE: torch float32 (B, H, W, C) RGB in 0..1 (C = 3; an alpha channel is dropped), on any device.
ComfyUI MASK: torch float32 (B, H, W) in 0..1. ComfyUI AUDIO: {"waveform": (B, C, T) float, "sample_rate": int}.
Engine frames: numpy uint8 (N, H, W, 3) RGB 0..255. Frames decoded from video are k / 255 exactly, so
``round(x * 255)`` gives the decoder's bytes back.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from wav2lip_core.audio import check_sample_rate
from wav2lip_core.compositing.tensor_resize import to_uint8_values


# Above this, an IMAGE's values are not 0..1 with a little overshoot (e.g. from an upscaler) but another range.
MAX_IMAGE_VALUE = 1.5


def check_image(image: torch.Tensor, what: str = "image") -> None:
    """Raise a clear error unless ``image`` is a ComfyUI IMAGE batch (B, H, W, 3 or 4) with B >= 1 of floats in
    0..1 (integer tensors are refused; of the values, the first frame's are checked, which costs little)."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{what}: expected a ComfyUI IMAGE tensor, got {type(image).__name__}")
    if image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise ValueError(f"{what}: expected an IMAGE batch (B, H, W, 3), got shape {tuple(image.shape)}")
    if image.shape[0] < 1:
        raise ValueError(f"{what}: the IMAGE batch is empty")
    if not image.is_floating_point():
        raise TypeError(f"{what}: a ComfyUI IMAGE holds float values 0..1, but this one holds {image.dtype} values "
                        f"(0..255?); the node that made it must convert it (divide by 255)")
    first_frame_peak = float(image[0, ..., :3].amax())
    if first_frame_peak > MAX_IMAGE_VALUE:
        raise ValueError(f"{what}: a ComfyUI IMAGE holds values 0..1, but its first frame reaches "
                         f"{first_frame_peak:g} (0..255 values?); the node that made it must divide by 255")


def image_to_uint8(image: torch.Tensor) -> np.ndarray:
    """IMAGE (B, H, W, 3|4) float 0..1 RGB -> new numpy uint8 (B, H, W, 3) RGB 0..255 (round(x * 255)).

    The input is not modified (ComfyUI caches it); convert a batch at a time to keep memory bounded.
    """
    return to_uint8_values(image[..., :3].detach().to("cpu"), torch.uint8).numpy()


def uint8_to_image(frames: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """numpy uint8 (B, H, W, 3) RGB 0..255 -> IMAGE float32 (B, H, W, 3) 0..1 (x / 255) on ``device``."""
    return (torch.from_numpy(np.ascontiguousarray(frames)).to(torch.float32) / 255.0).to(device)


def image_to_unit_float(image: torch.Tensor) -> np.ndarray:
    """IMAGE (B, H, W, 3|4) -> new numpy float32 (B, H, W, 3) RGB 0..1 (values kept as they are)."""
    return image[..., :3].detach().to(device="cpu", dtype=torch.float32).numpy().copy()


class Uint8Frames(Sequence):
    """A read-only view of an IMAGE batch as engine frames: ``frames[i]`` is uint8 (H, W, 3) RGB, converted on
    access, so a whole clip never exists twice in memory (the detector reads the frames it needs)."""

    def __init__(self, image: torch.Tensor, count: int | None = None):
        check_image(image)
        self._image = image
        self._count = image.shape[0] if count is None else max(0, min(int(count), image.shape[0]))

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._frames(index)
        index = int(index)
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"frame {index} out of range for {self._count} frames")
        return self._frame(index)

    def _frames(self, index: slice) -> np.ndarray:
        return image_to_uint8(self._image[:self._count][index])

    def _frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0 <= index < len)."""
        return image_to_uint8(self._image[index:index + 1])[0]

    @property
    def image(self) -> torch.Tensor:
        """The IMAGE batch the frames are read from."""
        return self._image

    @property
    def height(self) -> int:
        return int(self._image.shape[1])

    @property
    def width(self) -> int:
        return int(self._image.shape[2])


def audio_to_numpy(audio: dict | None) -> tuple[np.ndarray, float]:
    """ComfyUI AUDIO -> (channels, samples) numpy of batch item 0 and its sample rate (Hz, in SAMPLE_RATE_RANGE).

    Float samples stay floats (nominally -1..1); integer PCM (some video decoders hand it over unconverted)
    stays integer so the engine scales it by its full-scale value. A batch of several clips is refused
    (lip-sync needs one voice track), and so is a missing track, with a message saying what to connect.
    """
    if audio is None:
        raise ValueError("audio: there is no audio (a video without a sound track gives none); connect a "
                         "Load Audio node or a text-to-speech node instead")
    if not isinstance(audio, dict) or "waveform" not in audio:
        raise TypeError("audio: expected a ComfyUI AUDIO, a dict with 'waveform' (B, C, T) and 'sample_rate'")
    if audio.get("sample_rate") is None:
        raise ValueError("audio: this AUDIO has no sample rate ('sample_rate' is missing), so its speed is unknown; "
                         "the node that made it must set one")
    sample_rate = check_sample_rate(audio["sample_rate"], "audio")
    waveform = audio["waveform"]
    if not isinstance(waveform, torch.Tensor):
        waveform = torch.as_tensor(np.asarray(waveform))
    if waveform.ndim == 2:
        waveform = waveform[None]
    if waveform.ndim != 3:
        raise ValueError(f"audio: waveform must be (batch, channels, samples), got shape {tuple(waveform.shape)}")
    if waveform.shape[0] != 1:
        raise ValueError(f"audio: got a batch of {waveform.shape[0]} audio clips; lip-sync needs one voice track. "
                         f"Pick or join the clip you want first.")
    samples = waveform[0].detach().cpu()
    if samples.is_floating_point() and samples.dtype not in (torch.float32, torch.float64):
        samples = samples.to(torch.float32)      # float16 / bfloat16 have no numpy twin
    return samples.numpy().copy(), sample_rate
