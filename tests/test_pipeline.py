"""The lip-sync pipeline: frame/mel pairing, the model's input layout, paste-back and blend modes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import astronaut_clip
from wav2lip_core.audio import speech_mel_chunks
from wav2lip_core.compositing import faces as faces_module
from wav2lip_core.compositing.blend import changed_region_mask, feather_mask, paste_face
from wav2lip_core.compositing.faces import crop_face, generate_faces, model_face_input
from wav2lip_core.detection import DetectionOptions, fixed_box_track
from wav2lip_core.pipeline import lipsync
from wav2lip_core.schedule import source_frame_indices

BOX = (30, 110, 40, 108)  # y1, y2, x1, x2 around the astronaut's face in the 128x128 clip


# --- pairing of video frames with audio chunks -------------------------------------------------------------

def test_a_video_shorter_than_the_audio_wraps_around_like_the_original():
    assert source_frame_indices(3, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_pingpong_plays_a_short_clip_back_and_forth_without_a_jump():
    assert source_frame_indices(4, 10, loop="pingpong").tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]


def test_a_video_longer_than_the_audio_is_cut_and_a_still_image_repeats():
    assert source_frame_indices(100, 5).tolist() == [0, 1, 2, 3, 4]
    assert source_frame_indices(1, 4, loop="pingpong").tolist() == [0, 0, 0, 0]
    assert source_frame_indices(9, 3, static=True).tolist() == [0, 0, 0]


def test_the_output_has_one_frame_per_audio_chunk_whatever_the_video_length(wav2lip_model, speech_16k):
    wav = speech_16k[:16000]
    expected = len(speech_mel_chunks(wav, 25))
    for num_frames in (1, 5, 40):
        out = lipsync(astronaut_clip(num_frames), wav, 25, wav2lip_model, box=BOX, batch_size=16)
        assert out.shape == (expected, 128, 128, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("loop,static", [("loop", False), ("pingpong", False), ("loop", True)])
def test_the_output_covers_the_whole_speech_looped_played_back_and_forth_or_still(wav2lip_model, speech_16k,
                                                                                  loop, static):
    """0.60 s at 25 fps: 15 frames (0.60 s of video), each showing its input frame outside the box: the 4-frame
    clip looped, played back and forth, or the still image."""
    clip = astronaut_clip(4)
    out = lipsync(clip, speech_16k[:9600], 25, wav2lip_model, box=BOX, static=static, loop=loop, batch_size=16)
    assert out.shape == (15, 128, 128, 3)
    outside = np.ones((128, 128), bool)
    outside[BOX[0]:BOX[1], BOX[2]:BOX[3]] = False
    sources = source_frame_indices(len(clip), 15, loop=loop, static=static)
    for frame, source in zip(out, sources):
        np.testing.assert_array_equal(frame[outside], clip[source][outside])


def test_length_original_gives_the_originals_count_and_the_same_frames_where_the_windows_fit(wav2lip_model,
                                                                                             speech_16k):
    clip = astronaut_clip(4)
    whole = lipsync(clip, speech_16k[:9600], 25, wav2lip_model, box=BOX, batch_size=16)
    original = lipsync(clip, speech_16k[:9600], 25, wav2lip_model, box=BOX, batch_size=16, length="original")
    assert len(whole) == 15 and len(original) == 12
    # Frames 0..10 hear the same mel windows in both (the original's 12th hears the last 16 columns instead of
    # the 16 from where frame 11 starts); another batch size may round a value by 1 LSB.
    difference = np.abs(whole[:11].astype(np.int16) - original[:11].astype(np.int16))
    assert difference.max() <= 1 and (difference > 0).mean() <= 0.001
    assert not np.array_equal(whole[11], original[11])


# --- model input ---------------------------------------------------------------------------------------------

def test_model_input_is_bgr_masked_target_then_bgr_reference_scaled_to_unit_range():
    crops = np.random.default_rng(0).integers(0, 256, size=(2, 96, 96, 3), dtype=np.uint8)
    tensor = model_face_input(crops)
    assert tensor.shape == (2, 6, 96, 96) and tensor.dtype == torch.float32
    bgr = crops[..., ::-1].transpose(0, 3, 1, 2) / 255.0
    np.testing.assert_array_equal(tensor[:, 3:].numpy(), bgr.astype(np.float32))          # reference, unmasked
    np.testing.assert_array_equal(tensor[:, :3, :48].numpy(), bgr[:, :, :48].astype(np.float32))  # upper half kept
    assert (tensor[:, :3, 48:] == 0).all()                                                   # lower half masked


def test_uint8_to_float_matches_the_originals_float64_division():
    values = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(faces_module.UINT8_TO_UNIT[values], (values / 255.0).astype(np.float32))


def test_crops_are_resized_to_96_pixels_from_the_box():
    frame = astronaut_clip(1)[0]
    crop = crop_face(frame, BOX)
    assert crop.shape == (96, 96, 3) and crop.dtype == np.uint8


def test_different_audio_gives_different_mouths_and_the_same_audio_the_same(wav2lip_model, speech_16k):
    crops = np.stack([crop_face(astronaut_clip(1)[0], BOX)] * 2)
    chunks = speech_mel_chunks(speech_16k, 25)
    first = generate_faces(wav2lip_model, crops, chunks[[10, 40]])
    again = generate_faces(wav2lip_model, crops, chunks[[10, 40]])
    np.testing.assert_array_equal(first, again)
    mouth_difference = np.abs(first[0, 55:90, 25:70] - first[1, 55:90, 25:70]).mean() * 255
    assert mouth_difference > 2.0, f"the mouth barely depends on the audio ({mouth_difference:.2f}/255)"
    assert first.shape == (2, 96, 96, 3) and 0 <= first.min() and first.max() <= 1


# --- paste-back ----------------------------------------------------------------------------------------------

def test_original_paste_changes_nothing_outside_the_box(wav2lip_model, speech_16k):
    clip = astronaut_clip(4)
    out = lipsync(clip, speech_16k[:8000], 25, wav2lip_model, box=BOX, blend="original")
    y1, y2, x1, x2 = BOX
    sources = source_frame_indices(len(clip), len(out))
    outside = np.ones(clip.shape[1:3], dtype=bool)
    outside[y1:y2, x1:x2] = False
    for frame, source in zip(out, sources):
        np.testing.assert_array_equal(frame[outside], clip[source][outside])
        assert not np.array_equal(frame[y1:y2, x1:x2], clip[source][y1:y2, x1:x2])


def test_original_paste_truncates_to_uint8_like_the_original():
    frame = np.zeros((20, 20, 3), np.uint8)
    face = np.full((96, 96, 3), 0.9999, np.float32)
    paste_face(frame, face, (0, 10, 0, 10), "original")
    assert (frame[:10, :10] == 254).all() and (frame[10:] == 0).all()


def test_feather_blend_keeps_the_box_edges_and_eyes_and_replaces_the_mouth():
    mask = feather_mask(100, 80)[:, :, 0]
    assert mask[:40].max() == 0                       # upper face (eyes, nose) stays the original's
    assert mask[75, 40] == pytest.approx(1.0)         # the mouth is the generated one
    assert mask[-1].max() < 0.1 and mask[:, 0].max() < 0.1 and mask[:, -1].max() < 0.1  # no seam at the box
    frame = np.full((120, 100, 3), 100, np.uint8)
    paste_face(frame, np.ones((96, 96, 3), np.float32), (10, 110, 10, 90), "feather")
    assert (frame[:10] == 100).all() and (frame[:, :10] == 100).all()
    assert frame[85, 50].tolist() == [255, 255, 255]


def test_the_changed_region_mask_matches_the_blend_mode():
    hard = changed_region_mask(50, 60, (10, 40, 20, 50), "original")
    assert hard.sum() == 30 * 30 and hard[10:40, 20:50].min() == 1
    soft = changed_region_mask(50, 60, (10, 40, 20, 50), "feather")
    assert soft[:10].max() == 0 and 0 < soft.max() <= 1


def test_frames_without_a_face_pass_through_unchanged(wav2lip_model, speech_16k):
    clip = astronaut_clip(4)
    boxes = fixed_box_track(BOX, 4)
    boxes.found[1] = False
    out = lipsync(clip, speech_16k[:4000], 25, wav2lip_model, face_boxes=boxes)
    np.testing.assert_array_equal(out[1], clip[1])
    assert not np.array_equal(out[0], clip[0])


def test_inputs_are_never_modified(wav2lip_model, speech_16k):
    clip = astronaut_clip(3)
    before = clip.copy()
    lipsync(clip, speech_16k[:4000], 25, wav2lip_model, box=BOX)
    np.testing.assert_array_equal(clip, before)


def test_static_mode_uses_only_the_first_frame(wav2lip_model, speech_16k):
    clip = astronaut_clip(5)
    still = lipsync(clip, speech_16k[:4000], 25, wav2lip_model, box=BOX, static=True, blend="original")
    only_first = lipsync(clip[:1], speech_16k[:4000], 25, wav2lip_model, box=BOX, blend="original")
    np.testing.assert_array_equal(still, only_first)


def test_batch_size_does_not_change_the_result(wav2lip_model, speech_16k):
    clip = astronaut_clip(6)
    a = lipsync(clip, speech_16k[:6000], 25, wav2lip_model, box=BOX, batch_size=3, blend="original")
    b = lipsync(clip, speech_16k[:6000], 25, wav2lip_model, box=BOX, batch_size=128, blend="original")
    assert np.abs(a.astype(int) - b).max() <= 1


def test_a_box_outside_the_frame_is_a_clear_error(wav2lip_model, speech_16k):
    with pytest.raises(ValueError, match="does not fit inside"):
        lipsync(astronaut_clip(2), speech_16k[:4000], 25, wav2lip_model, box=(0, 200, 0, 50))


def test_frames_must_be_uint8_rgb(wav2lip_model, speech_16k):
    with pytest.raises(ValueError, match="uint8 RGB"):
        lipsync(astronaut_clip(2).astype(np.float32), speech_16k[:4000], 25, wav2lip_model, box=BOX)


# --- with face detection -------------------------------------------------------------------------------------

def test_without_a_box_faces_are_detected_and_a_frame_without_a_face_passes_through(wav2lip_model, speech_16k):
    clip = astronaut_clip(6, size=160)
    clip[3] = 0                                                   # a blank frame: no face
    out = lipsync(clip, speech_16k[:5000], 25, wav2lip_model,
                  detection=DetectionOptions(detector="dlib_hog", on_missing="skip"))
    assert len(out) == len(speech_mel_chunks(speech_16k[:5000], 25))
    np.testing.assert_array_equal(out[3], clip[3])
    assert not np.array_equal(out[2], clip[2])
    untouched_top = out[0, :20]                                    # the face is below the top rows
    np.testing.assert_array_equal(untouched_top, clip[0, :20])


def test_on_cpu_frames_stream_out_in_steps_of_two_generator_batches(wav2lip_model, speech_16k):
    """Small steps let the video encoder work while the next step is generated; memory stays a few frames."""
    from wav2lip_core.pipeline import iter_lipsync

    frames = astronaut_clip(40, 64)
    chunks = speech_mel_chunks(speech_16k[:16000 * 2], 25.0)     # 50 output frames
    boxes = fixed_box_track((5, 60, 5, 60), len(frames))
    sizes = [len(batch) for batch in iter_lipsync(frames, chunks, wav2lip_model, boxes, batch_size=128)]
    assert sum(sizes) == len(chunks) and max(sizes) == 16


def test_steps_follow_the_batch_size_and_the_byte_budget_on_gpus():
    from wav2lip_core.pipeline import MAX_STEP_BYTES, frames_per_step

    hd_frame = 1080 * 1920 * 3
    assert frames_per_step(128, 256 * 256 * 3, torch.device("cuda")) == 128
    assert frames_per_step(128, hd_frame, torch.device("cuda")) == MAX_STEP_BYTES // hd_frame
    assert frames_per_step(4, hd_frame, torch.device("cpu")) == 4
    assert frames_per_step(128, 10**12, torch.device("cpu")) == 1
