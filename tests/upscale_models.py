"""Image-to-image models as ComfyUI runs them between Wav2Lip Sync and Paste Back, for the tests and benchmarks.

spandrel (what ComfyUI's "Load Upscale Model" uses) recognises a model from its state dict; ``random_compact``
builds a seeded random Real-ESRGAN Compact state dict, ``load_upscale_model`` hands it to spandrel as that node
does, and ``upscale_like_comfyui`` calls it as "Upscale Image (using Model)" does for images that fit one tile:
IMAGE (B, H, W, 3) float32 RGB 0..1 -> NCHW, one image per call, back to NHWC clamped to 0..1.

spandrel imports torchvision at start-up, for two architectures never used here (LaMa's rotation and
RestoreFormer's normalisation). The only torchvision wheel on PyPI for the CPU torch the tests pin is built for
CUDA and cannot load its operators next to a CPU torch, so where ``import torchvision`` fails, ``import_spandrel``
first registers an empty stand-in with the three names those modules import; calling any of them raises.
"""
from __future__ import annotations

import sys
import types

import torch


def _unavailable(*args, **kwargs):
    raise RuntimeError("torchvision is not installed here; this spandrel architecture cannot run in the tests")


def _register_torchvision_stand_in() -> None:
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = types.SimpleNamespace(NEAREST="nearest", BILINEAR="bilinear", BICUBIC="bicubic")
    functional.rotate = _unavailable
    functional.normalize = _unavailable
    transforms = types.ModuleType("torchvision.transforms")
    transforms.functional = functional
    torchvision = types.ModuleType("torchvision")
    torchvision.transforms = transforms
    sys.modules.update({"torchvision": torchvision, "torchvision.transforms": transforms,
                        "torchvision.transforms.functional": functional})


def import_spandrel():
    """The spandrel module (with the torchvision stand-in where torchvision cannot be imported)."""
    try:
        import torchvision  # noqa: F401
    except Exception:                      # missing, or a CUDA build that fails next to a CPU torch
        for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
            del sys.modules[name]
        _register_torchvision_stand_in()
    import spandrel

    return spandrel


def random_compact(scale: int = 4, num_feat: int = 16, num_conv: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """State dict of a seeded random Real-ESRGAN Compact (SRVGGNetCompact) with ``scale`` x upscaling, built
    with spandrel's own architecture class. Weights are scaled down so the output stays a picture (about 4/255
    from the nearest-neighbour upscale Compact adds its residual to), not saturated noise."""
    spandrel = import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    network = Compact(num_in_ch=3, num_out_ch=3, num_feat=num_feat, num_conv=num_conv, upscale=scale)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.mul_(0.3)
    assert spandrel is not None
    return {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}


def load_upscale_model(state_dict: dict[str, torch.Tensor]):
    """spandrel's ImageModelDescriptor for the state dict, in eval mode, as "Load Upscale Model" makes it."""
    spandrel = import_spandrel()
    descriptor = spandrel.ModelLoader().load_from_state_dict(state_dict).eval()
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise TypeError("Upscale model must be a single-image model.")
    return descriptor


def scale_like_comfyui(image: torch.Tensor, side: int) -> torch.Tensor:
    """What ComfyUI's "Upscale Image" (ImageScale, bicubic, no crop) gives: IMAGE (B, side, side, 3), not clamped,
    laid out in memory as NCHW (its result is an NCHW tensor moved back to NHWC). That layout matters: GFPGAN's
    network fails on the NHWC memory of other IMAGE batches with "view size is not compatible with input
    tensor's size and stride" (ComfyUI issue #11851), and runs on this one."""
    import torch.nn.functional as F

    return F.interpolate(image.movedim(-1, 1), size=(side, side), mode="bicubic").movedim(1, -1)


def upscale_like_comfyui(descriptor, image: torch.Tensor) -> torch.Tensor:
    """IMAGE (B, H, W, 3) float32 0..1 -> IMAGE (B, H * scale, W * scale, 3) float32 0..1, one image per call as
    ComfyUI's tiled_scale does for images no larger than its 512 px tile."""
    if max(image.shape[1:3]) > 512:
        raise ValueError("images larger than one 512 px tile are tiled by ComfyUI; not reproduced here")
    nchw = image.movedim(-1, -3)
    with torch.inference_mode():
        upscaled = torch.cat([descriptor(nchw[index:index + 1]) for index in range(nchw.shape[0])])
    return torch.clamp(upscaled.movedim(-3, -1), min=0.0, max=1.0)
