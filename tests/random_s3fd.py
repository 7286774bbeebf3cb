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
from wav2lip_core.detection.s3fd import ANCHOR_STRIDES, BOX_VARIANCES  # noqa: E402


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


# The output levels with plain ReLU features (no L2Norm), where one channel can be made a constant: the layer
# that makes the level's features, and the level's place in detection/s3fd.py's ANCHOR_STRIDES.
_PLACING_LEVELS = (("fc7", 3), ("conv6_2", 4), ("conv7_2", 5))
_FIRING_LOGIT = 10.0          # softmax score about 0.99995 against a background logit of 0: a detection
_ELSEWHERE_LOGIT = -10.0      # about 0.00005: none


def s3fd_finding_faces_state_dict(boxes: list[tuple[float, float, float, float]],
                                  seed: int = 0) -> dict[str, torch.Tensor]:
    """Random S3FD weights (the backbone of ``random_s3fd_state_dict(seed)``) whose detection heads are set so
    that on ANY image of at least 32x32 it finds exactly the given faces, whatever the pixels show: each box
    (x1, y1, x2, y2) in the pixels of the image the network is shown (the detection copy), score about 0.99995.

    Up to three boxes, overlapping by at most S3FD's NMS threshold (0.3 IoU). Box k is the top-left anchor of
    output level fc7, conv6_2 or conv7_2: the layer making that level's features gets one constant channel
    (weights 0, bias 1), and the level's face-class 3x3 convolution reads only that channel, through large
    negative taps on its top row and left column: they all fall on the zero padding at the top-left cell alone.
    The box regression there is a constant (weights 0, bias the encoded box). Every other face logit is a
    constant below the background's, so the rest of the network (random, for the real network's cost) decides
    nothing.
    """
    if not 1 <= len(boxes) <= len(_PLACING_LEVELS):
        raise ValueError(f"give 1 to {len(_PLACING_LEVELS)} boxes, not {len(boxes)}")
    state = random_s3fd_state_dict(seed)
    for key in [k for k in state if "mbox_conf" in k]:
        state[key].zero_()
        if key.endswith("bias"):
            state[key][-1] = _ELSEWHERE_LOGIT            # the last channel is "face"
    for (layer, level), (x1, y1, x2, y2) in zip(_PLACING_LEVELS, boxes):
        state[f"{layer}.weight"][0].zero_()
        state[f"{layer}.bias"][0] = 1.0                  # channel 0 of the level's features: 1 on every cell
        conf = f"{layer}_mbox_conf"
        # Any cell but the top-left one has one of these taps inside the map: its face logit drops by 20.
        state[f"{conf}.weight"][1, 0, 0, :] = _ELSEWHERE_LOGIT - _FIRING_LOGIT
        state[f"{conf}.weight"][1, 0, :, 0] = _ELSEWHERE_LOGIT - _FIRING_LOGIT
        state[f"{conf}.bias"][1] = _FIRING_LOGIT
        stride = ANCHOR_STRIDES[level]
        anchor_centre, anchor_size = stride / 2, stride * 4.0
        loc = f"{layer}_mbox_loc"
        state[f"{loc}.weight"].zero_()
        state[f"{loc}.bias"].copy_(torch.tensor([
            ((x1 + x2) / 2 - anchor_centre) / (BOX_VARIANCES[0] * anchor_size),
            ((y1 + y2) / 2 - anchor_centre) / (BOX_VARIANCES[0] * anchor_size),
            np.log((x2 - x1) / anchor_size) / BOX_VARIANCES[1],
            np.log((y2 - y1) / anchor_size) / BOX_VARIANCES[1]], dtype=torch.float32))
    return state


def write_random_s3fd(path: str | Path, seed: int = 0, face_logit_bias: float = 0.0,
                      faces_at: list[tuple[float, float, float, float]] | None = None) -> Path:
    """Save a bare state dict, as the official file is; with ``faces_at``, the weights that find those boxes on
    every image (``s3fd_finding_faces_state_dict``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = random_s3fd_state_dict(seed, face_logit_bias) if faces_at is None else \
        s3fd_finding_faces_state_dict(faces_at, seed)
    torch.save(state, path)
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
