"""Random S3FD weights in the real layout (face-alignment's ``s3fd`` state dict, as in ``s3fd.pth``).

For tests and benchmarks only: the real detector cannot be downloaded here, and its cost does not depend on
its weights. Seeded, so every run writes the same tensors, on any CPU (random_weights.init_like_torch_).

    python tests/random_s3fd.py OUT.pth [--seed 0] [--face-logit-bias 0]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from random_weights import init_like_torch_  # noqa: E402  (tests/ is the script's own folder)
from wav2lip_core.checkpoints import ARCHITECTURES, S3FD  # noqa: E402


def random_s3fd_state_dict(seed: int = 0, face_logit_bias: float = 0.0) -> dict[str, torch.Tensor]:
    """Every tensor of the real s3fd.pth (same names, shapes, float32), randomly initialised.

    ``face_logit_bias`` is added to the face-class logit of every level: 0 gives random detections all over
    the image (exercises decoding and NMS); about -20 gives none, like a real detector on a frame with one
    face, so timings measure the network and not NMS over thousands of random boxes.
    """
    network = init_like_torch_(ARCHITECTURES[S3FD].build(), np.random.default_rng(seed))
    state = {key: value.clone() for key, value in network.state_dict().items()}
    for key in state:
        if key.endswith("mbox_conf.bias"):
            state[key][-1] += face_logit_bias   # the last channel is "face" (conv3_3 has 3 background maps)
    return state


def write_random_s3fd(path: str | Path, seed: int = 0, face_logit_bias: float = 0.0) -> Path:
    """Save a bare state dict, as the official file is."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_s3fd_state_dict(seed, face_logit_bias), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--face-logit-bias", type=float, default=0.0)
    args = parser.parse_args()
    print(write_random_s3fd(args.out, args.seed, args.face_logit_bias))


if __name__ == "__main__":
    main()
