"""Wav2Lip's mel spectrogram and its per-frame chunks, with the original's numerics (see the package docstring).

Input: float32 mono 16 kHz ``(samples,)``. ``melspectrogram`` -> float32 ``(80, T)`` in [-4, 4] (rows: mel bins
low -> high; columns: 12.5 ms steps); ``mel_chunks`` -> float32 ``(N, 80, 16)``, one per output video frame.
"""
from __future__ import annotations

import functools

import numpy as np

from .loading import _as_float32_samples, _find_non_finite
from .rates import SAMPLE_RATE, check_frame_rate

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

MIN_SAMPLES_FOR_ONE_CHUNK = (MEL_STEP_SIZE - 1) * HOP_SIZE  # 3000 samples -> 16 mel columns
MIN_SECONDS_FOR_ONE_CHUNK = MIN_SAMPLES_FOR_ONE_CHUNK / SAMPLE_RATE  # 0.1875 s

_STFT_FRAMES_PER_BLOCK = 4096  # bounds the float64 frame buffer to ~26 MB


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


def preemphasis(wav: np.ndarray) -> np.ndarray:
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

    magnitude = _stft_magnitude(preemphasis(samples))  # (T, 401) float32
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


def mel_chunk_starts(num_mel_columns: int, fps: float) -> np.ndarray:
    """First mel column of every chunk ``mel_chunks`` cuts from a mel of that many columns, (N,) int64:
    ``int(i * (80. / fps))`` for the regular chunks, then ``num_mel_columns - 16`` for the last one."""
    num_columns = int(num_mel_columns)
    multiplier = _mel_index_multiplier(fps)
    _require_one_chunk(num_columns)
    regular_count = _count_regular_chunks(num_columns, multiplier)
    # numpy float64 multiply == Python float multiply; astype truncates toward zero like int().
    regular_starts = (np.arange(regular_count, dtype=np.float64) * multiplier).astype(np.int64)
    return np.append(regular_starts, num_columns - MEL_STEP_SIZE)


def mel_chunks(mel: np.ndarray, fps: float) -> np.ndarray:
    """Cut the mel into one 16-column chunk per video frame (the original ``inference.py`` rule).

    mel: ``(80, T)`` from ``melspectrogram``; fps: video frame rate (> 0). Chunk i starts at column
    ``int(i * (80. / fps))``; the first i whose chunk would run past T gets the last 16 columns instead,
    and the sequence stops there. Returns float32 ``(N, 80, 16)``, N = ``num_mel_chunks(T, fps)``.
    """
    mel_array = np.asarray(mel)
    if mel_array.ndim != 2:
        raise ValueError(f"mel must be (num_mels, T), got shape {mel_array.shape}")
    starts = mel_chunk_starts(mel_array.shape[1], fps)
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
    fps = check_frame_rate(fps)                   # the same check of fps as the chunks get
    shift = int(round(int(offset_frames) * SAMPLE_RATE / fps))
    if shift == 0:
        return samples
    shifted = np.zeros_like(samples)
    if abs(shift) < len(samples):
        if shift > 0:
            shifted[:len(samples) - shift] = samples[shift:]
        else:
            shifted[-shift:] = samples[:len(samples) + shift]
    return shifted
