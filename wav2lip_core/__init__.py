"""wav2lip_core: the Wav2Lip lip-sync engine (plain torch / numpy / OpenCV / librosa; no ComfyUI).

The few entry points a script needs::

    from wav2lip_core import load_audio, load_wav2lip, lipsync, resolve_checkpoint
    model = load_wav2lip(resolve_checkpoint("wav2lip_gan", search_dirs=["weights"]))
    frames_out = lipsync(frames_rgb, load_audio("speech.wav"), 25.0, model, box=(y1, y2, x1, x2))
    # and how well it is in sync (LSE-C / LSE-D, AV offset), as lip-sync papers measure it:
    scorer = load_syncnet_v2(resolve_checkpoint("syncnet_v2", search_dirs=["weights"]))
    score = score_lipsync(scorer, frames_out, load_audio("speech.wav"), boxes=[(y1, y2, x1, x2)] * len(frames_out))

Frames are uint8 RGB NHWC 0..255, audio float32 mono 16 kHz. Sub-packages, in the pipeline's order: ``video``
(reading and writing), ``audio`` (speech and mel), ``checkpoints`` (weights), ``models`` (networks), ``detection``
(face boxes), ``tracks`` (face tracks, identity, people), ``compositing`` (faces out of and into frames),
``runtime`` (devices, batching, start-up), ``scoring`` (lip-sync scores), ``cli`` and ``batch`` (the command line).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Entry point -> the module that holds it. Imported on first use, so that ``python -m wav2lip_core`` controls
# how its own start-up imports run (see __main__.py) before torch is imported.
_ENTRY_POINTS = {
    "SAMPLE_RATE": "audio", "load_audio": "audio", "mel_chunks": "audio", "melspectrogram": "audio",
    "num_output_frames": "audio", "speech_mel_chunks": "audio",
    "CheckpointError": "checkpoints", "DownloadError": "checkpoints", "load_syncnet": "checkpoints",
    "load_syncnet_v2": "checkpoints", "load_wav2lip": "checkpoints", "resolve_checkpoint": "checkpoints",
    "DetectionOptions": "detection", "FaceDetectionError": "detection", "FaceTrack": "detection",
    "detect_face_boxes": "detection", "fixed_box_track": "detection",
    "pick_device": "runtime.devices", "pick_dtype": "runtime.devices",
    "iter_lipsync": "pipeline", "lipsync": "pipeline",
    "SyncScore": "scoring", "score_lipsync": "scoring",
}

if TYPE_CHECKING:
    from .audio import SAMPLE_RATE, load_audio, mel_chunks, melspectrogram, num_output_frames, speech_mel_chunks
    from .checkpoints import (CheckpointError, DownloadError, load_syncnet, load_syncnet_v2, load_wav2lip,
                              resolve_checkpoint)
    from .detection import DetectionOptions, FaceDetectionError, FaceTrack, detect_face_boxes, fixed_box_track
    from .pipeline import iter_lipsync, lipsync
    from .runtime.devices import pick_device, pick_dtype
    from .scoring import SyncScore, score_lipsync


def __getattr__(name: str):
    module = _ENTRY_POINTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ENTRY_POINTS))


__version__ = "0.1.0"

__all__ = sorted(_ENTRY_POINTS)
