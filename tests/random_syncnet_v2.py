"""Random SyncNet v2 weights in the format of syncnet_v2.model, for tests only (never a user-facing path).

The file is a plain state dict (``netcnnaud.*``, ``netfcaud.*``, ``netfclip.*``, ``netcnnlip.*``) saved with
``torch.save``, which joonson/syncnet_python's ``loadParameters`` and our ``checkpoints.load_syncnet_v2`` both
read.
Weights are seeded, the same on any CPU (random_weights.init_like_torch_, float64 calibration); every
BatchNorm's running statistics are calibrated on real inputs (5-frame windows of skimage's astronaut face, BGR
0..255 as the reference feeds them, and MFCC windows of workflows/media/wav2lip_sample_speech.wav at int16
scale), so that activations stay in a sensible range and embeddings depend on the input.

    python tests/random_syncnet_v2.py OUT.model [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# tests/ is the script's own folder
from random_weights import calibrate_batchnorm, init_like_torch_, streams  # noqa: E402
from wav2lip_core.models import SyncNetV2  # noqa: E402
from wav2lip_core.scoring.mfcc import mfcc  # noqa: E402

SPEECH_WAV = ROOT / "workflows" / "media" / "wav2lip_sample_speech.wav"


def calibration_lip_windows(count: int, generator: np.random.Generator) -> torch.Tensor:
    """(count, 3, 5, 224, 224) float32 BGR 0..255: the astronaut's face, a random crop per window that
    drifts by a few pixels from frame to frame (as a talking head does)."""
    import cv2
    from skimage.data import astronaut

    image_bgr = astronaut()[:, :, ::-1]
    windows = []
    for _ in range(count):
        top, left = (int(v) for v in generator.integers(0, 40, size=2))
        side = int(generator.integers(160, 200))
        drift = generator.integers(-3, 4, size=(5, 2))
        frames = [cv2.resize(np.ascontiguousarray(image_bgr[20 + top + dy:20 + top + dy + side,
                                                            140 + left + dx:140 + left + dx + side]), (224, 224))
                  for dy, dx in drift]
        windows.append(np.stack(frames))                       # (5, 224, 224, 3)
    return torch.from_numpy(np.stack(windows)).permute(0, 4, 1, 2, 3).float()


def calibration_mfcc_windows(count: int, generator: np.random.Generator) -> torch.Tensor:
    """(count, 1, 13, 20) float32 MFCC windows of the sample speech (int16 scale), at random starts."""
    import soundfile

    wav, rate = soundfile.read(SPEECH_WAV, dtype="int16")
    assert rate == 16000, f"{SPEECH_WAV} must be 16 kHz"
    coefficients = mfcc(wav)                                     # (T, 13)
    starts = generator.integers(0, len(coefficients) - 20, size=count)
    windows = np.stack([coefficients[start:start + 20].T for start in starts])
    return torch.from_numpy(windows[:, None]).float()


def random_syncnet_v2(seed: int = 0) -> SyncNetV2:
    """A seeded SyncNetV2 with calibrated BatchNorm, eval mode, float32, CPU."""
    weights, statistics = streams(seed, 2)
    model = init_like_torch_(SyncNetV2(), weights)
    generator = np.random.default_rng(seed)
    # One batch: 8 lip windows give BatchNorm 8 x 5 x H x W samples per channel in the conv layers, plenty; it
    # keeps building the weights at ~2 s on two CPU cores.
    calibrate_batchnorm(model, [(calibration_mfcc_windows(32, generator), calibration_lip_windows(8, generator))],
                        statistics)
    return model


def weights_fingerprint(model: SyncNetV2) -> dict:
    """Detects drift of the seeded weights: sha256 of the parameters that come straight from the random
    generator (bit-exact on any machine), and the sum of |running statistics| (calibrated by forward passes,
    so equal only to float rounding across CPUs)."""
    import hashlib

    digest = hashlib.sha256()
    running_total = 0.0
    for key, tensor in sorted(model.state_dict().items()):
        if key.endswith(("running_mean", "running_var")):
            running_total += float(tensor.double().abs().sum())
        elif not key.endswith("num_batches_tracked"):
            digest.update(tensor.contiguous().numpy().tobytes())
    return {"random_parameters_sha256": digest.hexdigest(), "running_stats_abs_sum": running_total}


def write_random_syncnet_v2(path: str | Path, seed: int = 0) -> Path:
    """Save ``random_syncnet_v2(seed)`` as syncnet_v2.model is saved: a bare state dict."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_syncnet_v2(seed).state_dict(), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write_random_syncnet_v2(args.out, args.seed))


if __name__ == "__main__":
    main()
