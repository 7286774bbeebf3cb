"""The registry of networks this pack recognises in a checkpoint, in the spirit of spandrel's ``Architecture``.

Each ``Architecture`` says what it is (``id``, a sentence for users), how to recognise its state dict (keys
only it has), how to build an empty network with its parameter names (``build``; None for networks the pack
only names, such as the training-time discriminator), and from that its reference key -> shape table.
Every question "what is this file" or "does it have the right layout" is answered from ``ARCHITECTURES``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn


@dataclass(frozen=True)
class Architecture:
    """One network family a checkpoint can hold.

    ``signature_keys``: state-dict keys (bare, without ``module.``) that together only this network has.
    ``build``: a callable returning the network with random or empty weights, or None when the pack cannot
    run it (it is still recognised, so a wrong file can be named).
    """
    id: str
    description: str
    signature_keys: tuple[str, ...]
    build: Callable[[], nn.Module] | None = None

    def matches(self, keys: Mapping[str, object]) -> bool:
        return all(key in keys for key in self.signature_keys)

    def empty_network(self) -> nn.Module:
        """The network's structure on the meta device: no memory, no random initialisation (weights come from
        a file, loaded with ``assign=True``)."""
        if self.build is None:
            raise ValueError(f"{self.description} cannot be built by this pack")
        with torch.device("meta"):
            return self.build()

    def reference_shapes(self) -> dict[str, torch.Size] | None:
        """Key -> shape of a fresh network, or None when it cannot be built here (e.g. face-alignment missing)."""
        return _reference_shapes(self.id)


def _build_wav2lip() -> nn.Module:
    from ..models import Wav2Lip
    return Wav2Lip()


def _build_syncnet() -> nn.Module:
    from ..models import SyncNetColor
    return SyncNetColor()


def _build_syncnet_v2() -> nn.Module:
    from ..models import SyncNetV2
    return SyncNetV2()


def _build_s3fd() -> nn.Module:
    # face-alignment's definition has the parameter names of s3fd.pth; it is imported only when needed.
    from face_alignment.detection.sfd.net_s3fd import s3fd
    return s3fd()


WAV2LIP = "wav2lip"
SYNCNET = "syncnet"
SYNCNET_V2 = "syncnet_v2"
VISUAL_DISCRIMINATOR = "wav2lip_disc_qual"
S3FD = "s3fd"
UNKNOWN = "unknown"

ARCHITECTURES: dict[str, Architecture] = {architecture.id: architecture for architecture in (
    Architecture(WAV2LIP, "the Wav2Lip generator (wav2lip.pth / wav2lip_gan.pth)",
                 ("face_decoder_blocks.0.0.conv_block.0.weight", "audio_encoder.12.conv_block.0.weight"),
                 _build_wav2lip),
    Architecture(SYNCNET, "the SyncNet lip-sync expert (lipsync_expert.pth), used only for training and sync "
                          "scoring",
                 ("face_encoder.16.conv_block.0.weight", "audio_encoder.13.conv_block.0.weight"), _build_syncnet),
    Architecture(SYNCNET_V2, "SyncNet v2 (syncnet_v2.model), the network of the LSE-D / LSE-C lip-sync scores",
                 ("netcnnlip.0.weight", "netcnnaud.0.weight"), _build_syncnet_v2),
    Architecture(VISUAL_DISCRIMINATOR, "the visual-quality discriminator (visual_quality_disc.pth), used only for "
                                       "training",
                 ("binary_pred.0.weight", "face_encoder_blocks.0.0.conv_block.0.weight")),
    Architecture(S3FD, "the S3FD face detector (s3fd.pth), which belongs in the face-detection weights, not the "
                       "generator",
                 ("conv1_1.weight", "conv3_3_norm.weight"), _build_s3fd),
)}
UNKNOWN_ARCHITECTURE = Architecture(UNKNOWN, "no Wav2Lip-family network this pack knows", ())


def architecture(architecture_id: str) -> Architecture:
    """The registered architecture called ``architecture_id`` (``UNKNOWN`` gives the unknown one)."""
    if architecture_id == UNKNOWN:
        return UNKNOWN_ARCHITECTURE
    try:
        return ARCHITECTURES[architecture_id]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture_id!r}; known: {', '.join(ARCHITECTURES)}") from None


def identify_architecture(state_dict: Mapping[str, object]) -> Architecture:
    """Which registered network a state dict (bare keys) belongs to; ``UNKNOWN_ARCHITECTURE`` if none."""
    for candidate in ARCHITECTURES.values():
        if candidate.matches(state_dict):
            return candidate
    return UNKNOWN_ARCHITECTURE


@lru_cache(maxsize=None)
def _reference_shapes(architecture_id: str) -> dict[str, torch.Size] | None:
    registered = ARCHITECTURES.get(architecture_id)
    if registered is None or registered.build is None:
        return None
    try:
        network = registered.empty_network()
    except ImportError:
        return None
    return {key: tensor.shape for key, tensor in network.state_dict().items()}
