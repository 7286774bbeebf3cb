"""Reading, recognising and loading Wav2Lip-family checkpoints, safely.

Accepted containers: the official ``{"state_dict": ...}`` dict (optimizer state and counters are ignored),
a bare state dict, keys with or without the ``module.`` prefix of DataParallel, ``.safetensors`` files, and
float16 / bfloat16 tensors. Pickles are read with ``torch.load(weights_only=True)``: a file that needs
arbitrary Python objects is refused, never executed. What a file is gets recognised from its keys
(spandrel-style), so handing the wrong file gives a message that says what it is.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .models import SyncNetColor, Wav2Lip

StateDict = dict[str, torch.Tensor]

# Architectures the recogniser knows, with a sentence a user understands.
WAV2LIP = "wav2lip"
SYNCNET = "syncnet"
VISUAL_DISCRIMINATOR = "wav2lip_disc_qual"
S3FD = "s3fd"
UNKNOWN = "unknown"

ARCHITECTURE_DESCRIPTIONS: dict[str, str] = {
    WAV2LIP: "the Wav2Lip generator (wav2lip.pth / wav2lip_gan.pth)",
    SYNCNET: "the SyncNet lip-sync expert (lipsync_expert.pth), used only for training and sync scoring",
    VISUAL_DISCRIMINATOR: "the visual-quality discriminator (visual_quality_disc.pth), used only for training",
    S3FD: "the S3FD face detector (s3fd.pth), which belongs in the face-detection weights, not the generator",
    UNKNOWN: "no Wav2Lip-family network this pack knows",
}

# One key that only that architecture has, plus one that confirms it.
_SIGNATURE_KEYS: dict[str, tuple[str, ...]] = {
    WAV2LIP: ("face_decoder_blocks.0.0.conv_block.0.weight", "audio_encoder.12.conv_block.0.weight"),
    SYNCNET: ("face_encoder.16.conv_block.0.weight", "audio_encoder.13.conv_block.0.weight"),
    VISUAL_DISCRIMINATOR: ("binary_pred.0.weight", "face_encoder_blocks.0.0.conv_block.0.weight"),
    S3FD: ("conv1_1.weight", "conv3_3_norm.weight"),
}

GET_WEIGHTS_HINT = (
    "Get the official Wav2Lip checkpoint (wav2lip_gan.pth for the best-looking mouths, or wav2lip.pth for the "
    "most accurate sync; research and non-commercial use only) and put it in ComfyUI's models/wav2lip folder "
    "or this pack's weights/ folder. See weights/README.md.")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and says what to do."""


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    architecture: str          # one of WAV2LIP, SYNCNET, VISUAL_DISCRIMINATOR, S3FD, UNKNOWN
    num_tensors: int
    dtypes: tuple[str, ...]    # floating dtypes found, e.g. ("float32",)
    all_finite: bool

    @property
    def description(self) -> str:
        return ARCHITECTURE_DESCRIPTIONS[self.architecture]


def _sniff(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(64)


def _looks_like_text_page(head: bytes) -> bool:
    lowered = head.lstrip().lower()
    return lowered.startswith((b"<!doctype", b"<html", b"<?xml", b"{\"error", b"<head")) or b"<html" in lowered


def _read_raw(path: Path) -> object:
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes), probably a failed download. {GET_WEIGHTS_HINT}")
    head = _sniff(path)
    if _looks_like_text_page(head):
        raise CheckpointError(
            f"{path}: this is a web page (HTML), not a checkpoint: the download link returned an error or a "
            f"sign-in page instead of the file. Delete it. {GET_WEIGHTS_HINT}")
    if path.suffix.lower() == ".safetensors" or (len(head) > 8 and head[8:9] == b"{"):
        try:
            from safetensors.torch import load_file
            return load_file(str(path), device="cpu")
        except Exception as error:  # safetensors raises its own error types
            raise CheckpointError(
                f"{path}: not a readable .safetensors file ({error}); it may be truncated "
                f"({size / 2**20:.1f} MiB on disk). {GET_WEIGHTS_HINT}") from error
    is_zip = head.startswith(b"PK")
    is_pickle = head[:1] == b"\x80"
    if not (is_zip or is_pickle):
        raise CheckpointError(
            f"{path}: not a PyTorch or safetensors file (it starts with {head[:16]!r}). {GET_WEIGHTS_HINT}")
    if is_zip and not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path}: the file is truncated (only {size / 2**20:.1f} MiB arrived; the official Wav2Lip "
            f"checkpoints are about 140-420 MiB). Delete it and download it again. {GET_WEIGHTS_HINT}")
    try:
        # Zip-format files are memory-mapped: tensors are read straight from the page cache, not copied twice.
        return torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused: loading it would need arbitrary Python objects to be unpickled, which could run "
            f"code on your machine. It was not executed. Use a checkpoint that holds only tensors "
            f"(or convert a trusted one to .safetensors). Detail: {str(error).splitlines()[0]}") from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch checkpoint ({str(error).splitlines()[0]}); it is probably "
            f"truncated or corrupted ({size / 2**20:.1f} MiB on disk). {GET_WEIGHTS_HINT}") from error


def _strip_prefix(key: str) -> str:
    return key[len("module."):] if key.startswith("module.") else key


def read_state_dict(path: str | os.PathLike) -> StateDict:
    """Tensors of a checkpoint file, keyed by bare module names (container and ``module.`` removed)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file. {GET_WEIGHTS_HINT}")
    raw = _read_raw(path)
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"{path}: holds {type(raw).__name__}, not a dictionary of tensors. {GET_WEIGHTS_HINT}")
    tensors = {_strip_prefix(str(key)): value for key, value in raw.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: holds no tensors (keys: {list(raw)[:5]}). {GET_WEIGHTS_HINT}")
    return tensors


def identify_architecture(state_dict: StateDict) -> str:
    """Which network a state dict belongs to, from its keys (bare names)."""
    for architecture, keys in _SIGNATURE_KEYS.items():
        if all(key in state_dict for key in keys):
            return architecture
    return UNKNOWN


def inspect_checkpoint(path: str | os.PathLike) -> CheckpointInfo:
    """Read a file and say what it is; raises CheckpointError for files that are not checkpoints at all."""
    state_dict = read_state_dict(path)
    floats = [t for t in state_dict.values() if t.is_floating_point()]
    return CheckpointInfo(
        path=Path(path),
        architecture=identify_architecture(state_dict),
        num_tensors=len(state_dict),
        dtypes=tuple(sorted({str(t.dtype).removeprefix("torch.") for t in floats})),
        all_finite=not non_finite_keys(state_dict),
    )


def non_finite_keys(state_dict: StateDict) -> list[str]:
    """Keys of floating tensors holding NaN or +-inf. A finite sum proves a tensor finite (any NaN or inf makes
    the sum NaN or inf) and is several times faster than ``isfinite`` on every element; only tensors whose sum
    is not finite (overflow, or a real NaN/inf) are checked element by element."""
    suspects = [key for key, tensor in state_dict.items()
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor.sum(dtype=torch.float32)))]
    return [key for key in suspects if not bool(torch.isfinite(state_dict[key]).all())]


def layout_problems(state_dict: StateDict, reference_shapes: dict[str, torch.Size]) -> list[str]:
    """How a state dict's keys and shapes differ from a network's (BatchNorm counters may be absent)."""
    missing = sorted(k for k in set(reference_shapes) - set(state_dict) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state_dict) - set(reference_shapes))
    reshaped = sorted(k for k in set(reference_shapes) & set(state_dict)
                      if tuple(reference_shapes[k]) != tuple(state_dict[k].shape))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if reshaped:
        key = reshaped[0]
        problems.append(f"{len(reshaped)} with another shape (e.g. {key}: {tuple(state_dict[key].shape)} "
                        f"instead of {tuple(reference_shapes[key])})")
    return problems


def _wrong_file_message(path: Path, expected: str, found: str) -> str:
    return (f"{path}: this file is {ARCHITECTURE_DESCRIPTIONS[found]}, but {ARCHITECTURE_DESCRIPTIONS[expected]} "
            f"is needed here. {GET_WEIGHTS_HINT if expected == WAV2LIP else ''}").rstrip()


def load_into(model: nn.Module, state_dict: StateDict, path: Path, expected: str) -> nn.Module:
    """Strictly load ``state_dict`` into ``model``; every mismatch becomes a CheckpointError naming the file."""
    found = identify_architecture(state_dict)
    if found != expected:
        raise CheckpointError(_wrong_file_message(path, expected, found))
    reference = model.state_dict()
    # Files saved before torch 0.4.1 have no BatchNorm counters; eval-mode BatchNorm does not use them.
    state_dict = dict(state_dict)
    for key in reference:
        if key.endswith("num_batches_tracked") and key not in state_dict:
            state_dict[key] = torch.zeros((), dtype=torch.long)
    problems = layout_problems(state_dict, {key: value.shape for key, value in reference.items()})
    if problems:
        raise CheckpointError(f"{path}: looks like {ARCHITECTURE_DESCRIPTIONS[expected]} but does not match its "
                              f"layout: {'; '.join(problems)}. It may be a modified or different-resolution variant.")
    bad = non_finite_keys(state_dict)
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} tensors hold NaN or infinite values (e.g. {bad[0]}); the file is "
                              f"corrupted. Delete it and download it again.")
    # assign=True adopts the file's tensors, so a model built on the meta device costs no random init.
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model


def _empty(architecture: type[nn.Module]) -> nn.Module:
    """The network's structure without allocating or initialising weights (they come from the file)."""
    with torch.device("meta"):
        return architecture()


def load_wav2lip(path: str | os.PathLike, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, fast: bool = True) -> Wav2Lip:
    """The Wav2Lip generator from a checkpoint file, on ``device`` in ``dtype``, in eval mode.

    fast=True (default) folds BatchNorm into the convolutions and stores weights channels-last
    (wav2lip_core.fast_inference): the same outputs within float rounding, ~25% faster on CPU; the model's
    state dict then lacks the BatchNorm entries. fast=False keeps the original module layout.
    """
    path = Path(path)
    model = load_into(_empty(Wav2Lip), read_state_dict(path), path, WAV2LIP).float()
    if fast:
        from .fast_inference import prepare_for_inference
        return prepare_for_inference(model, device, dtype)
    return model.to(device=device).set_precision(dtype).eval().requires_grad_(False)


def load_syncnet(path: str | os.PathLike, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> SyncNetColor:
    """The SyncNet_color lip-sync expert from a checkpoint file, in eval mode."""
    path = Path(path)
    model = load_into(_empty(SyncNetColor), read_state_dict(path), path, SYNCNET)
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


def convert_to_safetensors(source: str | os.PathLike, destination: str | os.PathLike,
                           dtype: torch.dtype = torch.float16) -> Path:
    """Write a checkpoint's tensors as ``.safetensors`` with bare keys; floats cast to ``dtype``.

    Only Wav2Lip and SyncNet files are converted (the architecture is checked first).
    """
    from safetensors.torch import save_file

    if dtype not in (torch.float16, torch.float32, torch.bfloat16):
        raise ValueError(f"dtype must be float16, bfloat16 or float32, not {dtype}")
    source, destination = Path(source), Path(destination)
    state_dict = read_state_dict(source)
    architecture = identify_architecture(state_dict)
    model = {WAV2LIP: Wav2Lip, SYNCNET: SyncNetColor}.get(architecture)
    if model is None:
        raise CheckpointError(f"{source}: is {ARCHITECTURE_DESCRIPTIONS[architecture]}; only the Wav2Lip generator "
                              f"and the SyncNet expert are converted.")
    load_into(_empty(model), state_dict, source, architecture)  # validates layout and values
    converted = {k: (t.to(dtype) if t.is_floating_point() else t).contiguous() for k, t in state_dict.items()}
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(destination.name + ".partial")
    save_file(converted, str(temporary), metadata={"architecture": architecture, "source": source.name})
    os.replace(temporary, destination)
    return destination
