"""The one content check every checkpoint passes before it is recorded as verified or loaded into a network:
the right network (recognised from its keys), its exact layout (keys and shapes of a freshly built network),
and values a trained network can hold (finite everywhere, BatchNorm variances never negative, no absurd
magnitudes)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch

from .architectures import WAV2LIP, Architecture, architecture, identify_architecture
from .reading import StateDict, CheckpointError

GENERATOR_HINT = ("Get the official Wav2Lip checkpoint (wav2lip_gan.pth for the best-looking mouths, or wav2lip.pth "
                  "for the most accurate sync; research and non-commercial use only) and put it in ComfyUI's "
                  "models/wav2lip folder or this pack's weights/ folder. See weights/README.md.")


def value_ranges(state_dict: StateDict) -> dict[str, tuple[float, float]]:
    """(lowest, highest) value of every non-empty floating tensor, one pass each without a copy; a tensor holding
    a NaN gives (nan, nan), one holding +-inf gives that infinity."""
    return {key: tuple(float(v) for v in torch.aminmax(tensor)) for key, tensor in state_dict.items()
            if tensor.is_floating_point() and tensor.numel()}


def non_finite_keys(ranges: dict[str, tuple[float, float]]) -> list[str]:
    """Keys of floating tensors holding NaN or +-inf (``ranges``: ``value_ranges(state_dict)``)."""
    return [key for key, (low, high) in ranges.items() if not (math.isfinite(low) and math.isfinite(high))]


# The largest magnitude a stored value of a trained network may have. Trained weights are of order 1 (S3FD's
# L2Norm scales are 10 at most) and BatchNorm statistics are those of the activations they normalise (variances
# of at most a few thousand); 1e6 leaves orders of magnitude of room above both, while a corrupted or wrongly
# scaled file (a flipped exponent bit multiplies a value by 2^16 or more) paints a black or saturated mouth.
MAX_PLAUSIBLE_MAGNITUDE = 1e6


def implausible_value_problems(ranges: dict[str, tuple[float, float]]) -> list[str]:
    """What no trained network holds, from ``value_ranges`` of finite tensors: negative BatchNorm running
    variances (a variance is never below 0), and values beyond MAX_PLAUSIBLE_MAGNITUDE."""
    negative = [key for key, (low, _) in ranges.items() if key.endswith("running_var") and low < 0]
    huge = [key for key, (low, high) in ranges.items() if max(-low, high) > MAX_PLAUSIBLE_MAGNITUDE]
    problems = []
    if negative:
        problems.append(f"{len(negative)} BatchNorm variance tensor(s) hold negative values (e.g. {negative[0]})")
    if huge:
        problems.append(f"{len(huge)} tensor(s) hold values beyond +-{MAX_PLAUSIBLE_MAGNITUDE:g} (e.g. {huge[0]}: "
                        f"from {ranges[huge[0]][0]:.3g} to {ranges[huge[0]][1]:.3g})")
    return problems


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
    ranges = value_ranges(state_dict)
    bad = non_finite_keys(ranges)
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} tensors hold NaN or infinite values (e.g. {bad[0]}); the file is "
                              f"corrupted. Delete it and download it again.")
    implausible = implausible_value_problems(ranges)
    if implausible:
        raise CheckpointError(f"{path}: holds values no trained network has: {'; '.join(implausible)}. The file is "
                              f"corrupted or was not saved from a trained network; its output would be a black or "
                              f"saturated mouth. Delete it and download it again.")
    return found
