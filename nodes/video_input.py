"""ComfyUI's VIDEO <-> what the engine streams: a face video as lazily decoded uint8 RGB frames, AUDIO as a sound file
to mux in, and the lip-synced mp4 back as a VIDEO.

VIDEO (comfy_api.input_impl, ComfyUI 0.3.x to today): ``VideoFromFile`` holds a path or a BytesIO, decoded only
when asked (``get_stream_source()`` since 0.4; newer releases add a trim window, ``get_active_trim_window()``);
``VideoFromComponents`` holds an IMAGE batch (Create Video). Every VIDEO can ``save_to(path)``; ``get_components()``
decodes a whole file into one float32 IMAGE, which is what this module never does with a file.
"""
from __future__ import annotations

import io
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import torch

from wav2lip_core.audio import check_frame_rate
from wav2lip_core.video.reading import VideoFrames, VideoInfo, check_input_file, probe_video

from .tensors import Uint8Frames, check_image

AUDIO_BLOCK_SAMPLES = 1 << 20        # per channel, written to the WAV at once (a few MB)


def comfy_video_types() -> tuple[type, type]:
    """(VideoFromFile, VideoFromComponents) of the running ComfyUI (ImportError outside ComfyUI): from
    comfy_api.input_impl (0.3.x on, kept for compatibility), else the versioned API's InputImpl."""
    try:
        from comfy_api.input_impl import VideoFromComponents, VideoFromFile
    except ImportError:
        from comfy_api.latest import InputImpl
        return InputImpl.VideoFromFile, InputImpl.VideoFromComponents
    return VideoFromFile, VideoFromComponents


def video_from_file(path: Path):
    """A VIDEO for the mp4 at ``path``: a VideoFromFile, decoded by whoever reads it (Save Video copies its
    streams)."""
    return comfy_video_types()[0](str(path))


@dataclass
class ScratchFiles:
    """Files a node run makes in ``folder`` only for itself, removed by ``remove()`` whatever happened."""
    folder: Path
    paths: list[Path] = field(default_factory=list)

    def new(self, stem: str, suffix: str) -> Path:
        path = self.folder / f".{stem}.{uuid.uuid4().hex[:12]}{suffix}"
        self.paths.append(path)
        return path

    def remove(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class FaceVideo:
    """Where the face frames of a VIDEO come from, at ``fps``: a file (``path``, its container's ``info``),
    decoded lazily, or an IMAGE batch already in memory (``images``, float32 (N, H, W, 3) RGB 0..1)."""
    fps: float
    height: int
    width: int
    path: Path | None = None
    info: VideoInfo | None = None
    images: torch.Tensor | None = None

    def frames(self, count: int) -> VideoFrames | Uint8Frames:
        """The first ``count`` frames (all when there are fewer) as uint8 RGB (H, W, 3), made on access: a file
        is decoded a window at a time (close() it when done), an IMAGE converted frame by frame."""
        if self.path is not None:
            return VideoFrames(self.path, info=self.info, limit=max(1, int(count)))
        return Uint8Frames(self.images, max(1, int(count)))


def _is_trimmed(video) -> bool:
    """Whether a VideoFromFile shows only part of its file (newer ComfyUI: a start time or a duration)."""
    window = getattr(video, "get_active_trim_window", None)
    return window is not None and any(float(value) for value in window())


def face_video_file(video, scratch: ScratchFiles) -> Path:
    """A file holding exactly what a file-backed VIDEO shows: its own file when it has a path; its bytes
    copied to a scratch file when it holds a BytesIO; else (a trimmed VideoFromFile, an older ComfyUI with no
    get_stream_source, another pack's VIDEO) what its own ``save_to`` writes to a scratch mp4."""
    source = video.get_stream_source() if not _is_trimmed(video) and hasattr(video, "get_stream_source") else None
    if isinstance(source, (str, os.PathLike)):
        return check_input_file(source)
    if isinstance(source, io.IOBase):
        copy = scratch.new("wav2lip_face", ".video")
        source.seek(0)
        with open(copy, "wb") as target:
            shutil.copyfileobj(source, target)
        source.seek(0)
        return copy
    copy = scratch.new("wav2lip_face", ".mp4")
    video.save_to(str(copy))
    return copy


def face_video(video, scratch: ScratchFiles) -> FaceVideo:
    """The face frames of a ComfyUI VIDEO, never all in memory when they come from a file: a file is decoded
    lazily a window at a time (the engine's VideoFrames, at the rate its container states, as the command line
    reads it); a VideoFromComponents (an IMAGE already in memory) is read frame by frame from that IMAGE."""
    if not (hasattr(video, "get_components") and hasattr(video, "save_to")):
        raise TypeError(f"video: expected a ComfyUI VIDEO (from Load Video or Create Video), got "
                        f"{type(video).__name__}")
    if isinstance(video, comfy_video_types()[1]):
        parts = video.get_components()
        fps = check_frame_rate(float(parts.frame_rate), "video: its frame rate")
        check_image(parts.images, "video")
        return FaceVideo(fps, int(parts.images.shape[1]), int(parts.images.shape[2]), images=parts.images)
    path = face_video_file(video, scratch)
    info = probe_video(path)
    return FaceVideo(info.fps, info.height, info.width, path=path, info=info)


def write_audio_file(samples: np.ndarray, sample_rate: float, path: Path) -> Path:
    """An AUDIO's samples ((channels, samples), floats nominally -1..1 or integer PCM) as a float WAV file at
    ``path``, every channel kept, for ffmpeg to mux into the output as it muxes the command line's audio file.
    Written a block at a time: no second copy of a long recording."""
    scale = float(np.iinfo(samples.dtype).max) + 1.0 if np.issubdtype(samples.dtype, np.integer) else 1.0
    with soundfile.SoundFile(str(path), "w", samplerate=int(round(sample_rate)), channels=samples.shape[0],
                             subtype="FLOAT", format="WAV") as file:
        for start in range(0, samples.shape[1], AUDIO_BLOCK_SAMPLES):
            block = samples[:, start:start + AUDIO_BLOCK_SAMPLES].T.astype(np.float32)
            file.write(block / scale if scale != 1.0 else block)
    return path
