"""Which face is speaking: of the face tracks (tracks/survey.py), the one whose lips move with the speech, by the
pack's lip-sync scorer (wav2lip_core/scoring/: SyncNet v2, or Wav2Lip's expert), as syncnet_python uses SyncNet to
find the active speaker. Each track long enough to be scored (MIN_SCORED_FRAMES) is scored on its own frames and
the matching stretch of speech, with its key-frame boxes interpolated in between; the one with the highest
confidence (LSE-C) is the speaker, and through its identity the same person in other shots too.

Frames are uint8 RGB (H, W, 3) 0..255; speech is float32 mono 16 kHz; boxes (y1, y2, x1, x2) full-resolution pixels.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..audio import SAMPLE_RATE
from ..scoring import score_lipsync
from .person import Reference
from .survey import FaceSurvey, Track

# Scoring compares 5-frame windows over +-15 frames of offset: a track shorter than this has too few windows for a
# confidence worth comparing.
MIN_SCORED_FRAMES = 25
SPEAKING = "speaking"          # the name the CLI and messages give the chosen speaker


def interpolated_boxes(track: Track) -> np.ndarray:
    """(last - first + 1, 4) int64 boxes of a track on every frame of its span, linear between its key frames."""
    return np.rint(track.boxes_between(np.arange(track.frames[0], track.frames[-1] + 1))).astype(np.int64)


def track_confidences(frames: Sequence[np.ndarray], survey: FaceSurvey, wav_16k: np.ndarray, fps: float,
                      scorer: torch.nn.Module) -> dict[int, float]:
    """{track id: lip-sync confidence against the speech} for every track long enough to score and described."""
    confidences = {}
    samples_per_frame = SAMPLE_RATE / fps
    for track in survey.tracks:
        first, last = track.frames[0], track.frames[-1]
        if last - first + 1 < MIN_SCORED_FRAMES or not track.descriptors:
            continue
        speech = wav_16k[int(round(first * samples_per_frame)):int(round((last + 1) * samples_per_frame))]
        if len(speech) < MIN_SCORED_FRAMES * samples_per_frame:       # the speech ends before the track does
            continue
        score = score_lipsync(scorer, (frames[i] for i in range(first, last + 1)), speech,
                              boxes=interpolated_boxes(track), fps=fps)
        confidences[track.id] = float(score.confidence)
    return confidences


def speaking_reference(frames: Sequence[np.ndarray], survey: FaceSurvey, wav_16k: np.ndarray, fps: float,
                       scorer: torch.nn.Module) -> Reference:
    """The speaking person as a Reference (the best track's first descriptor). ValueError when no track is long
    enough to score."""
    confidences = track_confidences(frames, survey, wav_16k, fps, scorer)
    if not confidences:
        raise ValueError(f"no face stays in view for {MIN_SCORED_FRAMES} frames with speech under it, so the "
                         f"speaking person cannot be told; choose the person with a photo instead")
    best = max(confidences, key=confidences.get)
    return Reference(f"the speaking person (track {best}, confidence {confidences[best]:.2f})",
                     survey.tracks[best].descriptors[0])
