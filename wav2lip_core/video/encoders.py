"""Which H.264 encoder writes the lip-synced mp4: x264 on the CPU, or NVIDIA's hardware encoder (NVENC) when the job
runs on an NVIDIA GPU that has one, so that encoding does not compete with the rest of the job for CPU time.

The bundled ffmpeg (imageio-ffmpeg) is built with NVENC, but whether it works depends on the GPU (data-centre
chips such as the H100 have no video encoder) and on the driver's libnvidia-encode: ``nvenc_works`` asks once by
encoding a few black frames.
"""
from __future__ import annotations

import functools
import subprocess

X264, NVENC = "libx264", "h264_nvenc"
AUTO = "auto"
ENCODER_CHOICES = (AUTO, X264, NVENC)
DEFAULT_CRF = 18          # x264's constant quality; NVENC's -cq of the same number looks alike


def encoder_options(encoder: str, crf: int = DEFAULT_CRF) -> list[str]:
    """ffmpeg output options for ``encoder`` at quality ``crf`` (yuv420p H.264, which every player shows)."""
    if encoder == X264:
        return ["-c:v", X264, "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p"]
    if encoder == NVENC:
        return ["-c:v", NVENC, "-preset", "p4", "-tune", "hq", "-rc", "vbr", "-cq", str(crf), "-b:v", "0",
                "-pix_fmt", "yuv420p"]
    raise ValueError(f"encoder must be one of {ENCODER_CHOICES[1:]}, not {encoder!r}")


@functools.lru_cache(maxsize=4)
def nvenc_works(ffmpeg: str) -> bool:
    """Whether the ffmpeg binary at ``ffmpeg`` can encode with NVENC on this machine (asked once per process)."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
               "-i", "color=c=black:s=256x256:r=25:d=0.2", *encoder_options(NVENC), "-f", "null", "-"]
    try:
        return subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def pick_encoder(requested: str, device_type: str, ffmpeg: str) -> str:
    """The encoder for a job whose networks run on ``device_type`` ("cpu", "cuda", "mps"...), written by the
    ffmpeg binary at ``ffmpeg``: ``auto`` takes NVENC on an NVIDIA GPU where it works, x264 otherwise; NVENC asked
    for where it does not work is a ValueError."""
    if requested not in ENCODER_CHOICES:
        raise ValueError(f"--encoder must be one of {ENCODER_CHOICES}, not {requested!r}")
    if requested == AUTO:
        return NVENC if device_type == "cuda" and nvenc_works(ffmpeg) else X264
    if requested == NVENC and not nvenc_works(ffmpeg):
        raise ValueError(f"--encoder {NVENC}: NVIDIA's hardware encoder does not work on this machine (no NVIDIA "
                         f"GPU with a video encoder, or its driver has no libnvidia-encode); use --encoder {X264}")
    return requested
