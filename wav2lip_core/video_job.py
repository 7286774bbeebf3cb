"""The lip-sync job from a face video to an mp4, streamed: the path the command line and ComfyUI's Lip Sync Video
node share.

Frames are decoded lazily (video.reading.VideoFrames, or any sequence of uint8 RGB (H, W, 3) frames), lip-synced a
step at a time (pipeline.iter_lipsync) and piped into ffmpeg (video.writing.Mp4Writer), so memory stays flat
however long the clip is. Speech is float32 mono 16 kHz; the output's sound is an audio file muxed in as it is.
``LipSyncOptions`` holds the job's options beyond face detection and their defaults, the ones the command line
and the nodes show (DetectionOptions holds the detector's).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .audio import DEFAULT_LENGTH, LENGTH_RULES, shift_speech
from .detection import FaceTrack
from .pipeline import Progress, iter_lipsync_people, speech_chunks
from .silence import DEFAULT_SILENCE_DB, SilencePlan, check_silence_options
from .video.writing import Mp4Writer


@dataclass(frozen=True)
class LipSyncOptions:
    """blend, color_match: how the generated face goes into the frame (compositing/blend.py); silence, silence_db: what
    pauses in the speech do (silence.py); loop: what plays when the speech outlasts the video (schedule.py);
    offset_frames: the speech the mouth is generated from, moved by whole frames (audio.shift_speech; the
    output's sound is not moved); length: how many output frames the speech gives (audio.num_output_frames:
    "speech" covers it, "original" is the original's count); batch_size: at most this many frames per generator call and per step."""
    blend: str = "feather"
    color_match: bool = False
    silence: str = "generate"
    silence_db: float = DEFAULT_SILENCE_DB
    length: str = DEFAULT_LENGTH
    loop: str = "loop"
    offset_frames: int = 0
    batch_size: int = 128

    def __post_init__(self) -> None:
        check_silence_options(self.silence, self.silence_db)
        if self.length not in LENGTH_RULES:
            raise ValueError(f"length must be one of {', '.join(LENGTH_RULES)}, not {self.length!r}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")


DEFAULT_LIPSYNC = LipSyncOptions()


def speech_plan(wav: np.ndarray, fps: float, options: LipSyncOptions = DEFAULT_LIPSYNC
                ) -> tuple[np.ndarray, SilencePlan]:
    """(mel chunks float32 (M, 80, 16), one per output frame; the pause plan) of float32 mono 16 kHz speech at
    ``fps``: the speech shifted by ``options.offset_frames``, its pauses found in that same shifted audio."""
    return speech_chunks(shift_speech(wav, options.offset_frames, fps), fps, options.silence, options.silence_db,
                         options.length)


def write_lipsync_video(outfile: str | os.PathLike, frames: Sequence[np.ndarray],
                        people: Sequence[tuple[np.ndarray, FaceTrack, np.ndarray | None]], model: torch.nn.Module,
                        fps: float, *, audio_path: str | os.PathLike | None, encoder: str, static: bool = False,
                        options: LipSyncOptions = DEFAULT_LIPSYNC, progress: Progress | None = None) -> int:
    """Lip-sync ``frames`` (uint8 RGB (H, W, 3) each, read in order a step at a time) and write them to
    ``outfile`` (H.264 by ``encoder``, ``fps``, ``audio_path`` muxed in as AAC); returns the number of frames
    written. ``people``: per person (mel chunks (M, 80, 16), one per output frame; their boxes, one per input
    frame; paste weights (M,) or None), as pipeline.iter_lipsync_people takes them: one pass for everyone.
    ``progress(done, total)`` is called after every step written; an exception it raises (a cancel) stops the job
    and, like any failure, leaves no file at ``outfile`` (Mp4Writer writes under a temporary name)."""
    height, width = frames[0].shape[:2]
    num_outputs = len(people[0][0])
    with Mp4Writer(outfile, width, height, fps, audio_path=audio_path, encoder=encoder) as writer:
        for batch in iter_lipsync_people(frames, people, model, static=static, loop=options.loop,
                                         blend=options.blend, color_match=options.color_match,
                                         batch_size=options.batch_size):
            writer.write(batch)
            if progress is not None:
                progress(writer.frames_written, num_outputs)
    return writer.frames_written
