"""The one content check every checkpoint passes before it is recorded as verified or loaded into a network:
the right network (recognised from its keys), its exact layout (keys and shapes of a freshly built network),
and values a trained network can hold (finite everywhere)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from .architectures import WAV2LIP, Architecture, architecture, identify_architecture
from .reading import StateDict, CheckpointError

GENERATOR_HINT = ("Get the official Wav2Lip checkpoint (wav2lip_gan.pth for the best-looking mouths, or wav2lip.pth "
                  "for the most accurate sync; research and non-commercial use only) and put it in ComfyUI's "
                  "models/wav2lip folder or this pack's weights/ folder. See weights/README.md.")


def non_finite_keys(state_dict: StateDict) -> list[str]:
    """Keys of floating tensors holding NaN or +-inf. A finite sum proves a tensor finite (any NaN or inf makes
    the sum NaN or inf) and is several times faster than ``isfinite`` on every element; only tensors whose sum
    is not finite (overflow, or a real NaN/inf) are checked element by element."""
    suspects = [key for key, tensor in state_dict.items()
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor.sum(dtype=torch.float32)))]
    return [key for key in suspects if not bool(torch.isfinite(state_dict[key]).all())]


def layout_problems(state_dict: Mapping[str, torch.Tensor], reference_shapes: Mapping[str, torch.Size]) -> list[str]:
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


def check_state_dict(state_dict: StateDict, path: str | Path, expected: str | None = None) -> Architecture:
    """Raise CheckpointError unless ``state_dict`` (read from ``path``) holds a usable network of the
    architecture ``expected`` (any registered one if None); returns the architecture found."""
    found = identify_architecture(state_dict)
    if expected is not None and found.id != expected:
        hint = f" {GENERATOR_HINT}" if expected == WAV2LIP else ""
        raise CheckpointError(f"{path}: this file is {found.description}, but {architecture(expected).description} "
                              f"is needed here.{hint}")
    reference = found.reference_shapes()
    if reference is not None:
        problems = layout_problems(state_dict, reference)
        if problems:
            raise CheckpointError(f"{path}: looks like {found.description} but does not match its layout: "
                                  f"{'; '.join(problems)}. It may be a modified or different-resolution variant.")
    bad = non_finite_keys(state_dict)
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} tensors hold NaN or infinite values (e.g. {bad[0]}); the file is "
                              f"corrupted. Delete it and download it again.")
    return found
