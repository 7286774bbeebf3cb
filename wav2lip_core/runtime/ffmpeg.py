"""The one ffmpeg binary the engine runs: imageio-ffmpeg's (a pip dependency), never whatever is on the PATH."""
from __future__ import annotations

import subprocess
from collections.abc import Sequence


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg."""
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise RuntimeError("imageio-ffmpeg is needed for video files and compressed audio: "
                           "pip install imageio-ffmpeg") from error
    return imageio_ffmpeg.get_ffmpeg_exe()


def run_audio_conversion(arguments: Sequence[str], source: str, action: str,
                         stdin: bytes | memoryview | None = None) -> bytes:
    """Run ffmpeg quietly with ``arguments`` (inputs, then outputs to pipe:1) and return what it wrote; a failure
    is a one-line ValueError: "``source`` has no audio stream", else "could not ``action``: <ffmpeg's last
    lines>"."""
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", *arguments]
    completed = subprocess.run(command, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", errors="replace").strip()
        if "does not contain any stream" in message or "matches no streams" in message:
            raise ValueError(f"{source} has no audio stream")
        reason = " | ".join(message.splitlines()[-3:]) or f"ffmpeg exit code {completed.returncode}"
        raise ValueError(f"could not {action}: {reason}")
    return completed.stdout
