"""Pauses in the speech (wav2lip_core/silence.py): the loudness of each frame's audio window, which frames form a
pause, the cross-fades of ``keep``, the silence floor of ``closed``, and the three modes through lipsync() and the
command line on speech with a pause."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, SAMPLES
from wav2lip_core.audio import SAMPLE_RATE, chunk_starts, speech_mel_chunks
from wav2lip_core.audio.mel import HOP_SIZE
from wav2lip_core.pipeline import lipsync
from wav2lip_core.silence import (CROSSFADE_SECONDS, DEFAULT_SILENCE_DB, MIN_PAUSE_SECONDS, chunk_loudness_dbfs,
                                  crossfade_weights, find_pauses, frames_for, plan_silence, plan_silence_for_audio,
                                  silence_floor_chunk)

FPS = 25.0
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)


SPOKEN_FROM_S = 1.04        # the sample speech is spoken without a gap from 0 to 0.7 s and from 1.04 s to 2.5 s


def speech_with_pause(speech: np.ndarray, before_s: float, pause_s: float, after_s: float,
                      pause_level: float = 0.0) -> np.ndarray:
    """Speech, then ``pause_s`` of silence (digital zeros, or white noise of RMS ``pause_level``), then speech."""
    before = speech[:int(before_s * SAMPLE_RATE)]
    after = speech[int(SPOKEN_FROM_S * SAMPLE_RATE):int((SPOKEN_FROM_S + after_s) * SAMPLE_RATE)]
    noise = np.random.default_rng(0).standard_normal(int(pause_s * SAMPLE_RATE)).astype(np.float32) * pause_level
    return np.concatenate([before, noise, after]).astype(np.float32)


# --- loudness and pauses ---------------------------------------------------------------------------------------

def test_the_loudness_of_a_frame_is_the_rms_level_of_exactly_the_audio_its_mel_chunk_hears():
    wav = np.zeros(2 * SAMPLE_RATE, np.float32)
    wav[16000:16000 + 200] = 0.5                        # one hop block of a 0.5 square wave at t = 1.0 s
    loudness = chunk_loudness_dbfs(wav, FPS)
    starts = chunk_starts(len(wav), FPS)
    first_sample = starts * HOP_SIZE - 400              # the chunk's 16 STFT windows of 800 samples
    last_sample = (starts + 15) * HOP_SIZE + 400
    hears_the_block = (first_sample <= 16000) & (last_sample >= 16200)
    assert len(loudness) == len(speech_mel_chunks(wav, FPS)) == 50
    assert np.isneginf(loudness[~hears_the_block]).all()
    expected = 20 * np.log10(np.sqrt(200 * 0.25 / 3800))   # 200 samples at 0.5 within 3800 (237.5 ms)
    np.testing.assert_allclose(loudness[hears_the_block], expected, atol=1e-6)
    # Block 80 lies in the STFT windows of chunks starting at columns 64 to 82: 6 chunks at 25 fps (3.2 apart).
    assert hears_the_block.sum() == 6


def test_columns_padded_past_the_audios_end_count_as_the_silence_the_generator_hears_there():
    """The last frames of the whole speech hear mel columns past the spectrogram's end, padded with digital
    silence: their loudness counts 200 zero samples per padded column; the original's frames have none."""
    full_scale = np.where(np.arange(2 * SAMPLE_RATE) % 40 < 20, 1.0, -1.0).astype(np.float32)   # 2.00 s, 0 dBFS
    loudness = chunk_loudness_dbfs(full_scale, FPS)
    starts = chunk_starts(len(full_scale), FPS)                  # 161 mel columns, 0..160
    fits = starts + 15 <= 160
    np.testing.assert_allclose(loudness[fits], 0.0, atol=1e-6)
    # the last frame: columns 156..171, real ones 156..160 hear samples 154 * 200 to the end (1200 samples),
    # and 11 padded columns add 2200 samples of silence
    assert starts[-1] == 156
    np.testing.assert_allclose(loudness[-1], 10 * np.log10(1200 / 3400), atol=1e-6)
    assert (np.diff(loudness[~fits]) < 0).all()                  # quieter the more silence a frame hears
    np.testing.assert_allclose(chunk_loudness_dbfs(full_scale, FPS, "original"), 0.0, atol=1e-6)


def test_a_full_scale_square_wave_reads_0_dbfs_and_a_full_scale_sine_minus_3():
    square = np.where(np.arange(SAMPLE_RATE) % 40 < 20, 1.0, -1.0).astype(np.float32)
    sine = np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    # length="original": every frame hears only the wave (the whole speech's last frames also hear the silence
    # after it, see the test above)
    assert np.allclose(chunk_loudness_dbfs(square, FPS, "original"), 0.0, atol=1e-6)
    assert np.allclose(chunk_loudness_dbfs(sine, FPS, "original")[2:-2], -3.01, atol=0.05)


def test_the_silence_floor_chunk_is_the_mel_of_digital_silence_at_melspectrograms_floor():
    floor = silence_floor_chunk()
    assert floor.shape == (80, 16) and not floor.flags.writeable
    assert (floor == -4.0).all()
    np.testing.assert_array_equal(floor, speech_mel_chunks(np.zeros(8000, np.float32), FPS)[3])


def test_only_quiet_runs_of_at_least_the_minimum_pause_count_as_pauses():
    min_frames = frames_for(MIN_PAUSE_SECONDS, FPS)
    loudness = np.full(40, -20.0)
    loudness[5:5 + min_frames - 1] = -60.0             # one frame too short: a breath
    loudness[20:20 + min_frames] = -60.0               # just long enough
    loudness[35:] = -44.0                               # above the threshold
    pauses = find_pauses(loudness, FPS, DEFAULT_SILENCE_DB)
    assert np.flatnonzero(pauses).tolist() == list(range(20, 20 + min_frames))
    assert find_pauses(loudness, FPS, -40.0)[35:].all()


def test_keep_fades_the_generated_mouth_out_before_a_pause_and_back_in_after_it():
    fade = frames_for(CROSSFADE_SECONDS, FPS)
    pauses = np.zeros(30, bool)
    pauses[10:20] = True
    weights = crossfade_weights(pauses, FPS)
    assert (weights[10:20] == 0).all()
    ramp = np.arange(1, fade + 1) / (fade + 1)
    np.testing.assert_allclose(weights[10 - fade:10], ramp[::-1], atol=1e-6)
    np.testing.assert_allclose(weights[20:20 + fade], ramp, atol=1e-6)
    assert (weights[:10 - fade] == 1).all() and (weights[20 + fade:] == 1).all()
    assert (crossfade_weights(np.zeros(5, bool), FPS) == 1).all()


def test_only_keep_has_weights_below_one_and_generate_finds_no_pauses():
    loudness = np.array([-20.0] * 5 + [-90.0] * 10 + [-20.0] * 5)
    generate, keep, closed = (plan_silence(loudness, FPS, mode) for mode in ("generate", "keep", "closed"))
    assert not generate.pauses.any() and (generate.paste_weights == 1).all()
    assert keep.pauses[5:15].all() and (keep.paste_weights[5:15] == 0).all()
    assert (closed.pauses == keep.pauses).all() and (closed.paste_weights == 1).all()
    with pytest.raises(ValueError, match="silence must be one of"):
        plan_silence(loudness, FPS, "mute")
    with pytest.raises(ValueError, match="dBFS"):
        plan_silence(loudness, FPS, "keep", 6.0)


def test_closed_gives_paused_frames_the_floor_chunk_and_leaves_the_others():
    chunks = np.random.default_rng(0).uniform(-4, 4, (20, 80, 16)).astype(np.float32)
    plan = plan_silence(np.array([-20.0] * 5 + [-90.0] * 10 + [-20.0] * 5), FPS, "closed")
    fed = plan.generator_chunks(chunks)
    assert (fed[5:15] == -4.0).all()
    np.testing.assert_array_equal(fed[:5], chunks[:5])
    np.testing.assert_array_equal(fed[15:], chunks[15:])
    assert (chunks[5:15] != -4.0).any(), "the input chunks are not changed in place"


# --- through lipsync ---------------------------------------------------------------------------------------------

class MelRecorder(torch.nn.Module):
    """Wraps a generator and keeps every mel chunk it is given."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.mels: list[np.ndarray] = []

    def forward(self, mel, face, first_row=0):
        self.mels.extend(mel[:, 0].numpy().copy())
        return self.model(mel, face, first_row)


@pytest.fixture(scope="module")
def paused_speech(speech_16k) -> np.ndarray:
    """0.3 s of speech, 0.7 s of quiet room noise (-60 dBFS), 0.3 s of speech: 32 frames at 25 fps."""
    return speech_with_pause(speech_16k, 0.3, 0.7, 0.3, pause_level=10 ** (-60 / 20))


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    from wav2lip_core.video.reading import read_image

    return read_image(SAMPLES / "wav2lip_sample_portrait.png")


PORTRAIT_BOX = (100, 300, 40, 232)


def test_keep_leaves_the_paused_frames_bit_identical_and_fades_the_mouth_at_their_edges(paused_speech, portrait):
    from test_blend_pixels import FixedFaceGenerator, textured_face
    from wav2lip_core.compositing.blend import paste_face

    face = textured_face()
    recorder = MelRecorder(FixedFaceGenerator(face))
    out = lipsync(portrait[None], paused_speech, FPS, recorder, box=PORTRAIT_BOX, static=True, silence="keep")
    plan = plan_silence_for_audio(paused_speech, FPS, "keep")
    assert plan.pauses.sum() >= 10 and ((plan.paste_weights > 0) & (plan.paste_weights < 1)).sum() >= 4
    assert len(recorder.mels) == int((plan.paste_weights > 0).sum()), "nothing is generated for a kept pause"
    for index, weight in enumerate(plan.paste_weights):
        expected = portrait.copy()
        paste_face(expected, face, PORTRAIT_BOX, "feather", strength=float(weight))
        np.testing.assert_array_equal(out[index], expected)
        assert (out[index] == portrait).all() == bool(plan.pauses[index])


def test_closed_feeds_the_floor_in_the_pause_and_gives_one_identical_face_throughout(wav2lip_model, paused_speech,
                                                                                     portrait):
    recorder = MelRecorder(wav2lip_model)
    out = lipsync(portrait[None], paused_speech, FPS, recorder, box=PORTRAIT_BOX, static=True, silence="closed",
                  batch_size=8)
    plan = plan_silence_for_audio(paused_speech, FPS, "closed")
    chunks = speech_mel_chunks(paused_speech, FPS)
    fed = np.stack(recorder.mels)
    assert len(fed) == len(chunks)
    assert (fed[plan.pauses] == -4.0).all()
    np.testing.assert_array_equal(fed[~plan.pauses], chunks[~plan.pauses])
    assert (chunks[plan.pauses] > -4.0).any(), "the room noise of the pause is not at the floor by itself"
    paused = out[plan.pauses]
    assert (paused == paused[0]).all()
    assert (paused[0] != portrait).any()


def test_generate_is_the_default_and_feeds_the_pause_as_it_sounds(paused_speech, portrait):
    from test_blend_pixels import FixedFaceGenerator, textured_face

    runs = []
    for options in ({}, {"silence": "generate"}):
        recorder = MelRecorder(FixedFaceGenerator(textured_face()))
        out = lipsync(portrait[None], paused_speech, FPS, recorder, box=PORTRAIT_BOX, static=True, **options)
        np.testing.assert_array_equal(np.stack(recorder.mels), speech_mel_chunks(paused_speech, FPS))
        assert all((frame != portrait).any() for frame in out)
        runs.append(out)
    np.testing.assert_array_equal(*runs)


# --- the command line: a still portrait and speech with a 1.6 s pause ---------------------------------------------

def test_cli_silence_keep_keeps_a_16_s_pause_as_the_portrait(tmp_path, official_checkpoint, speech_16k):
    import soundfile

    from wav2lip_core.video.reading import read_image, read_video

    wav = speech_with_pause(speech_16k, 0.3, 1.6, 0.3)
    audio = tmp_path / "paused.wav"
    soundfile.write(audio, wav, SAMPLE_RATE)
    out = tmp_path / "kept.mp4"
    result = subprocess.run([sys.executable, "-m", "wav2lip_core", "--checkpoint", str(official_checkpoint),
                             "--face", str(SAMPLES / "wav2lip_sample_portrait.png"), "--audio", str(audio),
                             "--outfile", str(out), "--box", *map(str, PORTRAIT_BOX), "--silence", "keep"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    frames, _ = read_video(out)
    plan = plan_silence_for_audio(wav, FPS, "keep")
    assert len(frames) == len(plan.pauses) and plan.pauses.sum() >= 30
    y1, y2, x1, x2 = PORTRAIT_BOX
    portrait_mouth = read_image(SAMPLES / "wav2lip_sample_portrait.png")[y1:y2, x1:x2].astype(int)
    error = np.array([np.abs(frame[y1:y2, x1:x2].astype(int) - portrait_mouth).mean() for frame in frames])
    # H.264 (yuv420) moves this portrait's box by about 3/255 on average, the same in every paused frame; the
    # random generator's mouth moves it by far more.
    assert error[plan.pauses].max() < 5.0 and np.ptp(error[plan.pauses]) < 0.5
    assert error[plan.paste_weights == 1].min() > 4 * error[plan.pauses].max()


def test_cli_refuses_a_silence_threshold_above_0_dbfs_before_any_work(tmp_path, capsys):
    from wav2lip_core.cli.run import run_main

    code = run_main(["--checkpoint", str(tmp_path / "absent.pth"), "--face",
                     str(SAMPLES / "wav2lip_sample_portrait.png"), "--audio", str(SAMPLES / "wav2lip_sample_speech.wav"),
                     "--outfile", str(tmp_path / "out.mp4"), "--silence", "keep", "--silence_db", "6"])
    error = capsys.readouterr().err
    assert code != 0 and "--silence_db" in error and "dBFS" in error and "Traceback" not in error
    assert "absent.pth" not in error, "the numbers are checked before any model file is looked for"


@pytest.mark.parametrize("value", ["-1e9", "-inf", "1e3"])
def test_cli_reads_a_threshold_in_any_float_notation_and_says_the_range_it_allows(tmp_path, capsys, value):
    """argparse alone takes -1e9 for an option ("expected one argument"): it is a number, out of range."""
    from wav2lip_core.cli.run import build_parser, run_main

    face, speech = SAMPLES / "wav2lip_sample_portrait.png", SAMPLES / "wav2lip_sample_speech.wav"
    code = run_main(["--checkpoint", str(tmp_path / "absent.pth"), "--face", str(face), "--audio", str(speech),
                     "--outfile", str(tmp_path / "out.mp4"), "--silence", "keep", "--silence_db", value])
    error = capsys.readouterr().err
    assert code == 1 and "Traceback" not in error and "expected one argument" not in error
    assert "--silence_db: the silence threshold is a level in dBFS from -120 to 0" in error
    arguments = ["--checkpoint", "c", "--face", "f", "--audio", "a", "--silence_db", "-6.5E1", "--box", "-1", "-1",
                 "-1", "-1"]
    assert build_parser().parse_args(arguments).silence_db == -65.0
