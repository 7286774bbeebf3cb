"""Acting on a lip-sync score: the speech shift (``offset_frames``) that undoes a measured AV offset, the ``score``
command line, and the Lip Sync Score node."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, SAMPLES
from sync_stand_ins import LoudnessBrightnessSyncNetV2
from syncnet_clip import build_clip
from wav2lip_core.audio import shift_speech, speech_mel_chunks
from wav2lip_core.scoring import score_lipsync

GOLDEN = json.loads((Path(__file__).parent / "golden" / "syncnet_reference.json").read_text())


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wav2lip_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


# --------------------------------------------------------------------------------------------------
# offset_frames: the speech shift


def test_shifting_the_speech_keeps_its_length_and_moves_it_by_whole_frames():
    wav = np.arange(1, 16001, dtype=np.float32)              # 1 s at 16 kHz: sample k holds k + 1
    earlier = shift_speech(wav, 2, fps=25)                   # 2 frames = 1280 samples
    assert len(earlier) == len(wav) and earlier[0] == 1281 and (earlier[-1280:] == 0).all()
    later = shift_speech(wav, -2, fps=25)
    assert later[1280] == 1 and (later[:1280] == 0).all() and later[-1] == 16000 - 1280
    assert shift_speech(wav, 3, fps=30)[0] == 1601           # 3 frames at 30 fps = 1600 samples
    assert shift_speech(wav, 0, fps=25) is wav
    assert (shift_speech(wav, 100, fps=25) == 0).all()       # more than the whole clip: silence
    assert len(speech_mel_chunks(earlier, 25)) == len(speech_mel_chunks(wav, 25))


def _as_audio(wav: np.ndarray) -> dict:
    return {"waveform": torch.from_numpy(np.asarray(wav, np.float32))[None, None], "sample_rate": 16000}


def _bursts(num_frames: int, seed: int = 3) -> np.ndarray:
    """float32 16 kHz speech stand-in: a noise burst in the middle of every loud frame's 40 ms."""
    generator = np.random.default_rng(seed)
    wav = (generator.standard_normal(num_frames * 640) * 0.001).astype(np.float32)
    for frame in np.flatnonzero(generator.integers(0, 2, num_frames)):
        wav[frame * 640 + 160:frame * 640 + 480] = generator.standard_normal(320) * 0.3
    return wav


def _late_mouth_lipsync(wav: np.ndarray, lag: int, offset_frames: int) -> np.ndarray:
    """A lip-sync stand-in whose mouth shows the sound ``lag`` frames late: output frame i is bright when the mel
    chunk of frame i - lag is loud. The chunks come from the speech shifted by ``offset_frames``, as Audio To Mel
    and the CLI cut them. uint8 RGB (N, 64, 64, 3)."""
    chunks = speech_mel_chunks(shift_speech(wav, offset_frames, 25.0), 25.0)
    loudness = chunks[:, :, 1:3].mean(axis=(1, 2))           # the columns centred on the chunk's first frame
    loud = loudness > (loudness.min() + loudness.max()) / 2
    source = np.arange(len(loud)) - lag
    bright = np.where((source >= 0) & (source < len(loud)), loud[np.clip(source, 0, len(loud) - 1)], False)
    return np.where(bright[:, None, None, None], 200, 50).astype(np.uint8) * np.ones((1, 64, 64, 3), np.uint8)


@pytest.mark.parametrize("lag", [3, -2])
def test_feeding_the_measured_av_offset_back_as_offset_frames_puts_the_mouth_in_sync(lag):
    wav = _bursts(80)
    scorer = LoudnessBrightnessSyncNetV2()
    measured = score_lipsync(scorer, _late_mouth_lipsync(wav, lag, offset_frames=0), wav)
    assert measured.av_offset == lag                          # positive: the mouth shows the sound late
    corrected = score_lipsync(scorer, _late_mouth_lipsync(wav, lag, offset_frames=measured.av_offset), wav)
    assert corrected.av_offset == 0 and corrected.min_dist < measured.offset_dists[measured.vshift]


def test_the_lip_sync_command_line_cuts_its_mel_chunks_from_the_shifted_speech(tmp_path, monkeypatch,
                                                                              official_checkpoint):
    from wav2lip_core import video_job
    from wav2lip_core.audio import load_audio
    from wav2lip_core.cli import run as cli_run

    seen = {}

    def capture(frames, people, model, **options):
        ((chunks, _, _),) = people
        seen["chunks"] = chunks
        yield np.stack([frames[i % len(frames)] for i in range(len(chunks))])

    monkeypatch.setattr(video_job, "iter_lipsync_people", capture)
    arguments = ["--checkpoint", str(official_checkpoint), "--face", str(SAMPLES / "wav2lip_sample_face.mp4"),
                 "--audio", str(SAMPLES / "wav2lip_sample_speech.wav"), "--box", "60", "230", "90", "230", "--offset_frames", "3",
                 "--outfile", str(tmp_path / "out.mp4")]
    assert cli_run.run_main(arguments) == 0
    speech = load_audio(SAMPLES / "wav2lip_sample_speech.wav")
    np.testing.assert_array_equal(seen["chunks"], speech_mel_chunks(shift_speech(speech, 3, 25.0), 25.0))


# --------------------------------------------------------------------------------------------------
# python -m wav2lip_core score


@pytest.fixture(scope="module")
def golden_clip_and_weights(tmp_path_factory) -> tuple[Path, Path]:
    """The reference comparison's clip and seeded random SyncNet v2 weights, as files."""
    from random_syncnet_v2 import write_random_syncnet_v2

    folder = tmp_path_factory.mktemp("golden_cli")
    return build_clip(folder / "clip.mp4"), write_random_syncnet_v2(folder / "syncnet_v2.model", seed=0)


def test_score_box_json_of_a_face_crop_video_matches_the_reference_evaluate(golden_clip_and_weights):
    """The issue's "done when": ``score CLIP --box 0 224 0 224 --json`` on a 224x224 face-crop video gives
    syncnet_python's evaluate() numbers on the same random weights."""
    clip, weights = golden_clip_and_weights
    result = _run_cli("score", str(clip), "--box", "0", "224", "0", "224", "--json", "--checkpoint", str(weights))
    assert result.returncode == 0, result.stderr
    score = json.loads(result.stdout)
    assert list(score) == ["av_offset", "confidence", "min_dist", "frame_confidence", "offset_dists"]
    assert score["av_offset"] == GOLDEN["av_offset"]
    assert score["confidence"] == pytest.approx(GOLDEN["confidence"], abs=0.01)
    assert score["min_dist"] == pytest.approx(GOLDEN["min_dist"], abs=0.01)
    np.testing.assert_allclose(score["offset_dists"], GOLDEN["offset_dists"], rtol=0, atol=0.01)
    np.testing.assert_allclose(score["frame_confidence"], GOLDEN["frame_confidence"], rtol=0, atol=0.02)


def test_score_prints_a_readable_report_and_writes_the_plot(golden_clip_and_weights, tmp_path, capsys):
    import cv2

    from wav2lip_core.cli.score import score_main

    clip, weights = golden_clip_and_weights
    plot = tmp_path / "score.png"
    assert score_main([str(clip), "--box", "0", "224", "0", "224", "--checkpoint", str(weights), "--decode", "plain",
                       "--plot", str(plot)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("AV offset:") and "frames" in lines[1]
    assert lines[2].startswith("confidence:") and "LSE-C" in lines[2]
    assert lines[3].startswith("min dist:") and "LSE-D" in lines[3]
    picture = cv2.imread(str(plot))
    assert picture is not None and picture.shape == (640, 960, 3)


def test_the_plot_marks_the_best_offset_in_red_where_the_distance_is_lowest():
    from wav2lip_core.scoring import SyncScore
    from wav2lip_core.scoring.plot import plot_score

    def red_columns(av_offset: int) -> set[int]:
        distances = [10.0 + abs(offset - av_offset) for offset in range(15, -16, -1)]    # +15 first
        score = SyncScore(av_offset=av_offset, confidence=7.0, min_dist=10.0, frame_confidence=[1.0, 2.0, 1.5],
                          offset_dists=distances, num_windows=3)
        picture = plot_score(score)
        assert picture.shape == (640, 960, 3) and picture.dtype == np.uint8
        red = (picture[:, :, 0] > 200) & (picture[:, :, 1] < 80) & (picture[:, :, 2] < 80)
        return set(np.flatnonzero(red[100:350].any(axis=0)))                            # the upper panel

    left, right = red_columns(-10), red_columns(12)
    assert left and right and max(left) < 480 < min(right)


def test_score_without_the_weights_or_the_network_says_what_to_get_in_one_line(tmp_path, monkeypatch, capsys):
    from wav2lip_core.cli import score as cli_score

    monkeypatch.setattr(cli_score, "pack_weights_dir", lambda: tmp_path)          # an empty weights/ folder
    video = str(SAMPLES / "wav2lip_sample_face.mp4")
    speech = ["--audio", str(SAMPLES / "wav2lip_sample_speech.wav")]          # the inputs are checked first
    assert cli_score.score_main([video, *speech, "--no-download", "--box", "0", "10", "0", "10"]) == 1
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: syncnet_v2.model is not on disk") and "huggingface.co" in message
    assert str(tmp_path) in message and "\n" not in message
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli_score.score_main([video, *speech, "--model", "lipsync_expert"]) == 1
    assert "lipsync_expert.pth" in capsys.readouterr().err


def test_without_a_box_score_detects_raw_face_boxes_and_crops_them_with_the_reference_geometry(
        golden_clip_and_weights, tmp_path, monkeypatch, capsys):
    pytest.importorskip("dlib")
    import soundfile

    from wav2lip_core.checkpoints import load_syncnet_v2
    from wav2lip_core.cli import score as cli_score
    from wav2lip_core.scoring import iter_reference_frames

    _, weights = golden_clip_and_weights
    speech, rate = soundfile.read(SAMPLES / "wav2lip_sample_speech.wav", dtype="float32")
    short_speech = tmp_path / "speech.wav"
    soundfile.write(short_speech, speech[:rate], rate)                   # 1 s: 25 frames need a face
    detections = []

    def detect_and_record(frames, options, **kwargs):
        detections.append((len(frames), options, cli_score.detect_face_boxes.__wrapped__(frames, options, **kwargs)))
        return detections[-1][2]

    detect_and_record.__wrapped__ = cli_score.detect_face_boxes
    monkeypatch.setattr(cli_score, "detect_face_boxes", detect_and_record)
    video = SAMPLES / "wav2lip_sample_face.mp4"
    assert cli_score.score_main([str(video), "--audio", str(short_speech), "--checkpoint", str(weights),
                                 "--detector", "dlib_hog", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (num_detected, options, track), = detections
    assert num_detected == 26 and track.found.any()                      # frames past the speech are not detected
    assert options.pads == (0, 0, 0, 0) and options.smoothing == "none"   # raw boxes: the geometry smooths them
    expected = score_lipsync(load_syncnet_v2(weights), iter_reference_frames(video), speech[:rate], boxes=track,
                             geometry="reference")
    assert printed == {key: getattr(expected, key) for key in printed}


# --------------------------------------------------------------------------------------------------
# the Lip Sync Score node

def _as_image(frames_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames_uint8).float() / 255.0


@pytest.fixture()
def scoring_folder(tmp_path, monkeypatch, golden_clip_and_weights) -> Path:
    """ComfyUI's models/wav2lip holding (random) syncnet_v2.model."""
    from nodes import model_management as mm

    folder = tmp_path / "wav2lip"
    folder.mkdir()
    (folder / "syncnet_v2.model").write_bytes(golden_clip_and_weights[1].read_bytes())
    monkeypatch.setattr(mm, "model_search_dirs", lambda: [folder])
    monkeypatch.setattr(mm, "download_dir", lambda: folder)
    return folder


def _paste_back_chain(clip: np.ndarray, wav: np.ndarray, box_text: str, wav2lip_model):
    """Audio To Mel -> Detect Faces (manual box) -> Wav2Lip Sync -> Paste Back; returns (images, sync plan)."""
    from nodes import NODE_CLASS_MAPPINGS
    from nodes import model_management as mm
    from nodes.types import Wav2LipModel

    nodes = {name: cls() for name, cls in NODE_CLASS_MAPPINGS.items()}
    mel, frame_count, _ = nodes["AudioToMel"].convert(_as_audio(wav), 25.0)
    faces, crops = nodes["DetectFaces"].detect(_as_image(clip), manual_box=box_text, frame_count=frame_count)
    generator = Wav2LipModel(managed=mm.ManagedModel(wav2lip_model, "random"), path=Path("random.pth"),
                             dtype=torch.float32)
    generated, plan = nodes["Wav2LipSync"].sync(generator, faces, crops, mel, loop_mode="pingpong")
    images, _ = nodes["PasteBack"].paste(_as_image(clip), generated, plan)
    return images, plan, faces


def test_the_score_node_lists_syncnet_v2_first_and_the_expert_as_downloadable(scoring_folder, monkeypatch):
    from nodes import NODE_CLASS_MAPPINGS
    from wav2lip_core.checkpoints import fetch

    monkeypatch.setattr(fetch, "is_offline", lambda: False)      # online, and its source answers: it is
    monkeypatch.setattr(fetch, "_probe", lambda source: None)    # fetched when the node runs

    node = NODE_CLASS_MAPPINGS["LipSyncScore"]
    assert node.INPUT_TYPES()["required"]["model"][0] == ["syncnet_v2.model", "lipsync_expert.pth (will be downloaded)"]
    assert node.VALIDATE_INPUTS("lipsync_expert.pth (will be downloaded)") is True
    assert "syncnet_v2.model" in node.VALIDATE_INPUTS("someone_elses.pth")


def test_the_score_node_scores_paste_backs_frames_with_the_sync_plans_box_of_every_output_frame(
        scoring_folder, golden_clip_and_weights, wav2lip_model, speech_16k):
    """A pingpong-looped result: output frame i shows input frame source_frames[i], so its face box is the plan's
    box i; the node's numbers are the engine's on the same frames and boxes."""
    from conftest import astronaut_clip
    from nodes import NODE_CLASS_MAPPINGS
    from wav2lip_core.checkpoints import load_syncnet_v2
    from wav2lip_core.detection import FaceTrack

    clip = astronaut_clip(6) + np.arange(6, dtype=np.uint8)[:, None, None, None]   # tell frames apart
    wav = speech_16k[8000:16800]                                                   # 0.55 s: 14 output frames
    images, plan, faces = _paste_back_chain(clip, wav, "30, 110, 40, 108", wav2lip_model)
    assert plan.num_frames == len(images) == 14 and plan.source_frames.tolist()[6:9] == [4, 3, 2]
    confidence, min_distance, av_offset, plot, text = NODE_CLASS_MAPPINGS["LipSyncScore"]().score(
        images, _as_audio(wav), 25.0, "syncnet_v2.model", sync=plan, faces=faces)
    frames = (images * 255).round().to(torch.uint8).numpy()
    expected = score_lipsync(load_syncnet_v2(golden_clip_and_weights[1]), frames, wav,
                             boxes=FaceTrack(plan.boxes, plan.found))
    assert (confidence, min_distance, av_offset) == (expected.confidence, expected.min_dist, expected.av_offset)
    assert isinstance(confidence, float) and isinstance(av_offset, int)
    assert plot.shape == (1, 640, 960, 3) and plot.dtype == torch.float32 and 0 <= float(plot.min())
    assert text.startswith("syncnet_v2: AV offset") and f"{expected.confidence:.3f}" in text
    with pytest.raises(ValueError, match="Connect Wav2Lip Sync's sync output"):
        NODE_CLASS_MAPPINGS["LipSyncScore"]().score(images, _as_audio(wav), 25.0, "syncnet_v2.model", faces=faces)


def test_without_boxes_the_node_detects_raw_boxes_and_with_faces_of_an_unlooped_video_it_reuses_them(monkeypatch):
    from nodes import NODE_CLASS_MAPPINGS
    from nodes import model_management as mm
    from nodes import score_node
    from nodes.detect_node import DetectFaces
    from nodes.types import FaceBoxes
    from wav2lip_core.detection import FaceTrack

    frames, wav = _stand_in_clip(lead_frames=2, num_frames=30)
    detected = []

    def detect(frames_seen, options, progress):
        detected.append(options)
        return FaceTrack(np.tile([8, 56, 8, 56], (len(frames_seen), 1)), np.ones(len(frames_seen), bool))

    monkeypatch.setattr(DetectFaces, "_detect", staticmethod(detect))
    monkeypatch.setattr(score_node, "managed_scoring_model",
                        lambda choice: mm.ManagedModel(LoudnessBrightnessSyncNetV2(), "stand-in"))
    node = NODE_CLASS_MAPPINGS["LipSyncScore"]()
    found = node.score(_as_image(frames), _as_audio(wav), 25.0, "syncnet_v2.model")
    (options,) = detected
    assert options.pads == (0, 0, 0, 0) and options.smoothing == "none"
    faces = FaceBoxes(np.tile([8, 56, 8, 56], (40, 1)), np.ones(40, bool), 64, 64)   # more frames than images
    reused = node.score(_as_image(frames), _as_audio(wav), 25.0, "syncnet_v2.model", faces=faces)
    assert reused[:3] == found[:3] and reused[4] == found[4] and len(detected) == 1


def _stand_in_clip(lead_frames: int, num_frames: int):
    """64x64 frames that light up ``lead_frames`` frames after the sound gets loud (sync_stand_ins)."""
    from sync_stand_ins import audio_leading_clip

    return audio_leading_clip(lead_frames=lead_frames, num_frames=num_frames, size=64)


def test_the_node_gives_the_offset_in_frames_of_the_video_for_audio_to_mel(monkeypatch):
    """At 50 fps an AV offset of 2 (25 fps frames, 80 ms) is 4 frames of the video: the number Audio To Mel's
    offset_frames needs."""
    from nodes import NODE_CLASS_MAPPINGS
    from nodes import model_management as mm
    from nodes import score_node

    frames, wav = _stand_in_clip(lead_frames=2, num_frames=40)
    monkeypatch.setattr(score_node, "managed_scoring_model",
                        lambda choice: mm.ManagedModel(LoudnessBrightnessSyncNetV2(), "stand-in"))
    images = _as_image(np.repeat(frames, 2, axis=0))
    faces = score_node.FaceBoxes(np.tile([0, 64, 0, 64], (80, 1)), np.ones(80, bool), 64, 64)
    _, _, av_offset, _, text = NODE_CLASS_MAPPINGS["LipSyncScore"]().score(images, _as_audio(wav), 50.0,
                                                                         "stand-in", faces=faces)
    assert av_offset == 4
    assert "AV offset +2 frames (+80 ms" in text and "offset_frames +4 (frames at 50 fps)" in text


def test_audio_to_mel_shifts_the_speech_by_offset_frames(speech_16k):
    from nodes import NODE_CLASS_MAPPINGS

    node = NODE_CLASS_MAPPINGS["AudioToMel"]()
    assert node.INPUT_TYPES()["required"]["offset_frames"][1]["default"] == 0
    mel, count, _ = node.convert(_as_audio(speech_16k), 30.0, offset_frames=-4)
    expected = speech_mel_chunks(shift_speech(speech_16k, -4, 30.0), 30.0)
    np.testing.assert_array_equal(mel.chunks, expected)
    unshifted, unshifted_count, _ = node.convert(_as_audio(speech_16k), 30.0)
    assert count == unshifted_count and not np.array_equal(mel.chunks, unshifted.chunks)
