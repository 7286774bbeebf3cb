"""Pauses in the speech: which output frames hear silence, and what the lip-sync does with them.

Loudness of an output frame: the RMS level, in dBFS, of exactly the audio its mel chunk is made of, i.e. what
the generator hears for that frame. Chunk i spans mel columns ``start .. start + 15`` (``chunk_starts``);
column c is the STFT window of 800 samples centred on sample ``c * 200``, so the chunk hears samples
``start * 200 - 400`` to ``(start + 15) * 200 + 400`` (237.5 ms at 16 kHz), clamped to the audio; columns past
the spectrogram's end (the last frames' padding, see audio.mel.PAD_VALUE) are silence, 200 zero samples each.
dBFS here is ``20 log10(RMS)`` of float samples in [-1, 1]: a full-scale square wave reads 0, a full-scale sine
-3, digital silence -inf. The frame's own 1/fps span is not used: a frame whose span is silent but whose chunk
already hears the next word gets an opening mouth from the generator, and that anticipation is part of the sync.

Modes (``SILENCE_MODES``):
- ``generate``: every frame goes through the generator, whatever it hears (the original's behaviour).
- ``keep``: frames in a pause are the input frames, unchanged (not even generated); the generated mouth fades
  out over the last ``CROSSFADE_SECONDS`` of speech before a pause and back in over the first ones after it
  (``SilencePlan.paste_weights``), so the pause itself stays bit-identical to the input.
- ``closed``: frames in a pause are generated from the mel of digital silence (``silence_floor_chunk``), the
  generator's answer to true silence, so the mouth closes instead of mumbling through breath or room noise.

A pause is a run of at least ``MIN_PAUSE_SECONDS`` of frames quieter than the threshold (default
``DEFAULT_SILENCE_DB``). Shorter runs, a breath or a stop between phrases (a gap under about 0.44 s of audio,
since one silent chunk already needs 237.5 ms of quiet), stay generated: switching the mouth to the input's
and back within a frame or two reads as a flicker, not as a pause.

Arrays: waveforms float32 mono 16 kHz ``(samples,)``; per-frame values ``(N,)``, one per mel chunk.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .audio.mel import (DEFAULT_LENGTH, HOP_SIZE, MEL_STEP_SIZE, MIN_SAMPLES_FOR_ONE_CHUNK, N_FFT, chunk_starts,
                        melspectrogram, num_mel_columns)

SILENCE_MODES = ("generate", "keep", "closed")
# Speech in a usable recording sits around -30 to -15 dBFS over a 237.5 ms window and only windows that hold
# mostly the quiet after a phrase fall below -40; a room's noise floor sits around -60 to -50 dBFS and TTS pauses
# are digital zeros. -45 dBFS lies between the two (bench/README.md, "Silence threshold", has the sample's levels).
DEFAULT_SILENCE_DB = -45.0
# The thresholds that mean something: 0 dBFS is full scale, and below -120 no recording's noise floor lies, so
# a lower threshold would find only digital silence, which -120 finds as well.
SILENCE_DB_RANGE = (-120.0, 0.0)
MIN_PAUSE_SECONDS = 0.2
CROSSFADE_SECONDS = 0.12

_BLOCKS_PER_PASS = 1 << 16          # hop blocks squared per pass: bounds the float64 buffer to ~100 MB


def chunk_loudness_dbfs(wav: np.ndarray, fps: float, length: str = DEFAULT_LENGTH) -> np.ndarray:
    """(N,) float64 RMS level in dBFS of the audio under each mel chunk (see the module docstring), one per
    output frame of ``speech_mel_chunks(wav, fps, length)``. wav: float32 mono 16 kHz; -inf for digital silence."""
    samples = np.asarray(wav, dtype=np.float32).reshape(-1)
    starts = chunk_starts(len(samples), fps, length)
    last_real_column = np.minimum(starts + MEL_STEP_SIZE - 1, num_mel_columns(len(samples)) - 1)
    padded_columns = starts + MEL_STEP_SIZE - 1 - last_real_column
    # Energy per hop block of 200 samples (the last one partial), summed per chunk from a running total.
    num_blocks = -(-len(samples) // HOP_SIZE)
    padded = np.zeros(num_blocks * HOP_SIZE, np.float32)
    padded[:len(samples)] = samples
    block_energy = np.empty(num_blocks, np.float64)
    for first in range(0, num_blocks, _BLOCKS_PER_PASS):
        blocks = padded[first * HOP_SIZE:(first + _BLOCKS_PER_PASS) * HOP_SIZE].astype(np.float64)
        block_energy[first:first + len(blocks) // HOP_SIZE] = np.square(blocks).reshape(-1, HOP_SIZE).sum(axis=1)
    running = np.concatenate([[0.0], np.cumsum(block_energy)])
    half_window_blocks = N_FFT // 2 // HOP_SIZE                  # 2 blocks each side of a column's centre
    first_block = np.clip(starts - half_window_blocks, 0, num_blocks)
    end_block = np.clip(last_real_column + half_window_blocks, 0, num_blocks)
    energy = running[end_block] - running[first_block]
    sample_count = (np.minimum(end_block * HOP_SIZE, len(samples)) - first_block * HOP_SIZE
                    + padded_columns * HOP_SIZE)
    mean_square = energy / np.maximum(sample_count, 1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(mean_square)


@functools.lru_cache(maxsize=1)
def silence_floor_chunk() -> np.ndarray:
    """(80, 16) float32, read-only: the mel chunk of digital silence (every value at melspectrogram's floor, -4)."""
    chunk = melspectrogram(np.zeros(MIN_SAMPLES_FOR_ONE_CHUNK, np.float32))[:, :MEL_STEP_SIZE].copy()
    chunk.setflags(write=False)
    return chunk


def frames_for(seconds: float, fps: float) -> int:
    """A duration in whole output frames, at least one."""
    return max(1, int(round(seconds * float(fps))))


def find_pauses(loudness_dbfs: np.ndarray, fps: float, threshold_db: float = DEFAULT_SILENCE_DB) -> np.ndarray:
    """(N,) bool: frames quieter than ``threshold_db`` in runs of at least MIN_PAUSE_SECONDS."""
    quiet = np.asarray(loudness_dbfs, dtype=np.float64) < float(threshold_db)
    pauses = np.zeros_like(quiet)
    min_frames = frames_for(MIN_PAUSE_SECONDS, fps)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= min_frames:
            pauses[start:stop] = True
    return pauses


def crossfade_weights(pauses: np.ndarray, fps: float) -> np.ndarray:
    """(N,) float32 weight of the generated mouth: 0 in a pause, rising over CROSSFADE_SECONDS of frames on each
    side (d / (F + 1) at d frames from the nearest paused frame, F = the cross-fade in frames), 1 elsewhere."""
    pauses = np.asarray(pauses, dtype=bool)
    distance = np.full(len(pauses), np.inf)
    paused_at = np.flatnonzero(pauses)
    if paused_at.size:
        frame = np.arange(len(pauses))
        after = np.searchsorted(paused_at, frame)                       # index of the next paused frame
        next_gap = np.where(after < len(paused_at), paused_at[np.minimum(after, len(paused_at) - 1)] - frame, np.inf)
        previous_gap = np.where(after > 0, frame - paused_at[np.maximum(after - 1, 0)], np.inf)
        distance = np.minimum(next_gap, previous_gap)
    fade_frames = frames_for(CROSSFADE_SECONDS, fps)
    return np.minimum(1.0, distance / (fade_frames + 1)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class SilencePlan:
    """What happens to each output frame: ``pauses`` (N,) bool, the frames in a pause; ``paste_weights`` (N,)
    float32, how much of the generated mouth goes into the frame (1: all of it, 0: the input frame unchanged and
    nothing generated)."""
    mode: str
    pauses: np.ndarray
    paste_weights: np.ndarray

    def generator_chunks(self, chunks: np.ndarray) -> np.ndarray:
        """The mel chunks (N, 80, 16) the generator gets: with ``closed``, paused frames get the silence floor."""
        if self.mode != "closed" or not self.pauses.any():
            return chunks
        replaced = np.array(chunks, dtype=np.float32, copy=True)
        replaced[self.pauses] = silence_floor_chunk()
        return replaced


def pasted_frames(found: np.ndarray, paste_weights: np.ndarray) -> np.ndarray:
    """bool (N,): the output frames that get a generated mouth, those with a face whose paste weight is above 0;
    every other output frame is its input frame, unchanged, and nothing is generated for it."""
    return np.asarray(found, dtype=bool) & (np.asarray(paste_weights) > 0)


def check_silence_options(mode: str, threshold_db: float) -> None:
    if mode not in SILENCE_MODES:
        raise ValueError(f"silence must be one of {SILENCE_MODES}, not {mode!r}")
    low, high = SILENCE_DB_RANGE
    if not low <= threshold_db <= high:         # NaN included
        raise ValueError(f"the silence threshold is a level in dBFS from {low:g} to {high:g} (e.g. "
                         f"{DEFAULT_SILENCE_DB:g}), not {threshold_db:g}")


def plan_silence(loudness_dbfs: np.ndarray, fps: float, mode: str = "generate",
                 threshold_db: float = DEFAULT_SILENCE_DB) -> SilencePlan:
    """The SilencePlan for per-frame loudness (``chunk_loudness_dbfs``) at ``fps``."""
    check_silence_options(mode, threshold_db)
    count = len(loudness_dbfs)
    pauses = find_pauses(loudness_dbfs, fps, threshold_db) if mode != "generate" else np.zeros(count, bool)
    weights = crossfade_weights(pauses, fps) if mode == "keep" else np.ones(count, np.float32)
    return SilencePlan(mode=mode, pauses=pauses, paste_weights=weights)


def plan_silence_for_audio(wav: np.ndarray, fps: float, mode: str = "generate",
                           threshold_db: float = DEFAULT_SILENCE_DB, length: str = DEFAULT_LENGTH) -> SilencePlan:
    """plan_silence from the waveform itself (float32 mono 16 kHz), one frame per mel chunk of ``length``."""
    check_silence_options(mode, threshold_db)
    return plan_silence(chunk_loudness_dbfs(wav, fps, length), fps, mode, threshold_db)
