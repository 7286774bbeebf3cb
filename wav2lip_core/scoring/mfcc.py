"""MFCC features as SyncNet v2 was trained on them: ``python_speech_features.mfcc(audio, 16000)`` with its
default arguments, re-implemented in numpy so the pack needs no extra package at run time (tests compare the
two).

Input: mono 16 kHz samples at **int16 scale** (-32768..32767; the reference reads a 16-bit PCM wav with
scipy and does not normalise it). Output: float64 ``(T, 13)``, one row per 10 ms step.

Steps (python_speech_features 0.6 defaults):
1. pre-emphasis ``y[0] = x[0]``, ``y[n] = x[n] - 0.97 x[n - 1]``;
2. frames of 400 samples (25 ms) every 160 samples (10 ms), no window (rectangular);
   ``T = 1 + ceil((len - 400) / 160)`` (1 for shorter audio), the last frame zero-padded at the end;
3. power spectrum ``|rfft(frame, 512)|^2 / 512`` (the 400 samples zero-padded to 512);
4. 26 triangular mel filters (HTK mel scale ``2595 log10(1 + f / 700)``, 0 Hz .. 8 kHz) whose corner points
   are FFT bins ``floor(513 * hz / 16000)``; exact zeros become float eps before the log;
5. DCT-II with orthonormal scaling of the log filter energies, first 13 coefficients kept;
6. sinusoidal lifter ``1 + 11 sin(pi n / 22)``;
7. coefficient 0 replaced by the log of the frame's total power (sum of the power spectrum).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..audio.mel import preemphasis
from ..audio.rates import SAMPLE_RATE

FRAME_LENGTH = 400       # samples (25 ms)
FRAME_STEP = 160         # samples (10 ms)
FFT_SIZE = 512
NUM_FILTERS = 26
NUM_COEFFICIENTS = 13
LIFTER = 22
INT16_SCALE = 32768.0    # float audio in [-1, 1) times this gives the int16 values the reference sees
_FRAMES_PER_BLOCK = 8192  # bounds the float64 frame buffer (~34 MB) for long audio


def _hz_to_htk_mel(frequency_hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(frequency_hz, dtype=np.float64) / 700.0)


def _htk_mel_to_hz(mels: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mels, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=1)
def _mel_filterbank() -> np.ndarray:
    """(26, 257) float64 triangles over FFT bins, read-only; corners rounded down to whole bins first, so each
    filter rises linearly from 0 at its left corner bin to 1 at its centre bin and falls to 0 at its right one."""
    mel_points = np.linspace(_hz_to_htk_mel(0.0), _hz_to_htk_mel(SAMPLE_RATE / 2), NUM_FILTERS + 2)
    corner_bins = np.floor((FFT_SIZE + 1) * _htk_mel_to_hz(mel_points) / SAMPLE_RATE)
    bins = np.arange(FFT_SIZE // 2 + 1, dtype=np.float64)[None, :]
    left, centre, right = (corner_bins[i:i + NUM_FILTERS, None] for i in range(3))
    # Half-open ranges [left, centre) and [centre, right), as the reference's integer loops fill them.
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where((bins >= left) & (bins < centre), (bins - left) / (centre - left), 0.0)
        falling = np.where((bins >= centre) & (bins < right), (right - bins) / (right - centre), 0.0)
    filterbank = rising + falling
    filterbank.setflags(write=False)
    return filterbank


@functools.lru_cache(maxsize=1)
def _dct_and_lifter() -> np.ndarray:
    """(26, 13) float64 matrix: orthonormal DCT-II (first 13 outputs) with the cepstral lifter folded in."""
    n = np.arange(NUM_FILTERS)[:, None]
    k = np.arange(NUM_COEFFICIENTS)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * NUM_FILTERS)) * math.sqrt(2.0 / NUM_FILTERS)
    basis[:, 0] /= math.sqrt(2.0)
    lift = 1.0 + (LIFTER / 2.0) * np.sin(np.pi * np.arange(NUM_COEFFICIENTS) / LIFTER)
    matrix = basis * lift[None, :]
    matrix.setflags(write=False)
    return matrix


def num_mfcc_frames(num_samples: int) -> int:
    """Rows ``mfcc`` returns for ``num_samples`` samples."""
    if num_samples <= FRAME_LENGTH:
        return 1
    return 1 + math.ceil((num_samples - FRAME_LENGTH) / FRAME_STEP)


def mfcc(samples_int16_scale: np.ndarray) -> np.ndarray:
    """13 MFCCs per 10 ms of 16 kHz mono audio at int16 scale (see module docstring) -> float64 (T, 13).

    ``samples_int16_scale``: 1-D, int16 or float values in the int16 range (e.g. ``wav_float * 32768``).
    """
    signal = np.asarray(samples_int16_scale)
    if signal.ndim != 1 or signal.size == 0:
        raise ValueError(f"mfcc expects non-empty mono (samples,) audio, got shape {signal.shape}")
    emphasised = preemphasis(signal)                    # float64, as the reference computes it

    num_frames = num_mfcc_frames(len(emphasised))
    padded_length = (num_frames - 1) * FRAME_STEP + FRAME_LENGTH
    padded = np.concatenate([emphasised, np.zeros(padded_length - len(emphasised))])
    frames = np.lib.stride_tricks.sliding_window_view(padded, FRAME_LENGTH)[::FRAME_STEP]

    features = np.empty((num_frames, NUM_COEFFICIENTS), dtype=np.float64)
    eps = np.finfo(np.float64).eps
    for start in range(0, num_frames, _FRAMES_PER_BLOCK):
        block = frames[start:start + _FRAMES_PER_BLOCK]
        power = np.square(np.abs(np.fft.rfft(block, FFT_SIZE, axis=1))) / FFT_SIZE   # (n, 257)
        energy = power.sum(axis=1)
        filter_energies = power @ _mel_filterbank().T                                 # (n, 26)
        filter_energies[filter_energies == 0] = eps
        block_features = np.log(filter_energies) @ _dct_and_lifter()
        block_features[:, 0] = np.log(np.where(energy == 0, eps, energy))
        features[start:start + len(block)] = block_features
    return features
