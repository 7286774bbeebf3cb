"""Checkpoint files into networks: ``load_network`` for any registered architecture, and the generator, SyncNet
expert and SyncNet v2 loaders; ``convert_to_safetensors`` writes a bare-key copy. Every file passes the one content
check (``content.check_state_dict``) first, so a wrong, damaged or differently shaped file says what it is."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..runtime.fast_inference import prepare_for_inference
from .architectures import SYNCNET, SYNCNET_V2, WAV2LIP, identify_architecture
from .content import check_state_dict
from .reading import CheckpointError, read_state_dict

CONVERT_DTYPES = (torch.float16, torch.float32, torch.bfloat16)


def load_network(path: str | os.PathLike, architecture: str) -> nn.Module:
    """The network of ``architecture`` with the weights of ``path``, float as stored, on the CPU, eval mode."""
    path = Path(path)
    state_dict = read_state_dict(path)
    found = check_state_dict(state_dict, path, architecture)
    network = found.empty_network()
    # Files saved before torch 0.4.1 have no BatchNorm counters; eval-mode BatchNorm does not use them.
    for key, value in network.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state_dict:
            state_dict[key] = torch.zeros((), dtype=torch.long)
    # assign=True adopts the file's tensors, so the network built on the meta device costs no random init.
    network.load_state_dict(state_dict, strict=True, assign=True)
    return network.eval().requires_grad_(False)


def load_wav2lip(path: str | os.PathLike, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, fast: bool = True) -> nn.Module:
    """The Wav2Lip generator from a checkpoint file, on ``device`` in ``dtype`` (half: the decoder only, see
    ``Wav2Lip.set_precision``), in eval mode.

    fast=True (default) folds BatchNorm into the convolutions and stores weights channels-last
    (``fast_inference.prepare_for_inference``): the same outputs within float rounding; the model's state dict
    then lacks the BatchNorm entries. fast=False keeps the original module layout.
    """
    model = load_network(path, WAV2LIP).float()
    if fast:
        return prepare_for_inference(model, device, dtype)
    return model.to(device=device).set_precision(dtype).eval().requires_grad_(False)


def load_syncnet(path: str | os.PathLike, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> nn.Module:
    """The SyncNet_color lip-sync expert from a checkpoint file, in eval mode."""
    return load_network(path, SYNCNET).to(device=device, dtype=dtype)


def load_syncnet_v2(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """SyncNet v2 (syncnet_v2.model) in eval mode, float32 (the scores are defined on float32 features)."""
    return load_network(path, SYNCNET_V2).to(device=device, dtype=torch.float32)


def convert_to_safetensors(source: str | os.PathLike, destination: str | os.PathLike,
                           dtype: torch.dtype = torch.float16) -> Path:
    """Write a checkpoint's tensors as ``.safetensors`` with bare keys; floats cast to ``dtype``.

    Only networks the pack can build are converted (their content is checked first). The file is written under
    a temporary name and moved into place when complete; a destination that cannot be written raises OSError
    naming it.
    """
    from safetensors.torch import save

    if dtype not in CONVERT_DTYPES:
        raise ValueError(f"dtype must be float16, bfloat16 or float32, not {dtype}")
    source, destination = Path(source), Path(destination)
    state_dict = read_state_dict(source)
    found = identify_architecture(state_dict)
    if found.build is None:
        raise CheckpointError(f"{source}: is {found.description}; only networks this pack runs are converted.")
    check_state_dict(state_dict, source, found.id)
    converted = {k: (t.to(dtype) if t.is_floating_point() else t).contiguous() for k, t in state_dict.items()}
    # Serialised in memory and written by Python: an unwritable folder is an OSError with its reason, where
    # safetensors' own file writer raises its SafetensorError.
    data = save(converted, metadata={"architecture": found.id, "source": source.name})
    temporary = destination.with_name(f".{destination.name}.partial")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, destination)
    except OSError as error:
        raise OSError(f"cannot write {destination}: {error.strerror or error}") from error
    finally:
        temporary.unlink(missing_ok=True)
    return destination
