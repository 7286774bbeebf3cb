"""Random Wav2Lip-family checkpoints in the official format, for tests and benchmarks only.

Never used by a user-facing path. Weights are seeded; BatchNorm running statistics are calibrated on a
real face (skimage's astronaut) and speech-like mel input, so that, as with trained weights, activations
stay in a sensible range and the generated mouth depends on the audio.

Same numbers on every CPU: torch's own generator is not (its vectorised normal and uniform sampling round
differently per vector unit, so ``torch.manual_seed`` gives other weights on an AVX-512 Xeon than on an AVX2
EPYC). Every random number here comes from numpy's PCG64 drawn as float64 in [0, 1) (integer bits, exact) and
shaped with single IEEE operations, and BatchNorm is calibrated in float64: the stored float32 tensors are the
same bits on any machine, calibrated statistics the same up to float32 rounding. ``init_like_torch_`` is the one
place that does this for every test and benchmark network (random_s3fd.py and random_syncnet_v2.py use it).

    python tests/random_weights.py OUT.pth [--seed 0] [--syncnet] [--bare] [--fp16]
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wav2lip_core.models import SyncNetColor, Wav2Lip  # noqa: E402


def portable_uniform(generator: np.random.Generator, shape: tuple[int, ...], low: float, high: float
                     ) -> torch.Tensor:
    """float32 tensor of U(low, high) values, the same bits on every CPU: PCG64's float64 in [0, 1) (made from
    integer bits), then one multiply and one add (each exactly rounded, never fused), then a cast."""
    unit = generator.random(size=shape, dtype=np.float64)
    return torch.from_numpy((unit * (high - low) + low).astype(np.float32))


def streams(seed: int, count: int) -> list[np.random.Generator]:
    """``count`` independent PCG64 generators for one seed (one per purpose: weights, statistics, inputs)."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(count)]


def init_like_torch_(model: nn.Module, generator: np.random.Generator) -> nn.Module:
    """Redraw, in place and in ``named_modules`` order, every parameter torch's default initialisation draws at
    random, with torch's distributions and a generator that is the same on every CPU.

    Convolutions (1-3d, transposed too) and Linear: torch's ``kaiming_uniform_(a=sqrt(5))`` weight, which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and a bias in the same bound. Everything else a network here holds is
    not random (BatchNorm's 1 and 0, S3FD's L2Norm scale); a module type with parameters this does not know is
    an error rather than weights left to torch's generator.
    """
    deterministic = (nn.modules.batchnorm._BatchNorm,)
    for name, module in model.named_modules():
        own = dict(module.named_parameters(recurse=False))
        if not own:
            continue
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
            bound = 1.0 / math.sqrt(fan_in)
            with torch.no_grad():
                module.weight.copy_(portable_uniform(generator, tuple(module.weight.shape), -bound, bound))
                if module.bias is not None:
                    module.bias.copy_(portable_uniform(generator, tuple(module.bias.shape), -bound, bound))
        elif not isinstance(module, deterministic) and type(module).__name__ != "L2Norm":
            raise TypeError(f"init_like_torch_ does not know how torch initialises {name} "
                            f"({type(module).__name__})")
    return model


def _calibration_faces(count: int, generator: np.random.Generator) -> torch.Tensor:
    """(count, 3, 96, 96) float32 BGR 0..1 crops around the astronaut's face with random jitter."""
    import cv2
    from skimage.data import astronaut

    image_bgr = astronaut()[:, :, ::-1]
    faces = []
    for _ in range(count):
        y1, x1 = generator.integers(0, 40, size=2)
        size = int(generator.integers(150, 200))
        crop = image_bgr[20 + y1:20 + y1 + size, 140 + x1:140 + x1 + size]
        faces.append(cv2.resize(np.ascontiguousarray(crop), (96, 96)))
    return torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).float() / 255.0


def _calibration_mels(count: int, generator: np.random.Generator | int) -> torch.Tensor:
    """(count, 1, 80, 16) float32 mel-like input in [-4, 4]: smooth random spectra, different per sample
    (a coarse U(-2.6, 2.6) - 1 grid, the spread of the N(-1, 1.5) it replaces, upsampled bilinearly in float64,
    so the same float32 values on every CPU). ``generator`` may be a seed."""
    if not isinstance(generator, np.random.Generator):
        generator = np.random.default_rng(generator)
    base = portable_uniform(generator, (count, 1, 10, 4), -3.6, 1.6).double()
    smooth = torch.nn.functional.interpolate(base, size=(80, 16), mode="bilinear", align_corners=False)
    return smooth.clamp(-4, 4).float()


def calibrate_batchnorm(model: nn.Module, batches: list[tuple[torch.Tensor, ...]],
                        generator: np.random.Generator) -> None:
    """Set every BatchNorm's running mean/var to the statistics of real activations (cumulative average):
    ``model(*batch)`` in training mode for each batch, after random affine weights near identity (U(0.8, 1.2)
    and U(-0.1, 0.1), from ``generator``). The forward passes run in float64, so the statistics, cast back to
    float32, agree across CPUs to float32 rounding (float32 kernels differ per vector unit far more)."""
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))]
    with torch.no_grad():
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None
            norm.weight.copy_(portable_uniform(generator, tuple(norm.weight.shape), 0.8, 1.2))
            norm.bias.copy_(portable_uniform(generator, tuple(norm.bias.shape), -0.1, 0.1))
        model.double().train()
        for batch in batches:
            model(*(tensor.double() for tensor in batch))
    model.float()
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


def random_wav2lip(seed: int = 0) -> Wav2Lip:
    weights, statistics, mels = streams(seed, 3)
    model = init_like_torch_(Wav2Lip(), weights)
    generator = np.random.default_rng(seed)
    batches = []
    for _ in range(2):
        faces = _calibration_faces(16, generator)
        masked = faces.clone()
        masked[:, :, 48:] = 0
        batches.append((_calibration_mels(16, mels), torch.cat([masked, faces], dim=1)))
    calibrate_batchnorm(model, batches, statistics)
    return model


def random_syncnet(seed: int = 0) -> SyncNetColor:
    weights, statistics, mels = streams(seed, 3)
    model = init_like_torch_(SyncNetColor(), weights)
    generator = np.random.default_rng(seed)
    faces = torch.cat([_calibration_faces(16, generator)[:, :, 48:] for _ in range(5)], dim=1)
    calibrate_batchnorm(model, [(_calibration_mels(16, mels), faces)], statistics)
    return model


def state_dict_fingerprint(state: dict[str, torch.Tensor]) -> dict[str, tuple[float, float]]:
    """Per tensor, (sum, sum of |x|) in float64: what tells two random checkpoints apart (another seed or
    initialisation moves every sum by far more than rounding), where a byte hash would also tell apart the same
    weights calibrated on two CPUs, whose statistics agree only to float32 rounding."""
    return {key: (float(tensor.double().sum()), float(tensor.double().abs().sum()))
            for key, tensor in sorted(state.items())}


def official_container(model: nn.Module, module_prefix: bool = True) -> dict:
    """The dict the original trainers save: state_dict (+ optimizer, counters)."""
    prefix = "module." if module_prefix else ""
    state = {prefix + key: value.clone() for key, value in model.state_dict().items()}
    return {"state_dict": state, "optimizer": None, "global_step": 0, "global_epoch": 0}


def write_random_checkpoint(path: str | Path, seed: int = 0, syncnet: bool = False, bare: bool = False,
                            fp16: bool = False) -> Path:
    model = random_syncnet(seed) if syncnet else random_wav2lip(seed)
    if fp16:
        model = model.half()
    payload = model.state_dict() if bare else official_container(model, module_prefix=not syncnet)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--syncnet", action="store_true")
    parser.add_argument("--bare", action="store_true", help="a bare state dict instead of the official container")
    parser.add_argument("--fp16", action="store_true")
    args = parser.parse_args()
    print(write_random_checkpoint(args.out, args.seed, args.syncnet, args.bare, args.fp16))


if __name__ == "__main__":
    main()
