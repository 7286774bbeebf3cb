"""Random Wav2Lip-family checkpoints in the official format, for tests and benchmarks only.

Never used by a user-facing path. Weights are seeded; BatchNorm running statistics are calibrated on a
real face (skimage's astronaut) and speech-like mel input, so that, as with trained weights, activations
stay in a sensible range and the generated mouth depends on the audio.

    python tests/random_weights.py OUT.pth [--seed 0] [--syncnet] [--bare] [--fp16]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wav2lip_core.models import SyncNetColor, Wav2Lip  # noqa: E402


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


def _calibration_mels(count: int, seed: int) -> torch.Tensor:
    """(count, 1, 80, 16) mel-like input in [-4, 4]: smooth random spectra, different per sample."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(count, 1, 10, 4, generator=generator) * 1.5 - 1.0
    return torch.nn.functional.interpolate(base, size=(80, 16), mode="bilinear", align_corners=False).clamp(-4, 4)


def calibrate_batchnorm(model: nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> None:
    """Set every BatchNorm's running mean/var to the statistics of real activations (cumulative average):
    ``model(*batch)`` in training mode for each batch, after random affine weights near identity."""
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.weight.data.uniform_(0.8, 1.2)
        norm.bias.data.uniform_(-0.1, 0.1)
    model.train()
    with torch.no_grad():
        for batch in batches:
            model(*batch)
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


def random_wav2lip(seed: int = 0) -> Wav2Lip:
    torch.manual_seed(seed)
    model = Wav2Lip()
    generator = np.random.default_rng(seed)
    batches = []
    for index in range(2):
        faces = _calibration_faces(16, generator)
        masked = faces.clone()
        masked[:, :, 48:] = 0
        batches.append((_calibration_mels(16, seed * 100 + index), torch.cat([masked, faces], dim=1)))
    calibrate_batchnorm(model, batches)
    return model


def random_syncnet(seed: int = 0) -> SyncNetColor:
    torch.manual_seed(seed)
    model = SyncNetColor()
    generator = np.random.default_rng(seed)
    faces = torch.cat([_calibration_faces(16, generator)[:, :, 48:] for _ in range(5)], dim=1)
    calibrate_batchnorm(model, [(_calibration_mels(16, seed), faces)])
    return model


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
