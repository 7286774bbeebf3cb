"""fast_inference.prepare_for_inference: BatchNorm folded into the convolutions, channels_last weights, fused
convolution + add + ReLU calls on the CPU, same pictures (float32 within 1e-4; blend="original" parity kept; half precision measured against float32)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from conftest import astronaut_clip
from wav2lip_core.audio import speech_mel_chunks
from wav2lip_core.runtime.fast_inference import (FusedConvBnRelu, FusedConvTransposeBnRelu, fold_batchnorm,
                                                 fold_conv_and_norm, fused_calls_available, prepare_for_inference)
from wav2lip_core.compositing.faces import crop_face, generate_faces

SAMPLE_BOX = (10, 120, 10, 118)   # (y1, y2, x1, x2): the astronaut's face in a 128x128 astronaut_clip frame


def count_batchnorms(model: torch.nn.Module) -> int:
    """How many BatchNorm layers are left in ``model``."""
    return sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _trained_looking_norm(channels: int, seed: int) -> nn.BatchNorm2d:
    generator = torch.Generator().manual_seed(seed)
    norm = nn.BatchNorm2d(channels).eval()
    norm.weight.data = torch.rand(channels, generator=generator) + 0.5
    norm.bias.data = torch.randn(channels, generator=generator) * 0.2
    norm.running_mean = torch.randn(channels, generator=generator)
    norm.running_var = torch.rand(channels, generator=generator) * 3 + 0.1
    return norm


@pytest.fixture(scope="module")
def sample_faces_and_chunks(speech_16k) -> tuple[np.ndarray, np.ndarray]:
    """Four 96x96 uint8 RGB crops of the astronaut's face and the first four mel chunks of the speech sample."""
    frames = astronaut_clip(4, 128)
    faces = np.stack([crop_face(frame, SAMPLE_BOX) for frame in frames])
    return faces, speech_mel_chunks(speech_16k, 25.0)[:4]


@pytest.mark.parametrize("convolution", [
    nn.Conv2d(6, 8, 3, 2, 1),
    nn.ConvTranspose2d(6, 8, 3, 2, 1, 1),
    nn.ConvTranspose2d(6, 8, 3, 1, 0),
], ids=["conv", "conv-transpose-stride-2", "conv-transpose-stride-1"])
def test_a_folded_convolution_equals_convolution_then_batchnorm(convolution):
    norm = _trained_looking_norm(8, seed=1)
    x = torch.randn(2, 6, 11, 13, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = norm(convolution(x))
        folded = fold_conv_and_norm(convolution, norm)(x)
    assert type(folded) is type(expected) and folded.shape == expected.shape
    torch.testing.assert_close(folded, expected, atol=1e-5, rtol=1e-5)
    in_float64 = fold_conv_and_norm(convolution.double(), norm.double())
    channels_last = fold_conv_and_norm(convolution.float(), norm.float(), torch.channels_last).weight
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(channels_last, in_float64.weight.float())     # one rounding of the float64 product


def test_folding_removes_every_batchnorm_and_keeps_the_layer_indices(wav2lip_model):
    model = copy.deepcopy(wav2lip_model)
    assert count_batchnorms(model) == 50
    fold_batchnorm(model)
    assert count_batchnorms(model) == 0
    assert isinstance(model.face_encoder_blocks[0][0].conv_block[1], nn.Identity)
    assert model.face_decoder_blocks[1][0].conv_block[0].weight.shape == (1024, 512, 3, 3)  # still transposed


def test_prepared_generator_matches_the_loaded_one_within_1e_4_in_float32(wav2lip_model, sample_faces_and_chunks):
    faces, chunks = sample_faces_and_chunks
    prepared = prepare_for_inference(copy.deepcopy(wav2lip_model), "cpu", torch.float32)
    expected = generate_faces(wav2lip_model, faces, chunks)
    got = generate_faces(prepared, faces, chunks)
    assert got.shape == expected.shape == (4, 96, 96, 3) and got.dtype == np.float32
    assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.skipif(not fused_calls_available(), reason="this torch build has no oneDNN fused convolutions")
def test_on_the_cpu_each_folded_unit_is_one_fused_call_giving_what_its_three_steps_give(wav2lip_model):
    from wav2lip_core.models.blocks import ConvBnRelu, ConvTransposeBnRelu

    prepared = prepare_for_inference(copy.deepcopy(wav2lip_model), "cpu", torch.float32)
    kinds = [type(m) for m in prepared.modules()]
    assert ConvBnRelu not in kinds and ConvTransposeBnRelu not in kinds
    assert kinds.count(FusedConvBnRelu) == 44 and kinds.count(FusedConvTransposeBnRelu) == 6
    unfused = copy.deepcopy(prepared)
    for unit in unfused.modules():
        unit.__class__ = {FusedConvBnRelu: ConvBnRelu, FusedConvTransposeBnRelu: ConvTransposeBnRelu}.get(
            type(unit), type(unit))
    generator = torch.Generator().manual_seed(4)
    mel, faces = torch.randn(3, 1, 80, 16, generator=generator), torch.rand(3, 6, 96, 96, generator=generator)
    with torch.inference_mode():             # the same arithmetic; a kernel choice may round differently
        torch.testing.assert_close(prepared(mel, faces), unfused(mel, faces), atol=1e-4, rtol=0)
        torch.testing.assert_close(prepared(mel[:1], faces[:1]), unfused(mel[:1], faces[:1]), atol=1e-4, rtol=0)
        for model in (prepared, unfused):     # weights changed in place after use: packed again, not stale
            model.face_encoder_blocks[0][0].conv_block[0].weight.mul_(0.5)
            transposed = next(m for m in model.modules() if isinstance(m, (ConvTransposeBnRelu,
                                                                             FusedConvTransposeBnRelu)))
            transposed.conv_block[0].weight.mul_(0.5)
        torch.testing.assert_close(prepared(mel, faces), unfused(mel, faces), atol=1e-4, rtol=0)
    with torch.inference_mode():              # float64 is not fused: the units' own forward
        mel, faces = mel[:1].double(), faces[:1].double()
        torch.testing.assert_close(prepared.double()(mel, faces), unfused.double()(mel, faces), atol=1e-12, rtol=0)


def test_a_generator_loaded_inside_inference_mode_runs_as_one_loaded_outside(wav2lip_model):
    """ComfyUI runs its nodes under torch.inference_mode(), so Load Wav2Lip Model's weights are inference tensors
    (they have no version counter)."""
    generator = torch.Generator().manual_seed(5)
    mel, faces = torch.randn(2, 1, 80, 16, generator=generator), torch.rand(2, 6, 96, 96, generator=generator)
    outside = prepare_for_inference(copy.deepcopy(wav2lip_model), "cpu", torch.float32)
    with torch.inference_mode():
        inside = prepare_for_inference(copy.deepcopy(wav2lip_model), "cpu", torch.float32)
        assert all(parameter.is_inference() for parameter in inside.parameters())
        torch.testing.assert_close(inside(mel, faces), outside(mel, faces), atol=0, rtol=0)


def test_prepared_generator_accepts_nchw_and_channels_last_inputs_alike(wav2lip_model):
    prepared = prepare_for_inference(copy.deepcopy(wav2lip_model), "cpu", torch.float32)
    generator = torch.Generator().manual_seed(3)
    mel, faces = torch.randn(2, 1, 80, 16, generator=generator), torch.rand(2, 6, 96, 96, generator=generator)
    with torch.inference_mode():
        from_nchw = prepared(mel, faces)
        from_nhwc = prepared(mel, faces.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(from_nchw, from_nhwc, atol=1e-5, rtol=0)


def test_prepared_generator_keeps_parity_with_the_original_in_blend_original_mode(wav2lip_model):
    """The same check as test_parity.py, with the prepared (folded, channels_last) model."""
    from pathlib import Path

    from wav2lip_core.pipeline import lipsync

    case = np.load(Path(__file__).parent / "golden" / "parity_box_case.npz")
    prepared = prepare_for_inference(copy.deepcopy(wav2lip_model), "cpu", torch.float32)
    box = tuple(int(v) for v in case["box"])
    out = lipsync(case["frames_rgb"], case["wav"], float(case["fps"]), prepared, box=box, blend="original",
                  length="original")
    y1, y2, x1, x2 = box
    difference = np.abs(out[:, y1:y2, x1:x2].astype(np.int16) - case["output_box_region_rgb"].astype(np.int16))
    assert difference.max() <= 1
    assert (difference > 0).mean() <= 0.001


def _half_precision_error(model, dtype, faces, chunks) -> np.ndarray:
    """|half - float32| of the generated faces, in 1/255 units."""
    reference = generate_faces(prepare_for_inference(copy.deepcopy(model), "cpu", torch.float32), faces, chunks)
    half = generate_faces(prepare_for_inference(copy.deepcopy(model), "cpu", dtype), faces[:2], chunks[:2])
    return np.abs(half - reference[:2]) * 255.0


def test_in_half_precision_the_decoder_is_half_and_the_encoders_stay_float32(wav2lip_model):
    """Rounding made early is amplified by every later layer; the encoders are ~10 % of the work."""
    prepared = prepare_for_inference(copy.deepcopy(wav2lip_model), "cpu", torch.bfloat16)
    assert {p.dtype for p in prepared.audio_encoder.parameters()} == {torch.float32}
    assert {p.dtype for p in prepared.face_encoder_blocks.parameters()} == {torch.float32}
    assert {p.dtype for p in prepared.face_decoder_blocks.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in prepared.output_block.parameters()} == {torch.bfloat16}
    output = prepared(torch.zeros(1, 1, 80, 16), torch.zeros(1, 6, 96, 96))
    assert output.dtype == torch.bfloat16 and output.shape == (1, 3, 96, 96)


def test_float16_generator_is_within_2_of_255_of_float32_on_the_sample_face(wav2lip_model, sample_faces_and_chunks):
    """Measured on the seeded random checkpoint: max 0.52/255 (AVX-512 kernels), 0.46/255 (AVX2)."""
    faces, chunks = sample_faces_and_chunks
    error = _half_precision_error(wav2lip_model, torch.float16, faces, chunks)
    assert error.max() <= 2.0
    assert error.mean() <= 0.1


def test_float16_lip_synced_frames_are_within_2_of_255_of_float32(wav2lip_model, speech_16k):
    """The whole picture: generated, resized to the box, feather-blended, rounded to uint8."""
    from wav2lip_core.pipeline import lipsync

    frames = astronaut_clip(6, 128)
    wav = speech_16k[:16000 // 4]                                  # 0.25 s: 6 frames at 25 fps
    outputs = [lipsync(frames, wav, 25.0, prepare_for_inference(copy.deepcopy(wav2lip_model), "cpu", dtype),
                       box=SAMPLE_BOX).astype(np.int16) for dtype in (torch.float32, torch.float16)]
    difference = np.abs(outputs[1] - outputs[0])
    assert difference.max() <= 2


def test_bfloat16_generator_keeps_999_per_mille_within_3_of_255_of_float32(wav2lip_model, sample_faces_and_chunks):
    """Measured on the seeded random checkpoint (float32 encoders): 99.9th percentile 2.10/255, mean 0.44/255,
    max 3.8/255 with AVX-512 BF16 kernels; 2.42/255, 0.50/255, 4.0/255 with AVX2 ones (bfloat16 rounding
    depends on the CPU's kernels, and the figures on the random checkpoint: 1.94/255 with an earlier one).
    Random-weight networks are unusually sensitive: invisible noise of +-0.5/255 on the input face moved an
    earlier one's float32 output by up to 11.7/255."""
    faces, chunks = sample_faces_and_chunks
    error = _half_precision_error(wav2lip_model, torch.bfloat16, faces, chunks)
    assert np.percentile(error, 99.9) <= 3.0
    assert error.mean() <= 0.65
    assert error.max() <= 5.0


@pytest.mark.xfail(strict=True, reason="bfloat16 on the random-weight checkpoint: max 3.8-4.0/255 on the faces "
                                       "even with float32 encoders; float16 meets the target, bfloat16 is opt-in")
def test_bfloat16_generator_is_within_2_of_255_of_float32_on_the_sample_face(wav2lip_model, sample_faces_and_chunks):
    faces, chunks = sample_faces_and_chunks
    error = _half_precision_error(wav2lip_model, torch.bfloat16, faces, chunks)
    assert error.max() <= 2.0


def test_the_generator_is_fed_at_most_8_frames_at_a_time_on_cpu_and_unlimited_on_gpus():
    from wav2lip_core.runtime.fast_inference import preferred_generator_batch

    assert preferred_generator_batch("cpu") == 8
    assert preferred_generator_batch(torch.device("cuda", 0)) is None
