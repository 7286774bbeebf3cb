"""The lip-sync score hears the speech syncnet_python's evaluate() hears: evaluate() converts a video's sound with
``ffmpeg -y -i VIDEO -async 1 -ac 1 -vn -acodec pcm_s16le -ar 16000 audio.wav`` and reads the int16 samples with
scipy. Real videos carry 44.1/48 kHz (or 24 kHz) AAC; resampled any other way (soxr, say), SyncNet's offset
distances move far beyond the tolerance used here. Here the reference's command is run as a shell command line,
apart from the code under test, and the scores of a file (``python -m wav2lip_core score``) and of a ComfyUI AUDIO
(the Lip Sync Score node) are compared with the scores of the speech it writes."""
from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from syncnet_clip import face_frames, ffmpeg_exe, speech_int16
from wav2lip_core.detection import FaceTrack
from wav2lip_core.scoring import (iter_reference_frames, load_reference_speech, score_lipsync,
                                  waveform_reference_speech)

RATES = [24000, 44100, 48000]
FRAMES = 12                                       # 0.48 s: 7 windows
DISTANCE_TOLERANCE = 1e-4
# syncnet_python's SyncNetInstance.evaluate(), word for word but for the ffmpeg binary (the pack's, not PATH's,
# told to print only errors).
REFERENCE_COMMAND = "{ffmpeg} -y -i {video} -async 1 -ac 1 -vn -acodec pcm_s16le -ar 16000 {wav}"


def reference_speech(media: Path) -> np.ndarray:
    """int16 (samples,): what evaluate() scores of ``media``, made by its own command and read as it reads it."""
    from scipy.io import wavfile

    wav = media.with_name(media.stem + "_reference.wav")
    quiet_ffmpeg = f"{shlex.quote(ffmpeg_exe())} -loglevel error"
    command = REFERENCE_COMMAND.format(ffmpeg=quiet_ffmpeg, video=shlex.quote(str(media)), wav=shlex.quote(str(wav)))
    subprocess.run(command, shell=True, check=True)
    rate, samples = wavfile.read(wav)
    assert rate == 16000 and samples.dtype == np.int16 and samples.ndim == 1
    return samples


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from random_syncnet_v2 import write_random_syncnet_v2

    return write_random_syncnet_v2(tmp_path_factory.mktemp("weights") / "syncnet_v2.model", seed=0)


@pytest.fixture(scope="module")
def model(weights):
    from wav2lip_core.checkpoints import load_syncnet_v2

    return load_syncnet_v2(weights)


def speech_at(rate: int, channels: int) -> np.ndarray:
    """float32 (channels, samples) at ``rate``: FRAMES frames of the sample speech, resampled by soxr (any
    band-limited resampler does: this is only the input); a second channel is the first, quieter and delayed."""
    import librosa

    mono = librosa.resample(speech_int16()[:FRAMES * 640].astype(np.float32) / 32768, orig_sr=16000, target_sr=rate)
    return np.stack([mono, 0.5 * np.roll(mono, 7)][:channels]).astype(np.float32)


def write_aac_clip(path: Path, rate: int) -> Path:
    """224x224 face frames at 25 fps (lossless H.264) with the speech as AAC at ``rate`` (stereo above 24 kHz,
    as videos carry it)."""
    channels = 1 if rate == 24000 else 2
    speech = path.with_suffix(".f32")
    speech.write_bytes(np.ascontiguousarray(speech_at(rate, channels).T).tobytes())
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "224x224",
                    "-r", "25", "-i", "-", "-f", "f32le", "-ar", str(rate), "-ac", str(channels), "-i", str(speech),
                    "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", "-threads", "1", "-c:a", "aac",
                    "-b:a", "128k", str(path)], input=face_frames(FRAMES).tobytes(), check=True)
    return path


@pytest.mark.parametrize("rate", RATES)
def test_a_video_with_aac_sound_is_scored_on_the_speech_the_reference_command_writes(rate, tmp_path, weights, model,
                                                                                   capsys):
    from wav2lip_core.cli.score import score_main

    clip = write_aac_clip(tmp_path / "clip.mp4", rate)
    speech = reference_speech(clip)
    np.testing.assert_array_equal(load_reference_speech(clip), speech)

    assert score_main([str(clip), "--box", "0", "224", "0", "224", "--checkpoint", str(weights), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = score_lipsync(model, iter_reference_frames(clip), speech, boxes=(0, 224, 0, 224))
    np.testing.assert_allclose(printed["offset_dists"], expected.offset_dists, rtol=0, atol=DISTANCE_TOLERANCE)
    assert printed["av_offset"] == expected.av_offset
    assert printed["confidence"] == pytest.approx(expected.confidence, abs=DISTANCE_TOLERANCE)
    assert printed["min_dist"] == pytest.approx(expected.min_dist, abs=DISTANCE_TOLERANCE)


@pytest.fixture()
def score_node(monkeypatch, weights):
    """The Lip Sync Score node with the random weights as models/wav2lip/syncnet_v2.model; ``node.scores`` holds
    the SyncScore behind each of its results."""
    from nodes import model_management as mm
    from nodes import score_node as module

    monkeypatch.setattr(mm, "model_search_dirs", lambda: [weights.parent])
    monkeypatch.setattr(mm, "download_dir", lambda: weights.parent)
    node = module.LipSyncScore()
    node.scores = []

    def recorded(*args, **kwargs):
        node.scores.append(score_lipsync(*args, **kwargs))
        return node.scores[-1]

    monkeypatch.setattr(module, "score_lipsync", recorded)
    return node


@pytest.mark.parametrize("rate", RATES)
def test_the_node_scores_its_audio_as_the_reference_command_converts_a_file_of_it(rate, tmp_path, model,
                                                                                  score_node):
    import soundfile

    from nodes.types import FaceBoxes

    waveform = speech_at(rate, channels=2)                          # ComfyUI's AUDIO: float (B, C, S), its rate
    wav_file = tmp_path / "speech.wav"
    soundfile.write(wav_file, waveform.T, rate, subtype="FLOAT")   # the same samples as a file
    speech = reference_speech(wav_file)
    np.testing.assert_array_equal(waveform_reference_speech(waveform, rate), speech)
    np.testing.assert_array_equal(load_reference_speech(wav_file), speech)     # the command line's samples

    frames = face_frames(FRAMES)
    boxes = np.tile([0, 224, 0, 224], (FRAMES, 1))
    audio = {"waveform": torch.from_numpy(waveform)[None], "sample_rate": rate}
    confidence, min_distance, *_ = score_node.score(torch.from_numpy(frames).float() / 255, audio, 25.0,
                                                    "syncnet_v2.model", faces=FaceBoxes(boxes, np.ones(FRAMES, bool),
                                                                                        224, 224))
    expected = score_lipsync(model, frames, speech, boxes=FaceTrack(boxes, np.ones(FRAMES, bool)))
    (scored,) = score_node.scores
    np.testing.assert_allclose(scored.offset_dists, expected.offset_dists, rtol=0, atol=DISTANCE_TOLERANCE)
    assert scored.av_offset == expected.av_offset
    assert (confidence, min_distance) == pytest.approx((expected.confidence, expected.min_dist),
                                                       abs=DISTANCE_TOLERANCE)


def test_audio_decoded_from_16_bit_pcm_gives_the_node_the_command_line_s_samples(tmp_path):
    """ComfyUI hands over a 16-bit file's samples as float (value / 32768): the node converts them to the same
    int16 16 kHz samples as the command line converts the file."""
    import soundfile

    pcm = np.round(speech_at(44100, channels=2) * 32767).astype(np.int16)
    wav_file = tmp_path / "speech16.wav"
    soundfile.write(wav_file, pcm.T, 44100, subtype="PCM_16")
    np.testing.assert_array_equal(waveform_reference_speech(pcm.astype(np.float32) / 32768, 44100),
                                  load_reference_speech(wav_file))


def test_what_cannot_be_converted_is_named():
    folder = Path(__file__).parent
    with pytest.raises(ValueError, match="is a folder, not an audio or video file"):
        load_reference_speech(folder)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_reference_speech(folder / "no_such_speech.wav")
    with pytest.raises(ValueError, match="has no audio stream"):
        load_reference_speech(folder.parent / "workflows" / "media" / "wav2lip_sample_face.mp4")
    broken = np.zeros((2, 4410), np.float32)
    broken[1, 2205] = np.nan
    with pytest.raises(ValueError, match="the first one is at 0.050 s"):
        waveform_reference_speech(broken, 44100)
    with pytest.raises(ValueError, match=r"pass it as \(channels, samples\)"):
        waveform_reference_speech(np.zeros((4410, 2), np.float32), 44100)
    with pytest.raises(ValueError, match="not a whole number"):
        waveform_reference_speech(np.zeros(4410, np.float32), 44100.5)
