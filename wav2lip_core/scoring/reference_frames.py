"""Video frames exactly as syncnet_python's ``evaluate()`` sees them, streamed in constant memory.

The reference does not score decoded frames: it runs ``ffmpeg -i VIDEO -threads 1 -f image2 %06d.jpg``
(every frame re-encoded as JPEG with ffmpeg's default, quite lossy, settings) and reads the files back with
``cv2.imread``. With random weights that JPEG round trip moves the scores by ~0.05 (offset distances) and up
to ~1 (framewise confidence), so parity needs the same frames. Here the bundled ffmpeg encodes the same JPEGs
(same encoder, same defaults, one thread) into a multipart pipe (``-f mpjpeg``, whose per-image
Content-length headers delimit the images; the bytes equal those of the reference's files) and OpenCV
decodes each one as ``cv2.imread`` does. Output: uint8 RGB (H, W, 3) frames, one at a time.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import BinaryIO

import cv2
import numpy as np

from ..runtime.ffmpeg import ffmpeg_exe

_BOUNDARY = b"--ffmpeg"


def _read_part_header(stream: BinaryIO) -> int | None:
    """Consume one multipart header; the image length it announces, or None at the end of the stream."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            if length is not None:
                return length
            continue                              # the blank line after an image, before the next boundary
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
        elif line != _BOUNDARY and not line.lower().startswith(b"content-type:"):
            raise ValueError(f"unexpected line in ffmpeg's multipart JPEG stream: {line[:60]!r}")


def iter_jpeg_images(stream: BinaryIO) -> Iterator[bytes]:
    """The JPEG images of an ffmpeg ``-f mpjpeg`` stream, in order."""
    while (length := _read_part_header(stream)) is not None:
        image = stream.read(length)
        if len(image) != length:
            raise ValueError("ffmpeg's JPEG stream ended inside an image")
        yield image


def iter_reference_frames(video_path: str | os.PathLike) -> Iterator[np.ndarray]:
    """uint8 RGB (H, W, 3) frames of ``video_path`` after the reference's JPEG round trip (see module docstring).

    Frames are produced lazily; stopping early (closing the generator) stops ffmpeg. Raises FileNotFoundError
    for a missing file and ValueError when ffmpeg cannot read it.
    """
    path = os.fspath(video_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    command = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", path, "-threads", "1",
               "-f", "mpjpeg", "-c:v", "mjpeg", "-"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    completed = False
    try:
        for image in iter_jpeg_images(process.stdout):
            decoded = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_COLOR)
            if decoded is None:
                raise ValueError(f"{path}: ffmpeg produced a JPEG that OpenCV cannot decode")
            yield np.ascontiguousarray(decoded[:, :, ::-1])
        completed = True
    finally:
        if not completed:
            process.kill()
        process.stdout.close()
        error_text = process.stderr.read().decode(errors="replace").strip()
        process.stderr.close()
        return_code = process.wait()
    if return_code != 0:
        raise ValueError(f"{path}: ffmpeg could not re-encode the frames (exit {return_code}): {error_text}")
