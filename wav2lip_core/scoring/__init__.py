"""Lip-sync scoring: LSE-D / LSE-C and the audio-video offset, as lip-sync papers measure them.

``score_lipsync(model, frames, wav_16k, boxes=...)`` is the entry point; ``model`` is SyncNet v2
(``checkpoints.load_syncnet_v2``, the metric of the papers) or Wav2Lip's lip-sync expert
(``checkpoints.load_syncnet``). Frames are uint8 RGB (H, W, 3), audio mono 16 kHz int16 (or float [-1, 1]),
boxes (y1, y2, x1, x2). ``iter_reference_frames(path)`` yields a video's frames exactly as the reference
implementation (joonson/syncnet_python) sees them; ``load_reference_speech(path)`` and
``waveform_reference_speech(waveform, rate)`` give the int16 16 kHz speech it scores (its ffmpeg conversion).
"""
from .crops import (GEOMETRIES, SCORING_DETECTION, ReferenceCropTrack, crop_box, crop_reference, iter_face_crops,
                    reference_crop_track)
from .evaluate import (DEFAULT_BATCH_SIZE, DEFAULT_VSHIFT, SyncScore, offset_distances, score_syncnet_v2,
                       summarise)
from .expert import score_lipsync_expert
from .mfcc import mfcc
from .reference_audio import load_reference_speech, waveform_reference_speech
from .reference_frames import iter_reference_frames
from .score import SCORING_MODELS, at_scoring_rate, face_crops, offset_in_frames, score_lipsync, scoring_model_name

__all__ = [
    "DEFAULT_BATCH_SIZE", "DEFAULT_VSHIFT", "GEOMETRIES", "ReferenceCropTrack", "SCORING_DETECTION", "SCORING_MODELS",
    "SyncScore", "at_scoring_rate", "crop_box", "crop_reference", "face_crops", "iter_face_crops",
    "iter_reference_frames", "load_reference_speech", "mfcc", "offset_distances", "offset_in_frames",
    "reference_crop_track", "score_lipsync", "score_lipsync_expert", "score_syncnet_v2", "scoring_model_name",
    "summarise", "waveform_reference_speech",
]
