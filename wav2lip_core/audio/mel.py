"""Wav2Lip's mel spectrogram and its per-frame chunks, with the original's numerics (see the package docstring).

Input: float32 mono 16 kHz ``(samples,)``. ``melspectrogram`` -> float32 ``(80, T)`` in [-4, 4] (rows: mel bins
low -> high; columns: 12.5 ms steps); ``mel_chunks`` -> float32 ``(N, 80, 16)``, one per output video frame.
How many frames there are and which window each hears is decided here, once (``num_output_frames``,
``chunk_starts``), for the engine, the command line, the nodes and the pause detection alike.
"""
from __future__ import annotations

import functools
import math

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
# per-frame chunks: how many output frames, and the mel window each one hears

SPEECH = "speech"       # one output frame per 1/fps of the speech, the last windows padded with silence
ORIGINAL = "original"   # the original inference.py's count, for exact reproduction
LENGTH_RULES = (SPEECH, ORIGINAL)
DEFAULT_LENGTH = SPEECH

# The value padded mel columns get, past the spectrogram's end: the floor, what ``melspectrogram`` gives for
# digital silence. Past its end the audio is silent: the muxed sound stops there, so the last frames hear
# silence, the same "true silence" ``--silence closed`` feeds the generator. Repeating the edge column would
# hold the last 12.5 ms of sound (a vowel keeps the mouth open over frames where nothing is heard), and
# computing the spectrogram of zero-extended audio would change the last real columns (the centred STFT's
# reflect padding), so the frames inside the speech would no longer hear what the original's hear.
PAD_VALUE = -MAX_ABS_VALUE

# seconds * fps is rounded to this many decimals before rounding up: a frame that would start within a millionth
# of a frame period after the audio's end starts at its end, so it is not made. A float frame rate such as
# 24000 / 1001 carries rounding noise in its last bits (10010 samples give 15.000000000000002 frame periods),
# which must not add a frame.
_FRAME_START_TOLERANCE_DECIMALS = 6


def check_length_rule(length: str) -> str:
    if length not in LENGTH_RULES:
        raise ValueError(f"length must be one of {LENGTH_RULES}, not {length!r}")
    return length


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


def _speech_frame_count(num_samples: int, fps: float) -> int:
    """Frames whose period starts inside the audio: i / fps < num_samples / 16000, i.e. ceil(seconds * fps)."""
    return math.ceil(round(num_samples * fps / SAMPLE_RATE, _FRAME_START_TOLERANCE_DECIMALS))


def num_output_frames(num_samples: int, fps: float, length: str = DEFAULT_LENGTH) -> int:
    """Number of output video frames (= mel chunks) for ``num_samples`` of 16 kHz speech at ``fps``.

    length="speech": one frame for every frame period that starts inside the audio, ``ceil(seconds * fps)``
    (2.00 s at 25 fps: 50), so the video lasts as long as its sound, up to less than one frame period more.
    length="original": the original inference.py's count, which stops when a 16-column window would run past
    the spectrogram's end (2.00 s at 25 fps: 47; the last words play over a frozen frame).
    Both need at least MIN_SECONDS_FOR_ONE_CHUNK of audio (ValueError otherwise).
    """
    num_samples = int(num_samples)
    num_columns = num_mel_columns(num_samples)
    multiplier = _mel_index_multiplier(fps)
    _require_one_chunk(num_columns)
    if check_length_rule(length) == SPEECH:
        return _speech_frame_count(num_samples, fps)
    return _count_regular_chunks(num_columns, multiplier) + 1


def chunk_starts(num_samples: int, fps: float, length: str = DEFAULT_LENGTH) -> np.ndarray:
    """First mel column of every output frame's 16-column window, (N,) int64, N = ``num_output_frames``.

    Frame i starts at ``int(i * (80. / fps))`` (the original's float arithmetic). With length="speech" that holds
    for every frame, and windows that run past the spectrogram's last column are padded (``mel_chunks``); with
    length="original" the first frame whose window would run past it gets the last 16 columns instead, and is
    the last frame.
    """
    count = num_output_frames(num_samples, fps, length)
    multiplier = _mel_index_multiplier(fps)
    regular_count = count if length == SPEECH else count - 1
    # numpy float64 multiply == Python float multiply; astype truncates toward zero like int().
    starts = (np.arange(regular_count, dtype=np.float64) * multiplier).astype(np.int64)
    if length == ORIGINAL:
        starts = np.append(starts, num_mel_columns(num_samples) - MEL_STEP_SIZE)
    return starts


def mel_chunks(mel: np.ndarray, fps: float, length: str = DEFAULT_LENGTH, *,
               num_samples: int | None = None) -> np.ndarray:
    """Cut the mel into one 16-column window per output video frame (``chunk_starts``).

    mel: ``(80, T)`` from ``melspectrogram``; fps: video frame rate; num_samples: the length of the 16 kHz audio
    the mel was made from (needed for length="speech", which counts frames in the audio's own duration; the
    mel alone fixes it only to within 200 samples). Columns past T read ``PAD_VALUE`` (silence).
    Returns float32 ``(N, 80, 16)``, N = ``num_output_frames(num_samples, fps, length)``.
    """
    mel_array = np.asarray(mel)
    if mel_array.ndim != 2:
        raise ValueError(f"mel must be (num_mels, T), got shape {mel_array.shape}")
    num_columns = mel_array.shape[1]
    if check_length_rule(length) == ORIGINAL and num_samples is None:
        num_samples = (num_columns - 1) * HOP_SIZE          # any length with that many columns counts the same
    if num_samples is None:
        raise ValueError("mel_chunks(length='speech') needs num_samples, the length of the audio the mel was made "
                         "from (or use speech_mel_chunks(wav, fps))")
    if num_mel_columns(num_samples) != num_columns:
        raise ValueError(f"a mel of {num_columns} columns cannot come from {num_samples} samples "
                         f"({num_mel_columns(num_samples)} columns)")
    starts = chunk_starts(num_samples, fps, length)
    padded_columns = max(0, int(starts[-1]) + MEL_STEP_SIZE - num_columns)
    if padded_columns:
        mel_array = np.pad(mel_array, ((0, 0), (0, padded_columns)), constant_values=PAD_VALUE)
    column_index = starts[:, None] + np.arange(MEL_STEP_SIZE)[None, :]  # (N, 16)
    chunks = mel_array[:, column_index]  # (80, N, 16)
    return np.ascontiguousarray(chunks.transpose(1, 0, 2), dtype=np.float32)


def speech_mel_chunks(wav: np.ndarray, fps: float, length: str = DEFAULT_LENGTH) -> np.ndarray:
    """float32 mono 16 kHz ``(samples,)`` -> its mel chunks, float32 ``(N, 80, 16)`` in [-4, 4], one per output
    frame (``mel_chunks`` of ``melspectrogram``)."""
    check_frame_rate(fps)                                        # refused before any work
    check_length_rule(length)
    samples = np.asarray(wav)
    return mel_chunks(melspectrogram(samples), fps, length, num_samples=samples.shape[0])


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
