"""Small hostile input files for the bad-input tests, built in a temporary folder in well under a second each:
WAV files whose header lies, videos with variable or absurd frame rates (made with the bundled ffmpeg)."""
from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np


def ffmpeg(*arguments: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *arguments], check=True)


def wav_with_header_rate(path: Path, samples: np.ndarray, stated_rate: int) -> Path:
    """A 16-bit mono PCM WAV holding ``samples`` (float -1..1) whose header states ``stated_rate`` Hz."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, stated_rate, stated_rate * 2, 2, 16)
    path.write_bytes(header + b"data" + struct.pack("<I", len(pcm)) + pcm)
    return path


def speech_like(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Noise shaped like syllables (4 per second), float32 -1..1: enough for mel chunks."""
    time = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * time)
    return (0.3 * envelope * np.random.default_rng(seed).standard_normal(len(time))).astype(np.float32)


def variable_frame_rate_clip(path: Path, fast_frames: int = 15, slow_frames: int = 5, size: int = 96) -> Path:
    """An H.264 mp4 whose first ``fast_frames`` frames are 1/30 s apart and the next ``slow_frames`` 1/5 s apart
    (passthrough timestamps, so the container's average rate, its nominal rate and its frame count disagree)."""
    total = fast_frames + slow_frames
    timestamps = f"if(lt(N,{fast_frames}),N/30,{fast_frames}/30+(N-{fast_frames})/5)/TB"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}x{size}:rate=30", "-frames:v", str(total),
           "-vf", f"setpts='{timestamps}'", "-fps_mode", "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(path))
    return path


def clip_at_frame_rate(path: Path, rate: str, frames: int = 2, size: int = 64) -> Path:
    """A grey H.264 mp4 whose container states ``rate`` frames per second (e.g. "1/500")."""
    ffmpeg("-f", "lavfi", "-i", f"color=c=gray:s={size}x{size}:r={rate}", "-frames:v", str(frames),
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path
