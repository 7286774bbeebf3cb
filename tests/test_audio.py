"""Specification of the audio front-end (wav2lip_core.audio): loading, mel spectrogram, mel chunks."""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import librosa
import numpy as np
import pytest
import soundfile

from wav2lip_core import audio
from wav2lip_core.audio import mel as audio_mel

# The shared reference folder (samples, and the original code's golden mel) sits beside the repository.
SHARED_DIR = next((folder for folder in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared"))
                   if (folder / "reference" / "golden").is_dir()), Path(__file__).resolve().parents[2] / "shared")
SAMPLES_DIR = SHARED_DIR / "samples"
GOLDEN_DIR = SHARED_DIR / "reference" / "golden"
SPEECH_16K = SAMPLES_DIR / "speech_16k.wav"
SPEECH_22K = SAMPLES_DIR / "speech_22k.wav"
SPEECH_44K_STEREO = SAMPLES_DIR / "speech_44k_stereo.wav"

COMMON_FRAME_RATES = [24, 25, 29.97, 30, 50, 60]


@pytest.fixture(scope="module")
def speech_16k() -> np.ndarray:
    return audio.load_audio(SPEECH_16K)


@pytest.fixture(scope="module")
def golden_mel() -> np.ndarray:
    return np.load(GOLDEN_DIR / "speech_16k_mel.npy")


def original_chunk_starts(num_columns: int, fps: float) -> list[int]:
    """The loop of the original inference.py, written plainly (start of every chunk it appends)."""
    mel_idx_multiplier = 80.0 / fps
    starts = []
    i = 0
    while True:
        start_idx = int(i * mel_idx_multiplier)
        if start_idx + 16 > num_columns:
            starts.append(num_columns - 16)
            break
        starts.append(start_idx)
        i += 1
    return starts


def run_ffmpeg(*arguments: str) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run(command + list(arguments), check=True, capture_output=True)


# --------------------------------------------------------------------------------------------------
# constants


def test_public_constants_describe_the_original_front_end():
    assert audio.SAMPLE_RATE == 16000
    assert audio.MEL_STEP_SIZE == 16
    assert audio.MEL_FRAMES_PER_SECOND == 80


# --------------------------------------------------------------------------------------------------
# melspectrogram


def test_mel_of_the_sample_matches_the_original_code_within_1e_5(speech_16k, golden_mel):
    mel = audio.melspectrogram(speech_16k)
    assert mel.shape == golden_mel.shape == (80, 239)
    assert mel.dtype == np.float32
    assert np.abs(mel.astype(np.float64) - golden_mel).max() < 1e-5


def test_the_mel_filterbank_is_librosas_slaney_filterbank_bit_for_bit():
    ours = audio_mel._mel_basis()
    expected = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600, htk=False, norm="slaney",
                                   dtype=np.float32)
    assert ours.dtype == np.float32 and ours.shape == (80, 401)
    np.testing.assert_array_equal(ours, expected)


def test_the_stft_window_is_scipys_periodic_hann_window():
    import scipy.signal

    expected = scipy.signal.get_window("hann", 800, fftbins=True)
    np.testing.assert_allclose(audio_mel._hann_window(), expected, rtol=0, atol=1e-15)


def test_a_mel_spectrogram_of_16k_audio_imports_neither_librosa_nor_scipy():
    """Both cost about a second of start-up; they are only needed to resample other rates."""
    script = ("import sys, numpy as np; from wav2lip_core import audio; "
              "audio.speech_mel_chunks(np.zeros(16000, np.float32), 25.0); "
              "print(sorted(m for m in ('librosa', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("num_samples", [3000, 3199, 3200, 16000, 47666])
def test_mel_has_one_column_per_200_samples_plus_one(num_samples):
    rng = np.random.default_rng(num_samples)
    wav = (0.1 * rng.standard_normal(num_samples)).astype(np.float32)
    mel = audio.melspectrogram(wav)
    assert mel.shape == (80, 1 + num_samples // 200) == (80, audio.num_mel_columns(num_samples))
    assert np.isfinite(mel).all() and mel.min() >= -4.0 and mel.max() <= 4.0


def zero_padded_mel(wav: np.ndarray) -> np.ndarray:
    """Same pipeline but with today's librosa STFT default (zero padding), to show the difference."""
    emphasised = np.append(wav[:1].astype(np.float64), wav[1:] - 0.97 * wav[:-1].astype(np.float64))
    spectrum = librosa.stft(emphasised, n_fft=800, hop_length=200, win_length=800, pad_mode="constant")
    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    decibels = 20 * np.log10(np.maximum(1e-5, basis @ np.abs(spectrum))) - 20
    return np.clip(8 * (decibels + 100) / 100 - 4, -4, 4)


def test_reflect_padding_matters_the_first_column_differs_from_a_zero_padded_stft(speech_16k):
    ours = audio.melspectrogram(speech_16k)
    zero_padded = zero_padded_mel(speech_16k)
    assert np.abs(ours[:, 0] - zero_padded[:, 0]).max() > 0.05  # edges differ
    assert np.abs(ours[:, 3:-3] - zero_padded[:, 3:-3]).max() < 1e-4  # interior identical


def test_silence_gives_a_finite_mel_at_the_floor_and_usable_chunks():
    silence = np.zeros(16000, dtype=np.float32)
    mel = audio.melspectrogram(silence)
    assert np.isfinite(mel).all()
    assert (mel == -4.0).all()
    assert audio.speech_mel_chunks(silence, 25).shape == (audio.num_output_frames(len(silence), 25), 80, 16) \
        == (25, 80, 16)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_audio_with_nan_or_inf_samples_raises_saying_how_many_and_where(bad_value):
    wav = np.zeros(32000, dtype=np.float32)
    wav[24000] = bad_value  # 1.5 s
    wav[30000] = bad_value
    with pytest.raises(ValueError, match=r"2 non-finite .* 1\.500 s"):
        audio.melspectrogram(wav)


def test_melspectrogram_rejects_empty_and_multichannel_input():
    with pytest.raises(ValueError, match="empty"):
        audio.melspectrogram(np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError, match="mono"):
        audio.melspectrogram(np.zeros((2, 4000), dtype=np.float32))


# --------------------------------------------------------------------------------------------------
# mel chunks


def test_length_original_gives_the_original_chunks_at_25_fps(speech_16k, golden_mel):
    golden_chunks = np.load(GOLDEN_DIR / "speech_16k_mel_chunks_fps25.npy")
    from_golden_mel = audio.mel_chunks(golden_mel, 25, "original")
    assert from_golden_mel.shape == golden_chunks.shape == (71, 80, 16)
    assert from_golden_mel.dtype == np.float32
    assert np.array_equal(from_golden_mel, golden_chunks.astype(np.float32))
    from_our_mel = audio.speech_mel_chunks(speech_16k, 25, "original")
    assert np.abs(from_our_mel.astype(np.float64) - golden_chunks).max() < 1e-5


@pytest.mark.parametrize("fps", COMMON_FRAME_RATES)
def test_length_original_counts_frames_as_the_original_loop_for_every_length(fps):
    for num_columns in list(range(16, 700)) + [4801, 48001, 288001]:
        expected = len(original_chunk_starts(num_columns, fps))
        for num_samples in ((num_columns - 1) * 200, num_columns * 200 - 1):      # every length with T columns
            assert audio.num_output_frames(num_samples, fps, "original") == expected, (fps, num_columns)


@pytest.mark.parametrize("fps", COMMON_FRAME_RATES + [7, 78, 12.5, 23.976, 59.94])
def test_with_length_original_every_chunk_is_the_16_columns_at_the_original_start(fps):
    num_columns = 643
    mel = np.arange(80 * num_columns, dtype=np.float32).reshape(80, num_columns)
    chunks = audio.mel_chunks(mel, fps, "original")
    starts = original_chunk_starts(num_columns, fps)
    assert chunks.shape == (len(starts), 80, 16)
    for chunk, start in zip(chunks, starts):
        assert np.array_equal(chunk, mel[:, start:start + 16])


def test_chunk_start_uses_the_original_float_rounding_of_80_over_fps():
    # The original computes int(i * (80. / fps)); at 78 fps, 117 * (80/78) is 119.99999999999999,
    # so chunk 117 starts at column 119 (not at 120, which exact arithmetic would give).
    mel = np.tile(np.arange(400, dtype=np.float32), (80, 1))
    for length in audio.LENGTH_RULES:
        chunks = audio.mel_chunks(mel, 78, length, num_samples=399 * 200)
        assert chunks[117, 0, 0] == 119.0


def test_with_length_original_the_last_chunk_is_the_last_16_columns():
    mel = np.tile(np.arange(239, dtype=np.float32), (80, 1))
    chunks = audio.mel_chunks(mel, 25, "original")
    assert np.array_equal(chunks[-1, 0], np.arange(223, 239, dtype=np.float32))
    assert chunks[-2, 0, 0] == 220.0


def test_audio_shorter_than_16_mel_columns_raises_naming_the_minimum_duration():
    too_short = np.zeros(2999, dtype=np.float32)  # 15 columns
    mel = audio.melspectrogram(too_short)
    assert mel.shape == (80, 15)
    for length in audio.LENGTH_RULES:
        with pytest.raises(ValueError, match=r"too short.*0\.1875 s"):
            audio.mel_chunks(mel, 25, length, num_samples=2999)
        with pytest.raises(ValueError, match=r"0\.1875 s"):
            audio.num_output_frames(2999, 25, length)
    just_enough = np.zeros(3000, dtype=np.float32)  # 16 columns
    # like the original: chunk 0 fits, chunk 1 would not, so the last 16 columns are appended again
    assert audio.speech_mel_chunks(just_enough, 25, "original").shape == (2, 80, 16)
    # the speech rule: 0.1875 s at 25 fps is 4.69 frame periods, so 5 frames, the last ones padded
    assert audio.speech_mel_chunks(just_enough, 25).shape == (5, 80, 16)


@pytest.mark.parametrize("fps", [0, -25, float("nan"), float("inf")])
@pytest.mark.parametrize("length", ["speech", "original"])
def test_fps_must_be_a_positive_finite_number(fps, length):
    mel = np.zeros((80, 100), dtype=np.float32)
    with pytest.raises(ValueError, match="fps is outside"):
        audio.mel_chunks(mel, fps, length, num_samples=99 * 200)
    with pytest.raises(ValueError, match="fps is outside"):
        audio.num_output_frames(99 * 200, fps, length)


def test_an_unknown_length_rule_and_a_mel_without_its_audio_length_are_refused():
    mel = np.zeros((80, 100), dtype=np.float32)
    with pytest.raises(ValueError, match=r"length must be one of \('speech', 'original'\)"):
        audio.mel_chunks(mel, 25, "whole", num_samples=99 * 200)
    with pytest.raises(ValueError, match="needs num_samples"):
        audio.mel_chunks(mel, 25)               # the mel alone fixes the duration only to within 200 samples
    with pytest.raises(ValueError, match="cannot come from 16000 samples"):
        audio.mel_chunks(mel, 25, num_samples=16000)


# --------------------------------------------------------------------------------------------------
# length="speech" (the default): the whole speech


def test_by_default_two_seconds_at_25_fps_give_50_frames_and_the_original_rule_47():
    two_seconds = np.zeros(32000, np.float32)
    assert audio.num_output_frames(32000, 25) == len(audio.speech_mel_chunks(two_seconds, 25)) == 50
    assert audio.num_output_frames(32000, 25, "original") == len(audio.speech_mel_chunks(two_seconds, 25,
                                                                                         "original")) == 47


def exact_frames_starting_inside(num_samples: int, fps: Fraction) -> int:
    """The speech rule in exact arithmetic: how many i >= 0 have i / fps < num_samples / 16000."""
    count = 0
    while Fraction(count) / fps < Fraction(num_samples, 16000):
        count += 1
    return count


# (fps as the engine gets it, the same rate exactly)
EXACT_RATES = [(24.0, Fraction(24)), (25.0, Fraction(25)), (30.0, Fraction(30)), (12.5, Fraction(25, 2)),
               (7.0, Fraction(7)), (78.0, Fraction(78)), (240.0, Fraction(240)), (1.0, Fraction(1)),
               (30000 / 1001, Fraction(30000, 1001)), (24000 / 1001, Fraction(24000, 1001)),
               (60000 / 1001, Fraction(60000, 1001)), (29.97, Fraction(2997, 100))]


@pytest.mark.parametrize("fps,exact_fps", EXACT_RATES, ids=lambda value: f"{float(value):g}")
def test_the_speech_rule_gives_a_frame_for_every_frame_period_that_starts_inside_the_audio(fps, exact_fps):
    lengths = [3000, 3001, 3199, 3200, 16000, 31999, 32000, 32001, 47666, 160000]
    # lengths where the audio ends exactly on a frame boundary: no frame may start there (float fps such as
    # 24000 / 1001 put seconds * fps a hair above the whole number, e.g. 15.000000000000002 at 10010 samples)
    lengths += [int(k * 16000 / exact_fps) for k in range(1, 400)
                if (k * 16000 / exact_fps).denominator == 1 and k * 16000 / exact_fps >= 3000][:20]
    for num_samples in lengths:
        assert audio.num_output_frames(num_samples, fps) == exact_frames_starting_inside(num_samples, exact_fps), \
            (fps, num_samples)


@pytest.mark.parametrize("fps", COMMON_FRAME_RATES + [1, 7, 78, 240])
def test_the_speech_rule_covers_the_audio_within_one_frame_period(fps):
    for num_samples in range(3000, 60000, 997):
        seconds = num_samples / 16000
        video_seconds = audio.num_output_frames(num_samples, fps) / fps
        assert seconds <= video_seconds + 1e-9 < seconds + 1 / fps, (fps, num_samples)


@pytest.mark.parametrize("fps", [25, 29.97, 30000 / 1001, 60, 7, 240])
def test_speech_windows_start_where_the_original_puts_them_and_read_silence_past_the_mel(fps):
    """Frame i hears the 16 columns from int(i * 80 / fps), as in the original; columns past the spectrogram's end
    are its floor, -4, which is what digital silence gives (melspectrogram of zeros): the muxed sound has ended."""
    rng = np.random.default_rng(7)
    wav = (0.2 * rng.standard_normal(32000 + 123)).astype(np.float32)
    mel = audio.melspectrogram(wav)
    num_columns = mel.shape[1]
    chunks = audio.speech_mel_chunks(wav, fps)
    assert len(chunks) == audio.num_output_frames(len(wav), fps)
    padded_frames = 0
    for i, chunk in enumerate(chunks):
        start = int(i * (80.0 / fps))
        assert start < num_columns                      # every frame hears some of the speech
        real = mel[:, start:start + 16]
        np.testing.assert_array_equal(chunk[:, :real.shape[1]], real)
        assert (chunk[:, real.shape[1]:] == audio.PAD_VALUE).all()
        padded_frames += real.shape[1] < 16
    assert padded_frames >= 1
    assert audio.PAD_VALUE == audio.melspectrogram(np.zeros(3200, np.float32)).max() == -4.0
    # Every frame whose window fits is the original's frame; only the original's last one (the last 16 columns,
    # repeated where its loop stops) differs.
    original = audio.speech_mel_chunks(wav, fps, "original")
    np.testing.assert_array_equal(chunks[:len(original) - 1], original[:-1])


# --------------------------------------------------------------------------------------------------
# to_mono_16k


def test_to_mono_16k_averages_channels_and_resamples_with_soxr_hq():
    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((2, 44100))).astype(np.float32)
    mono = audio.to_mono_16k(stereo, 44100)
    expected = librosa.resample(stereo.mean(axis=0), orig_sr=44100, target_sr=16000, res_type="soxr_hq")
    assert mono.dtype == np.float32 and mono.ndim == 1
    assert len(mono) == 16000
    assert np.allclose(mono, expected, atol=1e-6)


def test_to_mono_16k_keeps_16k_mono_unchanged_and_resamples_24k_mono():
    rng = np.random.default_rng(1)
    mono_16k = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    assert np.array_equal(audio.to_mono_16k(mono_16k, 16000), mono_16k)
    assert np.array_equal(audio.to_mono_16k(mono_16k[None, :], 16000), mono_16k)
    mono_24k = (0.1 * rng.standard_normal(24000)).astype(np.float32)
    assert audio.to_mono_16k(mono_24k, 24000).shape == (16000,)


def test_to_mono_16k_scales_integer_pcm_to_unit_range():
    pcm = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    assert np.allclose(audio.to_mono_16k(pcm, 16000), [0.0, 0.5, -1.0, 32767 / 32768])


def test_to_mono_16k_rejects_samples_by_channels_layout_and_nan():
    with pytest.raises(ValueError, match=r"\(samples, channels\)"):
        audio.to_mono_16k(np.zeros((44100, 2), dtype=np.float32), 44100)
    with pytest.raises(ValueError, match=r"\(channels, samples\)"):
        audio.to_mono_16k(np.zeros((1, 2, 4000), dtype=np.float32), 16000)
    broken = np.zeros((2, 44100), dtype=np.float32)
    broken[1, 22050] = np.nan
    with pytest.raises(ValueError, match=r"1 non-finite .* 0\.500 s"):
        audio.to_mono_16k(broken, 44100)


# --------------------------------------------------------------------------------------------------
# load_audio


def test_load_audio_reads_16k_wav_as_float32_in_unit_range(speech_16k):
    raw, rate = soundfile.read(SPEECH_16K, dtype="float32")
    assert rate == 16000
    assert speech_16k.dtype == np.float32 and speech_16k.ndim == 1
    assert np.array_equal(speech_16k, raw)
    assert np.abs(speech_16k).max() <= 1.0


def test_load_audio_resamples_22k_wav_to_16k_with_the_right_length(speech_16k):
    num_frames_22k = soundfile.info(SPEECH_22K).frames
    loaded = audio.load_audio(SPEECH_22K)
    assert loaded.dtype == np.float32
    assert len(loaded) == math.ceil(num_frames_22k * 16000 / 22050)
    # same utterance as the 16 kHz sample: waveform and mel agree closely
    assert np.abs(loaded - speech_16k).max() < 1e-3
    assert np.abs(audio.melspectrogram(loaded) - audio.melspectrogram(speech_16k)).mean() < 0.01


def test_load_audio_mixes_stereo_44k_to_the_mean_of_channels_at_16k():
    stereo, rate = soundfile.read(SPEECH_44K_STEREO, dtype="float32", always_2d=True)
    assert rate == 44100 and stereo.shape[1] == 2
    loaded = audio.load_audio(SPEECH_44K_STEREO)
    expected = librosa.resample(stereo.T.mean(axis=0), orig_sr=44100, target_sr=16000, res_type="soxr_hq")
    assert len(loaded) == math.ceil(len(stereo) * 16000 / 44100)
    assert np.allclose(loaded, expected, atol=1e-6)
    left_only = audio.to_mono_16k(stereo[:, 0], 44100)
    assert not np.allclose(loaded, left_only, atol=1e-3)


@pytest.mark.parametrize(
    "file_name, codec_arguments",
    [
        ("speech.mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]),
        ("speech.flac", ["-c:a", "flac"]),
        ("speech.m4a", ["-c:a", "aac", "-b:a", "64k"]),
        ("speech.ogg", ["-c:a", "libvorbis"]),
    ],
)
def test_compressed_audio_files_load_with_the_right_duration(tmp_path, file_name, codec_arguments):
    encoded = tmp_path / file_name
    run_ffmpeg("-i", str(SPEECH_44K_STEREO), *codec_arguments, str(encoded))
    loaded = audio.load_audio(encoded)
    expected_seconds = soundfile.info(SPEECH_44K_STEREO).duration
    assert loaded.dtype == np.float32 and loaded.ndim == 1
    assert abs(len(loaded) / 16000 - expected_seconds) <= 0.030
    assert np.abs(loaded).max() > 0.1  # real content, not silence


def test_the_audio_track_of_a_video_file_loads(tmp_path):
    video = tmp_path / "clip.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:s=32x32:r=25", "-i", str(SPEECH_16K),
        "-map", "0:v", "-map", "1:a", "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p",
        "-c:a", "aac", str(video),
    )
    loaded = audio.load_audio(video)
    assert abs(len(loaded) / 16000 - soundfile.info(SPEECH_16K).duration) <= 0.1


def test_a_video_without_audio_raises_no_audio_stream_naming_the_file(tmp_path):
    video = tmp_path / "silent_film.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=32x32:r=25", "-t", "0.2",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video))
    with pytest.raises(ValueError, match=r"silent_film\.mp4.*no audio stream"):
        audio.load_audio(video)


def test_missing_and_undecodable_files_raise_errors_naming_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        audio.load_audio(tmp_path / "nowhere.wav")
    junk = tmp_path / "junk.m4a"
    junk.write_bytes(b"this is not audio" * 64)
    with pytest.raises(ValueError, match=r"junk\.m4a"):
        audio.load_audio(junk)


def test_a_wav_file_with_nan_samples_raises_naming_the_file(tmp_path):
    broken = np.zeros(16000, dtype=np.float32)
    broken[8000:8010] = np.nan
    path = tmp_path / "broken_tts.wav"
    soundfile.write(path, broken, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"broken_tts\.wav.*10 non-finite .* 0\.500 s"):
        audio.load_audio(path)


def test_the_8_second_stereo_sample_gives_one_chunk_per_25_fps_frame():
    wav = audio.load_audio(SPEECH_44K_STEREO)
    chunks = audio.speech_mel_chunks(wav, 25)
    assert chunks.shape == (math.ceil(len(wav) * 25 / 16000), 80, 16)
    assert np.isfinite(chunks).all()
    mel = audio.melspectrogram(wav)
    assert len(audio.speech_mel_chunks(wav, 25, "original")) == len(original_chunk_starts(mel.shape[1], 25))
