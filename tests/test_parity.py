"""blend="original" with a fixed box reproduces frames produced by the original Wav2Lip code (tests/golden/)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from wav2lip_core.pipeline import lipsync

GOLDEN = Path(__file__).parent / "golden" / "parity_box_case.npz"


def _state_dict_sha256(model) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(("module." + k, v) for k, v in model.state_dict().items()):
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def test_original_mode_matches_the_original_inference_pixel_for_pixel(wav2lip_model):
    case = np.load(GOLDEN)
    assert _state_dict_sha256(wav2lip_model) == str(case["state_dict_sha256"]), \
        "the seeded random checkpoint differs from the one the golden frames were made with"
    box = tuple(int(v) for v in case["box"])
    out = lipsync(case["frames_rgb"], case["wav"], float(case["fps"]), wav2lip_model, box=box, blend="original",
                  length="original")
    assert len(out) == int(case["num_output_frames"])
    y1, y2, x1, x2 = box
    ours = out[:, y1:y2, x1:x2].astype(np.int16)
    theirs = case["output_box_region_rgb"].astype(np.int16)
    difference = np.abs(ours - theirs)
    assert difference.max() <= 1
    assert (difference > 0).mean() <= 0.001
    frames = case["frames_rgb"]
    outside = np.ones(frames.shape[1:3], bool)
    outside[y1:y2, x1:x2] = False
    for index, frame in enumerate(out):
        np.testing.assert_array_equal(frame[outside], frames[index % len(frames)][outside])


def test_the_fast_loading_path_keeps_parity_with_the_original(official_checkpoint):
    """load_wav2lip folds BatchNorm and goes channels-last by default: still within 1 LSB on <= 0.1%."""
    from wav2lip_core.checkpoints import load_wav2lip

    case = np.load(GOLDEN)
    box = tuple(int(v) for v in case["box"])
    out = lipsync(case["frames_rgb"], case["wav"], float(case["fps"]), load_wav2lip(official_checkpoint),
                  box=box, blend="original", length="original")
    y1, y2, x1, x2 = box
    difference = np.abs(out[:, y1:y2, x1:x2].astype(np.int16) - case["output_box_region_rgb"].astype(np.int16))
    assert difference.max() <= 1
    assert (difference > 0).mean() <= 0.001
