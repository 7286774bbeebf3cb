"""Lip-sync scoring (wav2lip_core.scoring): LSE-D / LSE-C / AV offset as joonson/syncnet_python computes them.

The reference numbers in tests/golden/syncnet_reference.json come from the reference's own evaluate() and
crop_video(), run once on the same seeded random weights, clip and face track (how: the file's "how_made").
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from random_syncnet_v2 import random_syncnet_v2, weights_fingerprint
from sync_stand_ins import LoudnessBrightnessExpert, LoudnessBrightnessSyncNetV2, audio_leading_clip
from syncnet_clip import (CLIP_FRAMES, build_clip, crop_case_boxes, crop_case_frames, frames_as_reference_reads_them,
                          speech_int16)
from wav2lip_core.checkpoints import CheckpointError, load_syncnet_v2
from wav2lip_core.detection import FaceTrack
from wav2lip_core.models import SyncNetColor, SyncNetV2
from wav2lip_core.scoring import (iter_face_crops, iter_reference_frames, mfcc, offset_distances,
                                  reference_crop_track, score_lipsync, score_lipsync_expert, summarise)
from wav2lip_core.scoring.evaluate import iter_window_batches
from wav2lip_core.scoring.expert import expert_mel_start
from wav2lip_core.scoring.median_filter import zero_padded_median_filter

GOLDEN = json.loads((Path(__file__).parent / "golden" / "syncnet_reference.json").read_text())


@pytest.fixture(scope="module")
def seeded_syncnet_v2() -> SyncNetV2:
    return random_syncnet_v2(seed=0)


@pytest.fixture(scope="module")
def syncnet_v2_file(tmp_path_factory, seeded_syncnet_v2) -> Path:
    """The seeded random weights saved as syncnet_v2.model is saved (a bare state dict)."""
    path = tmp_path_factory.mktemp("syncnet_v2") / "syncnet_v2.model"
    torch.save(seeded_syncnet_v2.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory) -> Path:
    """55 frames of a 224x224 face crop video with 2.2 s of speech (tests/syncnet_clip.py), as an mp4."""
    return build_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


# --------------------------------------------------------------------------------------------------
# parity with the reference


def test_the_seeded_weights_are_those_the_reference_ran_with(seeded_syncnet_v2):
    """Generator-made parameters bit for bit; BatchNorm statistics (calibrated by forward passes) to rounding."""
    fingerprint = weights_fingerprint(seeded_syncnet_v2)
    assert fingerprint["random_parameters_sha256"] == GOLDEN["weights"]["random_parameters_sha256"]
    assert fingerprint["running_stats_abs_sum"] == pytest.approx(GOLDEN["weights"]["running_stats_abs_sum"], rel=1e-3)


def test_syncnet_v2_scores_match_the_reference_evaluate(syncnet_v2_file, face_clip):
    """A video that already is a 224x224 face crop, scored with the box (0, 224, 0, 224): same offset, and
    confidence, min distance and every offset distance within 0.01, framewise confidence within 0.02."""
    model = load_syncnet_v2(syncnet_v2_file)
    wav = speech_int16().astype(np.float32) / 32768.0          # float [-1, 1), as the engine passes audio

    score = score_lipsync(model, iter_reference_frames(face_clip), wav, boxes=(0, 224, 0, 224))

    assert score.model == "syncnet_v2" and score.vshift == 15
    assert score.num_windows == GOLDEN["num_windows"] == CLIP_FRAMES - 5
    assert score.av_offset == GOLDEN["av_offset"]
    assert score.confidence == pytest.approx(GOLDEN["confidence"], abs=0.01)
    assert score.min_dist == pytest.approx(GOLDEN["min_dist"], abs=0.01)
    np.testing.assert_allclose(score.offset_dists, GOLDEN["offset_dists"], rtol=0, atol=0.01)
    np.testing.assert_allclose(score.frame_confidence, GOLDEN["frame_confidence"], rtol=0, atol=0.02)


def test_reference_frames_are_the_jpegs_the_reference_reads(face_clip, tmp_path):
    """iter_reference_frames streams what evaluate() gets from `ffmpeg ... -f image2 %06d.jpg` + cv2.imread."""
    streamed = np.stack(list(iter_reference_frames(face_clip)))
    np.testing.assert_array_equal(streamed, frames_as_reference_reads_them(face_clip, tmp_path / "jpg"))


def test_reference_crop_geometry_matches_run_pipeline_crop_video():
    """Median-filtered centre and size, grey padding where the square leaves the frame, 224x224: bit-exact."""
    expected = GOLDEN["crop_video"]
    boxes = crop_case_boxes()

    track = reference_crop_track(boxes)
    np.testing.assert_array_equal(track.centre_x, expected["centre_x"])
    np.testing.assert_array_equal(track.centre_y, expected["centre_y"])
    np.testing.assert_array_equal(track.half_size, expected["half_size"])
    crops = list(iter_face_crops(crop_case_frames(), boxes, geometry="reference"))
    assert len(crops) == len(expected["crop_sha256"])
    for index, crop in enumerate(crops):
        assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
        assert hashlib.sha256(crop.tobytes()).hexdigest() == expected["crop_sha256"][index], (
            f"crop {index} differs: mean RGB {crop.reshape(-1, 3).mean(axis=0)}, "
            f"the reference's {expected['crop_mean_rgb'][index]}")
    assert (crops[-1][0, 0] == 110).all(), "the last box is near the corner: the crop must show the grey padding"


def test_mfcc_is_python_speech_features_mfcc():
    python_speech_features = pytest.importorskip("python_speech_features")
    speech = speech_int16()
    expected = python_speech_features.mfcc(speech, 16000)
    np.testing.assert_allclose(mfcc(speech), expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(mfcc(speech.astype(np.float32) / 32768.0 * 32768.0), expected, rtol=0, atol=1e-8)
    for length in (1, 399, 400, 401, 561):      # one frame, the zero-padded last frame, frame boundaries
        samples = np.random.default_rng(length).integers(-30000, 30000, length).astype(np.int16)
        np.testing.assert_allclose(mfcc(samples), python_speech_features.mfcc(samples, 16000), rtol=0, atol=1e-8)
    silence = np.zeros(2000, np.int16)           # log(0) guarded by float eps, as the package does
    np.testing.assert_allclose(mfcc(silence), python_speech_features.mfcc(silence, 16000), rtol=0, atol=1e-8)


@pytest.mark.parametrize("length", [1, 5, 9, 50, 101])
@pytest.mark.parametrize("kernel_size", [9, 13])
def test_median_filter_is_scipy_medfilt_with_its_zero_padding(length, kernel_size):
    from scipy.signal import medfilt

    values = np.random.default_rng(length).normal(3.0, 2.0, length).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # scipy warns when the kernel is longer than the data
        expected = medfilt(values, kernel_size=kernel_size)
    np.testing.assert_array_equal(zero_padded_median_filter(values, kernel_size), expected)


# --------------------------------------------------------------------------------------------------
# the network and its file


def test_syncnet_v2_has_the_state_dict_layout_of_syncnet_v2_model():
    """Names count the ReLU and pooling layers of each nn.Sequential, as the published file does."""
    model = SyncNetV2()
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert shapes["netcnnlip.0.weight"] == (96, 3, 5, 7, 7)
    assert shapes["netcnnlip.18.weight"] == (512, 256, 1, 6, 6)
    assert shapes["netcnnaud.18.weight"] == (512, 256, 5, 4)
    assert shapes["netfcaud.3.weight"] == shapes["netfclip.3.weight"] == (1024, 512)
    assert sum(parameter.numel() for parameter in model.parameters()) == 13_631_616   # 54.5 MB as float32


def test_a_file_from_old_pytorch_without_batchnorm_counters_loads_strictly(tmp_path):
    torch.manual_seed(1)
    state = {key: value for key, value in SyncNetV2().state_dict().items() if not key.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "syncnet_v2.model")
    loaded = load_syncnet_v2(tmp_path / "syncnet_v2.model")
    assert isinstance(loaded, SyncNetV2) and not loaded.training
    torch.testing.assert_close(loaded.state_dict()["netfclip.3.weight"], state["netfclip.3.weight"])


def test_the_checkpoint_registry_knows_syncnet_v2_and_finds_it_under_its_published_name(tmp_path, syncnet_v2_file):
    from wav2lip_core.checkpoints import KNOWN_MODELS, SYNCNET_V2, list_model_files, resolve_checkpoint

    assert KNOWN_MODELS["syncnet_v2"].architecture == SYNCNET_V2
    assert KNOWN_MODELS["syncnet_v2"].filename == "syncnet_v2.model"
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "syncnet_v2.model").write_bytes(syncnet_v2_file.read_bytes())
    assert list_model_files([folder]) == ["syncnet_v2.model"]        # the .model extension is listed
    assert resolve_checkpoint("syncnet_v2", search_dirs=[folder], allow_download=False) == folder / "syncnet_v2.model"


def test_loading_another_network_says_what_is_wrong(tmp_path):
    torch.save(SyncNetColor().state_dict(), tmp_path / "lipsync_expert.pth")
    with pytest.raises(CheckpointError, match="lip-sync expert.*but SyncNet v2"):
        load_syncnet_v2(tmp_path / "lipsync_expert.pth")
    (tmp_path / "empty.model").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_syncnet_v2(tmp_path / "empty.model")


# --------------------------------------------------------------------------------------------------
# offsets: meaning and sign


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_offset_is_positive_when_the_audio_leads_the_mouth(metric):
    """Video window i shows what audio window i - 3 says: av_offset = +3, offset_dists lowest at offsets[k] == 3."""
    generator = torch.Generator().manual_seed(0)
    audio = torch.rand(40, 16, generator=generator)
    video = torch.cat([torch.rand(3, 16, generator=generator), audio[:-3]])
    score = summarise(offset_distances(video, audio, vshift=15, metric=metric), vshift=15, model="test")
    assert score.av_offset == 3
    assert score.offsets[int(np.argmin(score.offset_dists))] == 3
    assert score.confidence > 0 and len(score.frame_confidence) == 40


def test_offset_distances_compare_against_zero_padded_audio():
    video = torch.ones(4, 2)
    audio = torch.full((4, 2), 3.0)
    euclidean = offset_distances(video, audio, vshift=2)
    # column k compares video i with audio i + k - 2; outside the clip the audio is a zero vector
    assert euclidean[0, 0] == pytest.approx(np.sqrt(2) * (1 + 1e-6), rel=1e-5)     # |v - 0 + eps|
    assert euclidean[0, 2] == pytest.approx(np.sqrt(2) * (2 - 1e-6), rel=1e-5)     # |v - a + eps|
    cosine = offset_distances(video, audio, vshift=2, metric="cosine")
    assert cosine[0, 0] == pytest.approx(1.0) and cosine[0, 2] == pytest.approx(0.0, abs=1e-6)


def _score_with_expert_stub(model: nn.Module, frames: np.ndarray, wav: np.ndarray):
    """score_lipsync dispatches on SyncNetColor; a stand-in goes to the expert scorer directly (7-window batches,
    so windows cross batch boundaries)."""
    return score_lipsync_expert(model, iter(frames), wav, batch_size=7)


def test_syncnet_v2_scorer_aligns_frames_with_their_mfcc_and_finds_audio_that_leads():
    frames, wav = audio_leading_clip(lead_frames=3)
    score = score_lipsync(LoudnessBrightnessSyncNetV2(), frames, wav)
    assert score.av_offset == 3
    assert score.min_dist < 0.5 < score.confidence


def test_lipsync_expert_scorer_aligns_frames_with_their_mel_and_finds_audio_that_leads():
    frames, wav = audio_leading_clip(lead_frames=2, size=96)
    score = _score_with_expert_stub(LoudnessBrightnessExpert(), frames, wav)
    assert score.model == "lipsync_expert"
    assert score.av_offset == 2
    assert score.min_dist < 0.2 < score.confidence


def test_lipsync_expert_gets_wav2lip_s_input_layout():
    """Faces: lower halves of frames i..i+4, BGR, /255, time-major channels; mel: 16 columns from int(80 i / 25)."""
    from wav2lip_core.audio import melspectrogram

    frames = np.random.default_rng(2).integers(0, 256, (12, 96, 96, 3), dtype=np.uint8)
    wav = np.random.default_rng(3).standard_normal(12 * 640).astype(np.float32) * 0.1
    model = LoudnessBrightnessExpert()
    _score_with_expert_stub(model, frames, wav)
    mels = torch.cat([mel for mel, _ in model.inputs])
    faces = torch.cat([face for _, face in model.inputs])
    assert faces.shape == (12 - 5, 15, 48, 96) and mels.shape == (12 - 5, 1, 80, 16)
    window = 4
    frame_2_of_window = frames[window + 2, 48:, :, ::-1].transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(faces[window, 6:9].numpy(), frame_2_of_window, rtol=0, atol=1e-7)
    start = expert_mel_start(window)
    assert start == int(80 * window / 25) == 12
    np.testing.assert_array_equal(mels[window, 0].numpy(), melspectrogram(wav)[:, start:start + 16])


def test_lipsync_expert_scores_a_face_clip_with_its_random_network(syncnet_model):
    frames = np.stack(list(iter_face_crops(crop_case_frames(), crop_case_boxes(), geometry="box", size=96)))
    score = score_lipsync(syncnet_model, frames, speech_int16()[:len(frames) * 640].astype(np.float32) / 32768,
                          boxes=None)
    assert score.model == "lipsync_expert" and score.num_windows == len(frames) - 5
    assert len(score.offset_dists) == 31 and score.offsets[0] == 15 and score.offsets[-1] == -15
    assert 0.0 <= score.min_dist <= 1.0 and score.confidence >= 0.0
    assert len(score.frame_confidence) == score.num_windows


# --------------------------------------------------------------------------------------------------
# windows, streaming and memory


def test_windows_follow_the_reference_rule_and_stop_reading_when_the_audio_ends():
    read = []

    def crops(count):
        for index in range(count):
            read.append(index)
            yield np.full((2, 2, 3), index, np.uint8)

    # min(frames, audio frames) - 5 windows: 30 frames, audio for 40 -> 25; window i holds frames i..i+4
    batches = list(iter_window_batches(crops(30), max_windows=40 - 5, batch_size=8))
    assert [len(batch) for batch in batches] == [8, 8, 8, 1]
    assert batches[-1][0, :, 0, 0, 0].tolist() == [24, 25, 26, 27, 28]
    # audio for 20 frames: 15 windows, and no frame after frame 19 is read
    read.clear()
    assert sum(len(batch) for batch in iter_window_batches(crops(100), max_windows=20 - 5, batch_size=8)) == 15
    assert max(read) == 19


def test_a_30_second_clip_streams_through_holding_a_batch_of_frames_not_the_clip():
    """750 full frames at 25 fps from a generator (as VideoFrames decodes them): at no time are more than a batch
    of frames alive, and the network never sees more than a batch of windows as float, so memory is bounded by
    the batch size, not the clip length."""
    num_frames, batch_size = 750, 16
    alive: set[int] = set()
    most_alive = 0

    def decoded_frames():
        nonlocal most_alive
        generator = np.random.default_rng(4)
        for index in range(num_frames):
            frame = np.full((256, 256, 3), 200 if generator.random() < 0.5 else 50, np.uint8)
            alive.add(index)
            weakref.finalize(frame, alive.discard, index)
            most_alive = max(most_alive, len(alive))
            yield frame

    model = LoudnessBrightnessSyncNetV2()
    wav = (np.random.default_rng(5).standard_normal(num_frames * 640) * 0.01).astype(np.float32)
    progress = []
    score = score_lipsync(model, decoded_frames(), wav, boxes=np.tile([16, 240, 16, 240], (num_frames, 1)),
                          geometry="box", batch_size=batch_size, progress=lambda *call: progress.append(call))
    assert score.num_windows == num_frames - 5
    assert model.largest_lip_batch == batch_size
    assert most_alive <= batch_size + 5 + 2
    assert progress == [(min(done, 745), 745) for done in range(0, 745 + 16, 16)]   # before and after 47 batches


# --------------------------------------------------------------------------------------------------
# inputs the scorer refuses


def test_refuses_what_it_cannot_score_with_a_message_that_says_why():
    model = LoudnessBrightnessSyncNetV2()
    frames = np.zeros((10, 224, 224, 3), np.uint8)
    wav = np.zeros(10 * 640, np.float32)
    for fps in (0, -25, float("nan"), 1e6):       # the frame rates the lip-sync job accepts: 1..240 fps
        with pytest.raises(ValueError, match=re.escape(f"{fps:g} fps is outside the supported 1..240 fps")):
            score_lipsync(model, frames, wav, fps=fps)
    with pytest.raises(ValueError, match="too short"):
        score_lipsync(model, frames[:5], wav)
    with pytest.raises(ValueError, match="no frame has a face"):
        score_lipsync(model, frames, wav, boxes=FaceTrack(np.zeros((10, 4)), np.zeros(10, bool)))
    with pytest.raises(ValueError, match="at least 7 frames"):
        score_lipsync(model, frames[:6], wav, boxes=np.tile([0, 224, 0, 224], (6, 1)), geometry="reference")
    with pytest.raises(TypeError, match="not a lip-sync scoring network"):
        score_lipsync(nn.Linear(2, 2), frames, wav)


def test_a_frame_without_a_face_is_cropped_with_the_nearest_frames_box():
    frames, wav = audio_leading_clip(lead_frames=1, num_frames=20, size=256)
    boxes = np.tile([16, 240, 16, 240], (20, 1)) + np.arange(20)[:, None] // 4
    found = np.ones(20, bool)
    found[3] = False
    lost = boxes.copy()
    lost[3] = 0                                   # whatever a frame without a face holds
    borrowed = boxes.copy()
    borrowed[3] = boxes[2]                        # nearest found frame (the earlier one on a tie)
    model = LoudnessBrightnessSyncNetV2()
    with_gap = score_lipsync(model, frames, wav, boxes=FaceTrack(lost, found))
    assert with_gap == score_lipsync(model, frames, wav, boxes=borrowed)


def test_another_frame_rate_is_scored_on_the_frame_nearest_each_25_fps_instant():
    from wav2lip_core.scoring import at_scoring_rate

    assert list(at_scoring_rate(range(12), fps=30)) == [0, 1, 2, 4, 5, 6, 7, 8, 10, 11]   # round(1.2 j)
    assert list(at_scoring_rate(range(4), fps=12.5)) == [0, 1, 1, 2, 2, 3, 3]            # round(j / 2)
    frames, wav = audio_leading_clip(lead_frames=2, num_frames=40, size=256)
    boxes = np.tile([16, 240, 16, 240], (40, 1)) + np.arange(40)[:, None] // 3
    model = LoudnessBrightnessSyncNetV2()
    at_25 = score_lipsync(model, frames, wav, boxes=boxes)
    at_50 = score_lipsync(model, np.repeat(frames, 2, axis=0), wav, boxes=np.repeat(boxes, 2, axis=0), fps=50)
    assert at_50 == at_25 and at_25.av_offset == 2


def test_fixed_box_crop_of_a_face_crop_video_is_the_frame_itself():
    frames = crop_case_frames()[:, :224, :224]
    crops = list(iter_face_crops(frames, [(0, 224, 0, 224)], geometry="box"))
    np.testing.assert_array_equal(np.stack(crops), frames)
