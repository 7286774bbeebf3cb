"""The one ffmpeg binary the engine runs: imageio-ffmpeg's (a pip dependency), never whatever is on the PATH."""
from __future__ import annotations


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg."""
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise RuntimeError("imageio-ffmpeg is needed for video files and compressed audio: "
                           "pip install imageio-ffmpeg") from error
    return imageio_ffmpeg.get_ffmpeg_exe()
