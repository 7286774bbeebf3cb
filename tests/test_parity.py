"""blend="original" with a fixed box reproduces frames produced by the original Wav2Lip code (tests/golden/), on
any CPU: the random checkpoint both sides ran is the same everywhere, and frames compare under the README's
parity rule (within 1 LSB on at most 0.1 % of values), since float32 kernels round differently per CPU."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, assert_within_one_lsb
from random_weights import init_like_torch_, state_dict_fingerprint
from wav2lip_core.pipeline import lipsync

GOLDEN = Path(__file__).parent / "golden" / "parity_box_case.npz"
# Calibrated BatchNorm statistics agree across CPUs to float32 rounding (< 6e-8 of each value), so a tensor's
# sum moves by far less than this fraction of its sum of |x|; another seed or initialisation moves it by ~1.
FINGERPRINT_TOLERANCE = 1e-6


def _golden_box_region(case, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y1, y2, x1, x2 = (int(v) for v in case["box"])
    return out[:, y1:y2, x1:x2], case["output_box_region_rgb"]


def test_the_seeded_checkpoint_is_the_one_the_golden_frames_were_made_with(wav2lip_model):
    case = np.load(GOLDEN)
    ours = state_dict_fingerprint({"module." + key: value for key, value in wav2lip_model.state_dict().items()})
    assert list(ours) == case["state_dict_keys"].tolist()
    sums = np.array([value[0] for value in ours.values()])
    abs_sums = np.array([value[1] for value in ours.values()])
    tolerance = FINGERPRINT_TOLERANCE * case["state_dict_abs_sums"]
    drifted = (np.abs(sums - case["state_dict_sums"]) > tolerance) | \
              (np.abs(abs_sums - case["state_dict_abs_sums"]) > tolerance)
    assert not drifted.any(), \
        f"the seeded random checkpoint differs from the golden one in {np.asarray(list(ours))[drifted][:5]}"


def test_original_mode_matches_the_original_inference_pixel_for_pixel(wav2lip_model):
    case = np.load(GOLDEN)
    box = tuple(int(v) for v in case["box"])
    out = lipsync(case["frames_rgb"], case["wav"], float(case["fps"]), wav2lip_model, box=box, blend="original",
                  length="original")
    assert len(out) == int(case["num_output_frames"])
    assert_within_one_lsb(*_golden_box_region(case, out))
    y1, y2, x1, x2 = box
    frames = case["frames_rgb"]
    outside = np.ones(frames.shape[1:3], bool)
    outside[y1:y2, x1:x2] = False
    for index, frame in enumerate(out):       # copied, not computed: exactly the input
        np.testing.assert_array_equal(frame[outside], frames[index % len(frames)][outside])


def test_the_fast_loading_path_keeps_parity_with_the_original(official_checkpoint):
    """load_wav2lip folds BatchNorm and goes channels-last by default: still within 1 LSB on <= 0.1%."""
    from wav2lip_core.checkpoints import load_wav2lip

    case = np.load(GOLDEN)
    box = tuple(int(v) for v in case["box"])
    out = lipsync(case["frames_rgb"], case["wav"], float(case["fps"]), load_wav2lip(official_checkpoint),
                  box=box, blend="original", length="original")
    assert_within_one_lsb(*_golden_box_region(case, out))


# --- the random weights are the same on every CPU ------------------------------------------------------------

def _architectures() -> dict[str, type]:
    from wav2lip_core.checkpoints import ARCHITECTURES, S3FD
    from wav2lip_core.models import SyncNetColor, SyncNetV2, Wav2Lip

    return {"wav2lip": Wav2Lip, "syncnet": SyncNetColor, "syncnet_v2": SyncNetV2, "s3fd": ARCHITECTURES[S3FD].build}


@pytest.mark.parametrize("name", ["wav2lip", "syncnet", "syncnet_v2", "s3fd"])
def test_test_weights_owe_nothing_to_torchs_generator(name):
    """torch's generator gives other numbers per vector unit; every random value of the test networks comes
    from numpy's PCG64 instead, whatever state torch's generator is in."""
    build = _architectures()[name]
    states = []
    for torch_seed in (1, 2):
        torch.manual_seed(torch_seed)
        states.append(init_like_torch_(build(), np.random.default_rng(0)).state_dict())
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


@pytest.mark.parametrize("name", ["wav2lip", "syncnet_v2", "s3fd"])
def test_test_weights_have_torchs_default_initialisation(name):
    """Same distribution as torch's own init (kaiming-uniform weights, biases in 1/sqrt(fan_in)): per tensor,
    the same largest magnitude and spread as a torch-initialised copy."""
    build = _architectures()[name]
    torch.manual_seed(0)
    reference = build().state_dict()
    ours = init_like_torch_(build(), np.random.default_rng(0)).state_dict()
    compared = 0
    for key, tensor in reference.items():
        if tensor.is_floating_point() and tensor.numel() >= 1000 and float(tensor.std()) > 0:
            compared += 1
            assert float(ours[key].abs().max()) == pytest.approx(float(tensor.abs().max()), rel=0.02), key
            assert float(ours[key].std()) == pytest.approx(float(tensor.std()), rel=0.05), key
            assert abs(float(ours[key].mean())) < 0.1 * float(tensor.std()), key
        else:
            assert ours[key].shape == tensor.shape and ours[key].dtype == tensor.dtype, key
    assert compared >= 10


_BUILD_ON_ANOTHER_CPU = """
import sys, torch
sys.path[:0] = [sys.argv[2], sys.argv[2] + '/tests']
from random_syncnet_v2 import random_syncnet_v2
from random_s3fd import random_s3fd_state_dict
torch.save({'syncnet_v2': random_syncnet_v2(0).state_dict(), 's3fd': random_s3fd_state_dict(0)}, sys.argv[1])
"""


def test_calibrated_test_weights_are_the_same_on_a_cpu_without_vector_units(tmp_path):
    """Built again with torch's scalar kernels and oneDNN limited to AVX2 (what another CPU would run): drawn
    parameters bit for bit, BatchNorm statistics (calibrated by float64 forward passes) to float32 rounding."""
    from random_s3fd import random_s3fd_state_dict
    from random_syncnet_v2 import random_syncnet_v2

    path = tmp_path / "other_cpu.pt"
    environment = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    subprocess.run([sys.executable, "-c", _BUILD_ON_ANOTHER_CPU, str(path), str(ROOT)], check=True,
                   env=environment, timeout=600)
    other = torch.load(path, weights_only=True)
    here = {"syncnet_v2": random_syncnet_v2(0).state_dict(), "s3fd": random_s3fd_state_dict(0)}
    for name, state in here.items():
        assert state.keys() == other[name].keys()
        for key, tensor in state.items():
            if key.endswith(("running_mean", "running_var")):
                torch.testing.assert_close(other[name][key], tensor, rtol=1e-6, atol=0, msg=f"{name} {key}")
            else:
                assert torch.equal(other[name][key], tensor), f"{name} {key}"
