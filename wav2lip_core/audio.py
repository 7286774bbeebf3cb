"""Audio front-end of the Wav2Lip engine: loading, mel spectrogram and per-frame mel chunks.

Layouts and ranges at the boundaries
------------------------------------
* Waveforms returned here are float32, mono, 1-D ``(samples,)``, 16 kHz (``SAMPLE_RATE``), nominally in
  [-1, 1] (PCM files give [-1, 1); like the original, nothing is normalised or clipped, so float files
  or resampling overshoot may exceed 1 slightly).
* ``melspectrogram`` returns float32 ``(80, T)``: rows are mel bins from low to high frequency, columns are
  time at 80 columns per second (hop 200 samples = 12.5 ms), values in [-4, 4],
  ``T = 1 + len(wav) // 200``.
* ``mel_chunks`` returns float32 ``(N, 80, 16)``: one 16-column window (200 ms) per output video frame.

Numerics (reproduce the original Wav2Lip ``audio.py`` with its pinned librosa 0.7.0)
-----------------------------------------------------------------------------------
1. pre-emphasis ``y[n] = x[n] - 0.97 x[n-1]`` with ``y[0] = x[0]`` (``lfilter`` semantics), in float64;
2. STFT, n_fft 800, hop 200, periodic Hann window of 800, centred frames with **reflect** padding of
   400 samples per side (librosa 0.7 default; librosa >= 0.9 pads with zeros, which changes the first
   and last columns by up to 0.28, so we do not use ``librosa.stft``); spectrum stored as complex64;
3. magnitude ``|D|``, projected with the Slaney mel basis (16 kHz, n_fft 800, 80 mels, 55..7600 Hz,
   Slaney area normalisation, float32; computed once and cached, with numpy: librosa's filters bit for bit
   without librosa's second of import time);
4. ``20 * log10(max(1e-5, M)) - 20`` dB, then symmetric clipped normalisation of [-100, 0] dB to [-4, 4].
The result matches the original's output within 1e-5. The STFT is vectorised (strided frames + rfft),
processed in blocks of frames so that memory stays bounded for long audio.

Resampling
----------
Files and waveforms at another rate are resampled with librosa's default resampler (``soxr_hq``, what
``librosa.load`` uses today). The original (librosa 0.7) used resampy ``kaiser_best``: both are
high-quality band-limited resamplers, but the samples differ slightly. Mono is the mean of the channels.

Silent and broken audio
-----------------------
* All-zero (silent) audio is valid: every mel value is -4 (the floor), chunks are built normally.
* A waveform containing NaN or +-inf samples raises ``ValueError`` saying how many samples are bad and
  at which second the first one is (the original only noticed later with "Mel contains nan!").
  ``melspectrogram`` therefore never returns NaN.
* Audio shorter than 16 mel columns (3000 samples = 0.1875 s at 16 kHz) cannot give a single chunk:
  ``mel_chunks`` / ``num_mel_chunks`` raise ``ValueError`` naming the minimum duration.

File loading
------------
``load_audio`` reads wav/flac/ogg/mp3 (and whatever else libsndfile knows) with ``soundfile``; anything
else (m4a/aac, opus, the audio track of a video file, ...) is decoded by the ffmpeg binary bundled with
``imageio-ffmpeg`` (never an ffmpeg from PATH) to float32 PCM through a pipe. Errors name the file.
"""

from __future__ import annotations

import functools
import os
import struct
import subprocess
from typing import Union

import numpy as np
import soundfile

SAMPLE_RATE = 16000
MEL_STEP_SIZE = 16  # mel columns per chunk (200 ms)
MEL_FRAMES_PER_SECOND = 80  # SAMPLE_RATE / HOP_SIZE

N_FFT = 800
HOP_SIZE = 200
WIN_SIZE = 800
NUM_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0
RESAMPLE_TYPE = "soxr_hq"

MIN_SAMPLES_FOR_ONE_CHUNK = (MEL_STEP_SIZE - 1) * HOP_SIZE  # 3000 samples -> 16 mel columns
MIN_SECONDS_FOR_ONE_CHUNK = MIN_SAMPLES_FOR_ONE_CHUNK / SAMPLE_RATE  # 0.1875 s

# Sane ranges, checked before any work. Sample rates: telephone speech (8 kHz) down to half of it, up to the
# highest rate audio interfaces record (768 kHz); a header outside that is broken, and resampling from it
# would take hours (1 Hz -> 16 kHz multiplies the samples by 16000). Frame rates: 1 to 240 fps (the Audio To
# Mel widget's range); the output has duration x fps frames, so bounded rates bound the work.
SAMPLE_RATE_RANGE = (4000, 768000)
FRAME_RATE_RANGE = (1.0, 240.0)

_STFT_FRAMES_PER_BLOCK = 4096  # bounds the float64 frame buffer to ~26 MB
_MAX_PLAUSIBLE_CHANNELS = 32

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------------------------------
# waveform helpers


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


def _rate_or_none(value: float, limits: tuple[float, float], what: str, kind: str) -> float | None:
    """``value`` as a float when it lies within ``limits``, else None; ValueError naming ``what`` when it is not a
    number at all."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: the {kind} {value!r} is not a number") from None
    return rate if np.isfinite(rate) and limits[0] <= rate <= limits[1] else None


def check_sample_rate(sample_rate: float, what: str = "audio") -> float:
    """``sample_rate`` as a float, or ValueError unless it lies in SAMPLE_RATE_RANGE (Hz)."""
    rate = _rate_or_none(sample_rate, SAMPLE_RATE_RANGE, what, "sample rate")
    if rate is None:
        low, high = SAMPLE_RATE_RANGE
        raise ValueError(f"{what}: a sample rate of {float(sample_rate):g} Hz is outside the {low}..{high} Hz that "
                         f"audio can have; the file's header (or the node that made this audio) is wrong. "
                         f"Re-export the audio (e.g. as a 16 kHz or 44.1 kHz WAV) and try again.")
    return rate


def check_frame_rate(fps: float, what: str = "fps") -> float:
    """``fps`` as a float, or ValueError unless it lies in FRAME_RATE_RANGE (frames per second)."""
    rate = _rate_or_none(fps, FRAME_RATE_RANGE, what, "frame rate")
    if rate is None:
        low, high = FRAME_RATE_RANGE
        raise ValueError(f"{what}: {float(fps):g} fps is outside the supported {low:g}..{high:g} fps (the output "
                         f"video gets one frame per 1/fps of the speech, so its length and the work follow from it).")
    return rate


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


# --------------------------------------------------------------------------------------------------
# file loading


def _read_with_soundfile(path: str) -> tuple[np.ndarray, int] | None:
    """(channels, samples) float32 and rate, or None when libsndfile does not know the format."""
    try:
        frames_by_channel, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    return frames_by_channel.T, int(sample_rate)


def _ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as error:  # pragma: no cover - dependency of the package
        raise RuntimeError("imageio-ffmpeg is required to decode this audio format") from error
    return imageio_ffmpeg.get_ffmpeg_exe()


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
    command = [
        _ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-i", path,
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-c:a", "pcm_f32be", "-f", "au", "pipe:1",
    ]
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    message = completed.stderr.decode("utf-8", errors="replace").strip()
    if completed.returncode != 0:
        if "matches no streams" in message or "does not contain any stream" in message:
            raise ValueError(f"{path!r} has no audio stream")
        last_lines = " | ".join(message.splitlines()[-3:]) or f"ffmpeg exit code {completed.returncode}"
        raise ValueError(f"could not decode audio from {path!r}: {last_lines}")
    return _parse_au_float32(completed.stdout, path)


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


# --------------------------------------------------------------------------------------------------
# mel spectrogram


_SLANEY_HZ_PER_MEL = 200.0 / 3
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL   # 15 mels
_SLANEY_LOG_STEP = float(np.log(6.4) / 27.0)


def _hz_to_slaney_mel(frequency_hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa ``htk=False``): linear below 1 kHz (3 mels per 200 Hz), logarithmic above
    (27 mels per factor 6.4)."""
    frequency_hz = np.asarray(frequency_hz, dtype=np.float64)
    linear = frequency_hz / _SLANEY_HZ_PER_MEL
    above_break = np.maximum(frequency_hz, _SLANEY_BREAK_HZ) / _SLANEY_BREAK_HZ
    logarithmic = _SLANEY_BREAK_MEL + np.log(above_break) / _SLANEY_LOG_STEP
    return np.where(frequency_hz >= _SLANEY_BREAK_HZ, logarithmic, linear)


def _slaney_mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of ``_hz_to_slaney_mel``."""
    mels = np.asarray(mels, dtype=np.float64)
    linear = mels * _SLANEY_HZ_PER_MEL
    mels_above_break = np.maximum(mels, _SLANEY_BREAK_MEL) - _SLANEY_BREAK_MEL
    logarithmic = _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOG_STEP * mels_above_break)
    return np.where(mels >= _SLANEY_BREAK_MEL, logarithmic, linear)


@functools.lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    """Slaney mel filterbank, float32 (80, 401), read-only, computed once.

    The filters of ``librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600, htk=False,
    norm="slaney")`` (what the original uses), bit for bit, computed here with numpy (importing librosa costs about a second of start-up; tests compare the two). Filter ``m`` is a
    triangle over the FFT bin frequencies rising from mel point ``m`` to ``m + 1`` and falling to ``m + 2``
    (``NUM_MELS + 2`` points evenly spaced in mels from FMIN to FMAX), scaled by ``2 / (width in Hz)`` so
    every filter has the same area.
    """
    bin_hz = np.linspace(0.0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    edges_hz = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(FMIN), _hz_to_slaney_mel(FMAX), NUM_MELS + 2))
    edge_gaps_hz = np.diff(edges_hz)
    offsets = edges_hz[:, None] - bin_hz[None, :]            # (NUM_MELS + 2, bins)
    rising = -offsets[:-2] / edge_gaps_hz[:-1, None]
    falling = offsets[2:] / edge_gaps_hz[1:, None]
    triangles = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)   # rounded here, as librosa does
    area_normalisation = 2.0 / (edges_hz[2:] - edges_hz[:-2])
    basis = (triangles * area_normalisation[:, None]).astype(np.float32)
    basis.setflags(write=False)
    return basis


@functools.lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    """Periodic Hann window of 800 samples, float64 (what librosa 0.7 ``stft`` uses, ``scipy.signal.get_window(
    "hann", 800, fftbins=True)``): ``0.5 - 0.5 cos(2 pi n / 800)``."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WIN_SIZE) / WIN_SIZE)
    window.setflags(write=False)
    return window


def _preemphasis(wav: np.ndarray) -> np.ndarray:
    """``lfilter([1, -0.97], [1], wav)`` in float64: y[0] = x[0], y[n] = x[n] - 0.97 x[n-1]."""
    signal = wav.astype(np.float64)
    emphasised = np.empty_like(signal)
    emphasised[0] = signal[0]
    emphasised[1:] = signal[1:] - PREEMPHASIS * signal[:-1]
    return emphasised


def _stft_magnitude(signal: np.ndarray) -> np.ndarray:
    """Centred, reflect-padded STFT magnitude, float32 (T, 401), T = 1 + len(signal) // 200."""
    padded = np.pad(signal, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_SIZE]
    window = _hann_window()
    magnitude = np.empty((frames.shape[0], N_FFT // 2 + 1), dtype=np.float32)
    for block_start in range(0, frames.shape[0], _STFT_FRAMES_PER_BLOCK):
        block = frames[block_start:block_start + _STFT_FRAMES_PER_BLOCK]
        spectrum = np.fft.rfft(block * window, axis=1).astype(np.complex64)
        magnitude[block_start:block_start + block.shape[0]] = np.abs(spectrum)
    return magnitude


def _normalise_db(mel_magnitude: np.ndarray) -> np.ndarray:
    """Mel magnitude -> dB - 20 -> symmetric clipped normalisation to [-4, 4] (float64)."""
    min_level = 10.0 ** (MIN_LEVEL_DB / 20.0)  # 1e-5
    decibels = 20.0 * np.log10(np.maximum(min_level, mel_magnitude.astype(np.float64))) - REF_LEVEL_DB
    scaled = (2 * MAX_ABS_VALUE) * ((decibels - MIN_LEVEL_DB) / (-MIN_LEVEL_DB)) - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE)


def num_mel_columns(num_samples: int) -> int:
    """Number of mel columns ``melspectrogram`` gives for ``num_samples`` samples at 16 kHz."""
    return 1 + int(num_samples) // HOP_SIZE


def melspectrogram(wav: np.ndarray) -> np.ndarray:
    """Wav2Lip's normalised log-mel spectrogram (numerics of the original, see module docstring).

    wav: float32 mono 16 kHz ``(samples,)``, nominally in [-1, 1]. Returns float32 ``(80, T)`` in [-4, 4],
    rows = mel bins low -> high, columns = 12.5 ms steps, ``T = 1 + len(wav) // 200``.
    Raises ValueError for empty, non-1-D or NaN/inf input; never returns NaN.
    """
    samples = _as_float32_samples(wav)
    if samples.ndim != 1:
        raise ValueError(f"melspectrogram expects mono (samples,) audio, got shape {samples.shape}")
    if samples.size == 0:
        raise ValueError("melspectrogram got empty audio (0 samples)")
    _find_non_finite(samples, SAMPLE_RATE, "audio")

    magnitude = _stft_magnitude(_preemphasis(samples))  # (T, 401) float32
    mel_magnitude = _mel_basis() @ magnitude.T  # (80, T) float32, as the original's np.dot
    return _normalise_db(mel_magnitude).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# per-frame chunks


def _mel_index_multiplier(fps: float) -> float:
    """``80. / fps`` exactly as the original computes it (then start = int(i * multiplier))."""
    return float(MEL_FRAMES_PER_SECOND) / check_frame_rate(fps)


def _require_one_chunk(num_columns: int) -> None:
    if num_columns < MEL_STEP_SIZE:
        raise ValueError(
            f"audio is too short for lip-sync: {num_columns} mel column(s) "
            f"(~{num_columns / MEL_FRAMES_PER_SECOND:.3f} s); at least {MEL_STEP_SIZE} columns, i.e. "
            f"{MIN_SECONDS_FOR_ONE_CHUNK:.4f} s ({MIN_SAMPLES_FOR_ONE_CHUNK} samples at 16 kHz), are needed"
        )


def _count_regular_chunks(num_columns: int, multiplier: float) -> int:
    """How many i >= 0 satisfy ``int(i * multiplier) + 16 <= num_columns`` (starts never decrease)."""
    last_allowed_start = num_columns - MEL_STEP_SIZE
    count = int(last_allowed_start / multiplier) + 1  # estimate, then correct for float rounding
    while count > 0 and int((count - 1) * multiplier) > last_allowed_start:
        count -= 1
    while int(count * multiplier) <= last_allowed_start:
        count += 1
    return count


def num_mel_chunks(num_mel_columns: int, fps: float) -> int:
    """Number of chunks (= output video frames) ``mel_chunks`` gives for a mel of that many columns."""
    multiplier = _mel_index_multiplier(fps)
    _require_one_chunk(int(num_mel_columns))
    return _count_regular_chunks(int(num_mel_columns), multiplier) + 1


def mel_chunks(mel: np.ndarray, fps: float) -> np.ndarray:
    """Cut the mel into one 16-column chunk per video frame (the original ``inference.py`` rule).

    mel: ``(80, T)`` from ``melspectrogram``; fps: video frame rate (> 0). Chunk i starts at column
    ``int(i * (80. / fps))``; the first i whose chunk would run past T gets the last 16 columns instead,
    and the sequence stops there. Returns float32 ``(N, 80, 16)``, N = ``num_mel_chunks(T, fps)``.
    """
    mel_array = np.asarray(mel)
    if mel_array.ndim != 2:
        raise ValueError(f"mel must be (num_mels, T), got shape {mel_array.shape}")
    num_columns = mel_array.shape[1]
    multiplier = _mel_index_multiplier(fps)
    _require_one_chunk(num_columns)

    regular_count = _count_regular_chunks(num_columns, multiplier)
    # numpy float64 multiply == Python float multiply; astype truncates toward zero like int().
    regular_starts = (np.arange(regular_count, dtype=np.float64) * multiplier).astype(np.int64)
    starts = np.append(regular_starts, num_columns - MEL_STEP_SIZE)
    column_index = starts[:, None] + np.arange(MEL_STEP_SIZE)[None, :]  # (N, 16)
    chunks = mel_array[:, column_index]  # (80, N, 16)
    return np.ascontiguousarray(chunks.transpose(1, 0, 2), dtype=np.float32)


def shift_speech(wav: np.ndarray, offset_frames: int, fps: float) -> np.ndarray:
    """The speech moved against the video by whole frames (``round(offset * 16000 / fps)`` samples), same length,
    so the number of mel chunks (output frames) is unchanged; the gap is filled with silence.

    offset_frames > 0: the speech comes earlier, output frame i is generated from what is said at frame
    i + offset_frames. That undoes a measured positive AV offset (the mouth showing the sound that many frames
    late, as Lip Sync Score reports it). < 0: later. 0: the waveform itself.
    """
    samples = np.asarray(wav)
    _mel_index_multiplier(fps)                    # the same check of fps as the chunks get
    shift = int(round(int(offset_frames) * SAMPLE_RATE / float(fps)))
    if shift == 0:
        return samples
    shifted = np.zeros_like(samples)
    if abs(shift) < len(samples):
        if shift > 0:
            shifted[:len(samples) - shift] = samples[shift:]
        else:
            shifted[-shift:] = samples[:len(samples) + shift]
    return shifted
