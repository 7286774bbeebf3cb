"""A sharper, cleaner mouth: faces of any square size from 96 up into Paste Back (an upscaler or face restorer in
between, run through spandrel as ComfyUI runs it), the ``mouth`` blend, ``color_match``, and the MASK output that
follows the blend; pixels computed independently here."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import astronaut_clip
from nodes import NODE_CLASS_MAPPINGS
from test_nodes import BOX, BOX_TEXT, FPS, as_audio, as_image, as_uint8, defaults, run
from upscale_models import load_upscale_model, random_compact, scale_like_comfyui, upscale_like_comfyui
from wav2lip_core.compositing.blend import (BLEND_MODES, blend_mask, changed_region_mask, feather_mask, mouth_mask,
                                            paste_face)

FRAME = 480


def textured_frame(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (FRAME, FRAME, 3), dtype=np.uint8)


def textured_face(size: int, seed: int = 0) -> np.ndarray:
    """(size, size, 3) float32 RGB 0..1: a colour gradient plus fine random texture."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size] / (size - 1)
    gradient = np.stack([rows, cols, 1.0 - (rows + cols) / 2], axis=-1)
    return np.clip(0.15 + 0.6 * gradient + rng.uniform(-0.15, 0.15, (size, size, 3)), 0, 1).astype(np.float32)


def expected_paste(frame: np.ndarray, face: np.ndarray, box, mode: str, strength: float = 1.0) -> np.ndarray:
    """The frame after the paste, from the rules: 96 px faces bicubic (original: truncated, bilinear uint8);
    larger faces area-averaged into a box smaller on both axes, bicubic otherwise; blended by the mode's mask."""
    y1, y2, x1, x2 = box
    height, width = y2 - y1, x2 - x1
    size = face.shape[0]
    if mode == "original" and size == 96:
        resized = cv2.resize((face * 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
        resized = resized.astype(np.float64)
    else:
        shrink = size > 96 and height < size and width < size
        resized = cv2.resize(face, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        resized = resized.astype(np.float64) * 255.0
    mask = {"original": np.ones((height, width, 1)), "feather": feather_mask(height, width),
            "mouth": mouth_mask(height, width)}[mode].astype(np.float64) * strength
    out = frame.astype(np.float64)
    region = out[y1:y2, x1:x2]
    out[y1:y2, x1:x2] = np.clip(region + (resized - region) * mask, 0, 255)
    return out


def assert_pasted(actual: np.ndarray, frame: np.ndarray, face: np.ndarray, box, mode: str, strength: float = 1.0):
    expected = expected_paste(frame, face, box, mode, strength)
    y1, y2, x1, x2 = box
    inside = np.zeros(frame.shape[:2], bool)
    inside[y1:y2, x1:x2] = True
    worst = float(np.abs(actual.astype(np.float64) - expected)[inside].max())
    assert worst <= 1.0, f"box values off by up to {worst:.0f}/255"
    np.testing.assert_array_equal(actual[~inside], frame[~inside])


# --- the mouth mask ----------------------------------------------------------------------------------------------

def test_the_mouth_mask_covers_mouth_and_chin_and_leaves_nose_cheeks_eyes_and_box_edges():
    height, width = 200, 180
    mask = mouth_mask(height, width)[:, :, 0]
    assert mask.shape == (height, width) and not mouth_mask(height, width).flags.writeable

    def at(y: float, x: float) -> float:
        return float(mask[int(y * height), int(x * width)])

    assert at(0.72, 0.5) == pytest.approx(1.0) and at(0.85, 0.5) > 0.95        # lips, middle of the chin
    assert at(0.72, 0.3) > 0.8 and at(0.72, 0.7) > 0.8                         # the mouth's corners
    assert (mask[:int(0.46 * height)] == 0).all()                               # eyes and nose
    assert at(0.72, 0.1) == 0 and at(0.72, 0.9) == 0                            # cheeks
    assert mask[0].max() == mask[-1].max() == mask[:, 0].max() == mask[:, -1].max() == 0   # no box seam
    assert np.allclose(mask, mask[:, ::-1], atol=1e-6)
    assert 0.1 < mask.mean() < feather_mask(height, width).mean()


def test_the_blend_mask_of_each_mode_and_the_changed_region_follow_the_mode_and_the_strength():
    assert BLEND_MODES[:2] == ("feather", "original") and "mouth" in BLEND_MODES
    np.testing.assert_array_equal(blend_mask("original", 30, 20), np.ones((30, 20, 1), np.float32))
    np.testing.assert_array_equal(blend_mask("mouth", 30, 20), mouth_mask(30, 20))
    box = (10, 40, 5, 25)
    for mode in BLEND_MODES:
        changed = changed_region_mask(50, 30, box, mode, strength=0.5)
        np.testing.assert_allclose(changed[10:40, 5:25], blend_mask(mode, 30, 20)[:, :, 0] * 0.5)
        assert changed.sum() == pytest.approx(changed[10:40, 5:25].sum())
    with pytest.raises(ValueError, match="blend must be one of"):
        blend_mask("lips", 10, 10)


# --- faces of any square size, every blend mode --------------------------------------------------------------------

@pytest.mark.parametrize("size", [96, 384, 512])
@pytest.mark.parametrize("mode", BLEND_MODES)
@pytest.mark.parametrize("box", [(40, 230, 60, 230), (20, 460, 30, 450)], ids=["smaller box", "larger box"])
def test_a_face_of_any_square_size_is_resampled_into_the_box_and_blended_by_the_modes_mask(size, mode, box):
    frame, face = textured_frame(), textured_face(size)
    actual = frame.copy()
    paste_face(actual, face, box, mode)
    assert_pasted(actual, frame, face, box, mode)


def test_shrinking_a_large_face_averages_fine_texture_instead_of_aliasing_it():
    checkerboard = (np.indices((512, 512)).sum(axis=0) % 2).astype(np.float32)
    face = np.repeat(checkerboard[:, :, None], 3, axis=2)          # a restorer's finest detail: 1 px stripes
    frame = np.zeros((200, 200, 3), np.uint8)
    paste_face(frame, face, (0, 150, 0, 150), "original")           # 3.4x smaller: bicubic would show stripes
    box = frame[:150, :150].astype(np.float64)
    assert abs(box.mean() - 127.5) < 1 and box.std() < 4           # bicubic: std 62, bilinear 42


def test_strength_scales_the_mask_and_zero_leaves_the_frame_untouched():
    frame, face = textured_frame(), textured_face(384)
    box = (40, 230, 60, 230)
    for mode in BLEND_MODES:
        untouched = frame.copy()
        paste_face(untouched, face, box, mode, strength=0.0)
        np.testing.assert_array_equal(untouched, frame)
        half = frame.copy()
        paste_face(half, face, box, mode, strength=0.5)
        assert_pasted(half, frame, face, box, mode, strength=0.5)


@pytest.mark.parametrize("shape", [(96, 80, 3), (64, 64, 3), (96, 96, 4)])
def test_a_face_that_is_not_square_or_smaller_than_96_is_refused(shape):
    with pytest.raises(ValueError, match="square RGB image of at least 96x96"):
        paste_face(textured_frame(), np.zeros(shape, np.float32), (0, 100, 0, 100))


# --- color_match ------------------------------------------------------------------------------------------------------

def flatter_and_warmer(face_rgb: np.ndarray) -> np.ndarray:
    """A colour cast that stays inside 0..1: less contrast, redder, less blue."""
    cast = (face_rgb - 0.5) * 0.9 + 0.5
    cast[..., 0] += 0.04
    cast[..., 2] -= 0.04
    return cast.astype(np.float32)


def punchier_and_darker(face_rgb: np.ndarray) -> np.ndarray:
    """A cast that clips, as a restorer's clamped output does: more contrast, darker, warmer."""
    cast = (face_rgb - 0.5) * 1.1 + 0.46
    cast[..., 0] += 0.04
    cast[..., 2] -= 0.04
    return np.clip(cast, 0, 1).astype(np.float32)


@pytest.mark.parametrize("mode", ["feather", "mouth"])
@pytest.mark.parametrize("cast, remaining", [(flatter_and_warmer, 0.05), (punchier_and_darker, 0.5)],
                         ids=["within range", "clipped"])
def test_color_match_undoes_a_restorers_colour_cast_and_is_off_by_default(mode, cast, remaining):
    """Without clipping the cast is affine per YCbCr channel and is undone; clipped values cannot be recovered,
    so there half of the error is the promise."""
    from skimage.data import astronaut

    frame = cv2.resize(astronaut(), (320, 320), interpolation=cv2.INTER_AREA)
    box = (50, 130, 100, 170)                                        # the face, brows to chin
    y1, y2, x1, x2 = box
    restored = cv2.resize(frame[y1:y2, x1:x2], (512, 512), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    faithful, default, matched, explicit_off = (frame.copy() for _ in range(4))
    paste_face(faithful, restored, box, mode)
    paste_face(default, cast(restored), box, mode)
    paste_face(explicit_off, cast(restored), box, mode, color_match=False)
    paste_face(matched, cast(restored), box, mode, color_match=True)
    np.testing.assert_array_equal(default, explicit_off)
    weight = blend_mask(mode, y2 - y1, x2 - x1)

    def error(result: np.ndarray) -> float:        # mean colour error where the face was blended in
        difference = np.abs(result[y1:y2, x1:x2].astype(np.float64) - faithful[y1:y2, x1:x2]).mean(axis=2)
        return float((difference * weight[:, :, 0]).sum() / weight.sum())

    assert error(default) > 5
    assert error(matched) < remaining * error(default)


def test_color_match_changes_nothing_outside_the_box_and_copes_with_a_flat_face():
    frame = textured_frame()
    flat = np.full((384, 384, 3), 0.3, np.float32)
    actual = frame.copy()
    paste_face(actual, flat, (40, 230, 60, 230), "mouth", color_match=True)
    outside = np.ones(frame.shape[:2], bool)
    outside[40:230, 60:230] = False
    np.testing.assert_array_equal(actual[outside], frame[outside])
    region = frame[40:230, 60:230].reshape(-1, 3).mean(axis=0)
    centre = actual[40 + int(0.72 * 190), 60 + 85].astype(np.float64)
    assert np.abs(centre - region).max() < 6, "a flat face takes the region's mean colour"


# --- the chain through the nodes: Sync -> an upscale model (spandrel) -> Paste Back ------------------------------------

@pytest.fixture(scope="module")
def compact_4x():
    return load_upscale_model(random_compact(scale=4))


@pytest.fixture(scope="module")
def compact_1x():
    return load_upscale_model(random_compact(scale=1, seed=1))


@pytest.fixture(scope="module")
def synced(generator, speech):
    """Audio To Mel -> Detect Faces (manual box) -> Wav2Lip Sync on a 256 px astronaut clip."""
    clip = astronaut_clip(4, size=256)
    images = as_image(clip)
    mel, frame_count, _ = run("AudioToMel", audio=as_audio(speech, 16000), fps=FPS)
    faces, crops = run("DetectFaces", images=images, frame_count=frame_count,
                       **{**defaults("DetectFaces"), "manual_box": "40, 230, 60, 210"})
    generated, plan = run("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                          **defaults("Wav2LipSync"))
    return clip, images, generated, plan


def restorer_stand_in(generated: torch.Tensor, compact_1x) -> torch.Tensor:
    """A 512-only face restorer's path: "Upscale Image" (bicubic) to 512, then a 1x model."""
    return upscale_like_comfyui(compact_1x, scale_like_comfyui(generated, 512))


@pytest.mark.parametrize("size", [96, 384, 512])
def test_any_image_to_image_model_between_sync_and_paste_back_works_for_every_blend(size, synced, compact_4x,
                                                                                    compact_1x):
    clip, images, generated, plan = synced
    if size == 384:
        faces = upscale_like_comfyui(compact_4x, generated)
        assert compact_4x.architecture.name == "RealESRGAN Compact"
    elif size == 512:
        faces = restorer_stand_in(generated, compact_1x)
    else:
        faces = generated
    assert faces.shape == (plan.num_frames, size, size, 3)
    face_pixels = faces.numpy()
    for mode in BLEND_MODES:
        frames, mask = run("PasteBack", images=images, generated_faces=faces, sync=plan, blend=mode,
                           mask="changed region", color_match=False)
        for index in range(plan.num_frames):
            source = clip[plan.source_frames[index]]
            assert_pasted(as_uint8(frames[index]), source, face_pixels[index], tuple(plan.boxes[index]), mode)
            np.testing.assert_allclose(mask[index].numpy(),
                                       changed_region_mask(256, 256, tuple(plan.boxes[index]), mode))


def test_paste_back_with_color_match_is_the_engines_color_matched_paste(synced, compact_4x):
    clip, images, generated, plan = synced
    faces = upscale_like_comfyui(compact_4x, generated)
    frames, _ = run("PasteBack", images=images, generated_faces=faces, sync=plan, blend="mouth", mask="off",
                    color_match=True)
    for index in range(plan.num_frames):
        expected = clip[plan.source_frames[index]].copy()
        paste_face(expected, faces[index].numpy(), tuple(plan.boxes[index]), "mouth", color_match=True)
        np.testing.assert_array_equal(as_uint8(frames[index]), expected)


def test_paste_back_says_what_to_connect_for_faces_that_are_not_square_or_not_one_per_frame(synced):
    _, images, generated, plan = synced
    node_inputs = dict(images=images, sync=plan, blend="feather", mask="off")
    paste = NODE_CLASS_MAPPINGS["PasteBack"]().paste
    with pytest.raises(ValueError, match="not square.*512x512"):
        paste(generated_faces=F.interpolate(generated.movedim(-1, -3), size=(96, 128)).movedim(-3, -1), **node_inputs)
    with pytest.raises(ValueError, match="same Wav2Lip Sync node"):
        paste(generated_faces=generated[:-1], **node_inputs)
    with pytest.raises(ValueError, match="smaller than Wav2Lip's 96x96"):
        paste(generated_faces=generated[:, :64, :64], **node_inputs)


# --- silence through the nodes --------------------------------------------------------------------------------------

def test_silence_keep_through_the_nodes_leaves_paused_frames_exactly_as_they_came_in(generator, speech_16k):
    from test_silence import speech_with_pause
    from wav2lip_core.silence import plan_silence_for_audio

    wav = speech_with_pause(speech_16k, 0.3, 0.6, 0.3)
    clip = astronaut_clip(3)
    images = as_image(clip)
    mel, frame_count, _ = run("AudioToMel", audio=as_audio(wav, 16000), fps=FPS)
    faces, crops = run("DetectFaces", images=images, frame_count=frame_count,
                       **{**defaults("DetectFaces"), "manual_box": BOX_TEXT})
    generated, plan = run("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                          **{**defaults("Wav2LipSync"), "silence": "keep"})
    expected = plan_silence_for_audio(wav, FPS, "keep")
    np.testing.assert_array_equal(plan.paste_weights, expected.paste_weights)
    assert expected.pauses.sum() >= 5
    frames, mask = run("PasteBack", images=images, generated_faces=generated, sync=plan, blend="mouth",
                       mask="changed region", color_match=False)
    for index in range(plan.num_frames):
        source = images[plan.source_frames[index]]
        if expected.pauses[index]:
            assert torch.equal(frames[index], source) and float(mask[index].max()) == 0
        else:
            assert not torch.equal(frames[index], source)
            weight = float(expected.paste_weights[index])
            assert float(mask[index].max()) == pytest.approx(weight, abs=1e-6)
    y1, y2, x1, x2 = BOX
    assert (frames[:, :y1] == images[torch.tensor(plan.source_frames)][:, :y1]).all()


def test_silence_closed_through_the_nodes_gives_one_face_for_a_still_image_throughout_the_pause(generator,
                                                                                             speech_16k):
    from test_silence import speech_with_pause

    wav = speech_with_pause(speech_16k, 0.2, 0.6, 0.2, pause_level=1e-3)     # -60 dBFS of noise
    images = as_image(astronaut_clip(1))
    mel, frame_count, _ = run("AudioToMel", audio=as_audio(wav, 16000), fps=FPS)
    faces, crops = run("DetectFaces", images=images, frame_count=frame_count,
                       **{**defaults("DetectFaces"), "manual_box": BOX_TEXT})
    generated, plan = run("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                          **{**defaults("Wav2LipSync"), "silence": "closed"})
    paused = np.flatnonzero(mel.loudness_dbfs < -45)
    assert len(paused) >= 5 and (plan.paste_weights == 1).all()
    assert not all(np.array_equal(mel.chunks[i], mel.chunks[paused[0]]) for i in paused), "the noise differs"
    assert all(torch.equal(generated[i], generated[paused[0]]) for i in paused)
    assert not torch.equal(generated[paused[0] - 1], generated[paused[0]])
