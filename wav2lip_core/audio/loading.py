"""Audio into the engine: any file or waveform -> float32 mono 16 kHz ``(samples,)``, nominally in [-1, 1].

``load_audio`` reads wav/flac/ogg/mp3 (and whatever else libsndfile knows) with ``soundfile``; anything else
(m4a/aac, opus, the audio track of a video file, ...) is decoded by the ffmpeg binary bundled with
``imageio-ffmpeg`` (never an ffmpeg from PATH) to float32 PCM through a pipe. Errors name the file. Other rates
are resampled with librosa's default resampler (``soxr_hq``; the original's librosa 0.7 used resampy
``kaiser_best``: both band-limited, the samples differ slightly). Mono is the mean of the channels. NaN or
infinite samples are refused with the time of the first one.
"""
from __future__ import annotations

import os
import struct
from typing import Union

import numpy as np
import soundfile

from ..runtime.ffmpeg import run_audio_conversion
from .rates import SAMPLE_RATE, check_sample_rate

RESAMPLE_TYPE = "soxr_hq"
_MAX_PLAUSIBLE_CHANNELS = 32

PathLike = Union[str, "os.PathLike[str]"]


def _find_non_finite(samples: np.ndarray, sample_rate: float, what: str) -> None:
    """Raise ValueError if ``samples`` (any layout, time on the last axis) holds NaN or +-inf."""
    finite_mask = np.isfinite(samples)
    if finite_mask.all():
        return
    bad_count = int(finite_mask.size - np.count_nonzero(finite_mask))
    bad_time_indices = np.nonzero(~finite_mask.reshape(-1, samples.shape[-1]).all(axis=0))[0]
    first_bad_second = float(bad_time_indices[0]) / float(sample_rate)
    raise ValueError(
        f"{what} contains {bad_count} non-finite (NaN or inf) sample(s); the first one is at "
        f"{first_bad_second:.3f} s. The audio is broken (a TTS or an effect produced invalid values); "
        "fix or re-export it (e.g. replace NaN with 0) and try again."
    )


def _as_float32_samples(waveform: np.ndarray) -> np.ndarray:
    """Integer PCM is scaled to [-1, 1); floats are cast to float32 unchanged."""
    array = np.asarray(waveform)
    if np.issubdtype(array.dtype, np.integer):
        full_scale = float(np.iinfo(array.dtype).max) + 1.0
        return (array.astype(np.float64) / full_scale).astype(np.float32)
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    raise TypeError(f"waveform must hold float or integer samples, got dtype {array.dtype}")


def to_mono_16k(waveform: np.ndarray, sample_rate: float) -> np.ndarray:
    """Mix down to mono and resample to 16 kHz.

    waveform: ``(samples,)`` or ``(channels, samples)`` float samples nominally in [-1, 1] (integer PCM is
    scaled by its full-scale value), at ``sample_rate`` Hz (e.g. a ComfyUI AUDIO ``waveform[0]``,
    44.1 kHz stereo or 24 kHz mono). Returns float32 ``(samples_16k,)`` at 16 kHz: mean of the channels,
    resampled with librosa's ``soxr_hq`` when the rate differs. Raises ValueError on NaN/inf samples.
    """
    samples = _as_float32_samples(waveform)
    if samples.ndim == 2:
        num_channels, num_samples = samples.shape
        if num_channels > _MAX_PLAUSIBLE_CHANNELS and num_samples <= _MAX_PLAUSIBLE_CHANNELS:
            raise ValueError(
                f"waveform of shape {samples.shape} looks like (samples, channels); "
                "pass it as (channels, samples), e.g. waveform.T"
            )
        if num_channels == 0:
            raise ValueError("waveform has no channels")
    elif samples.ndim != 1:
        raise ValueError(
            f"waveform must be (samples,) or (channels, samples), got shape {samples.shape}; "
            "for a ComfyUI AUDIO (batch, channels, samples) pass one item, e.g. waveform[0]"
        )
    sample_rate = check_sample_rate(sample_rate)
    if samples.shape[-1] == 0:
        raise ValueError("waveform is empty (0 samples)")
    _find_non_finite(samples, sample_rate, "audio")

    mono = samples if samples.ndim == 1 else samples.mean(axis=0, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        import librosa  # imported lazily: heavy, and only needed when resampling

        mono = librosa.resample(
            mono, orig_sr=float(sample_rate), target_sr=float(SAMPLE_RATE), res_type=RESAMPLE_TYPE
        )
    return np.ascontiguousarray(mono, dtype=np.float32)


def _read_with_soundfile(path: str) -> tuple[np.ndarray, int] | None:
    """(channels, samples) float32 and rate, or None when libsndfile does not know the format."""
    try:
        frames_by_channel, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    return frames_by_channel.T, int(sample_rate)


_AU_MAGIC = 0x2E736E64  # ".snd"
_AU_ENCODING_FLOAT32 = 6


def _parse_au_float32(data: bytes, path: str) -> tuple[np.ndarray, int]:
    """Decode a Sun AU stream of big-endian float32 PCM into (channels, samples) float32 and rate."""
    if len(data) < 24:
        raise ValueError(f"could not decode audio from {path!r}: ffmpeg produced no audio data")
    magic, data_offset, _data_size, encoding, sample_rate, num_channels = struct.unpack(
        ">6I", data[:24]
    )
    if magic != _AU_MAGIC or encoding != _AU_ENCODING_FLOAT32 or num_channels == 0:
        raise ValueError(f"could not decode audio from {path!r}: unexpected ffmpeg output header")
    payload = data[data_offset:]
    usable_bytes = len(payload) - len(payload) % (4 * num_channels)
    interleaved = np.frombuffer(payload[:usable_bytes], dtype=">f4").astype(np.float32)
    return interleaved.reshape(-1, num_channels).T, int(sample_rate)


def _read_with_ffmpeg(path: str) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of any container with imageio-ffmpeg's binary, through a pipe."""
    output = run_audio_conversion(["-i", path, "-map", "0:a:0", "-vn", "-sn", "-dn",
                                   "-c:a", "pcm_f32be", "-f", "au", "pipe:1"],
                                  repr(path), f"decode audio from {path!r}")
    return _parse_au_float32(output, path)


def load_audio(path: PathLike) -> np.ndarray:
    """Load any audio file (wav, mp3, flac, ogg, m4a/aac, or the audio track of a video file).

    Returns float32 mono 16 kHz ``(samples,)``, nominally in [-1, 1]: mean of the channels, resampled
    with ``soxr_hq`` when the file rate differs (see ``to_mono_16k``). Raises FileNotFoundError when the
    file is missing, ValueError when it has no audio stream, cannot be decoded, is empty, or holds NaN/inf.
    """
    path_text = os.fspath(path)
    if not os.path.exists(path_text):
        raise FileNotFoundError(f"audio file not found: {path_text!r}")
    if os.path.isdir(path_text):
        raise IsADirectoryError(f"expected an audio file, got a directory: {path_text!r}")

    decoded = _read_with_soundfile(path_text)
    if decoded is None:
        decoded = _read_with_ffmpeg(path_text)
    samples_by_channel, file_sample_rate = decoded
    check_sample_rate(file_sample_rate, repr(path_text))
    if samples_by_channel.shape[-1] == 0:
        raise ValueError(f"audio file {path_text!r} contains no samples")
    try:
        return to_mono_16k(samples_by_channel, file_sample_rate)
    except ValueError as error:
        raise ValueError(f"{path_text!r}: {error}") from error
