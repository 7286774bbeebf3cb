"""Writing the lip-synced mp4: uint8 RGB NHWC frames streamed into ffmpeg (imageio-ffmpeg's binary), H.264 with
the audio muxed in, under a temporary name moved into place only when complete.
"""
from __future__ import annotations

import glob
import os
import queue
import subprocess
import threading
import uuid
from pathlib import Path

import numpy as np

from ..runtime.ffmpeg import ffmpeg_exe
from .encoders import DEFAULT_CRF, X264, encoder_options

WRITE_QUEUE_BATCHES = 2   # batches of frames waiting for the encoder at most (bounds memory)


def partial_path(path: Path) -> Path:
    """A new temporary name for the file that becomes ``path``: same folder (so the final move is a rename), same
    suffix (ffmpeg picks the container from it), hidden."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")


def leftover_partials(path: str | os.PathLike) -> list[Path]:
    """Temporary files of writers of ``path`` that never finished: a process killed while writing leaves its file
    (a writer that ends, well or not, removes its own)."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob.escape(path.stem)}.{'[0-9a-f]' * 8}.partial{glob.escape(path.suffix)}"))


class Mp4Writer:
    """Streams uint8 RGB frames into an H.264 mp4 and muxes an audio file in (AAC) when given.

    Odd frame sizes are padded by one black pixel row/column (H.264 4:2:0 needs even sizes).
    Use as a context manager. ffmpeg writes a temporary file beside ``path``, moved into place only when
    ``close()`` succeeds; on any failure it is removed and a file already at ``path`` stays as it was.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float,
                 audio_path: str | os.PathLike | None = None, crf: int = DEFAULT_CRF, encoder: str = X264) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._temporary = partial_path(self.path)
        self.frame_shape = (height, width, 3)
        command = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{width}x{height}", "-r", f"{fps:.6f}", "-i", "-"]
        if audio_path is not None:
            command += ["-i", str(audio_path), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "192k"]
        if width % 2 or height % 2:
            command += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]     # only then: the filter costs time per frame
        command += [*encoder_options(encoder, crf), "-movflags", "+faststart", str(self._temporary)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.frames_written = 0
        # Frames go down the pipe from a background thread, so the caller computes the next batch while ffmpeg
        # encodes this one; the queue bound keeps at most WRITE_QUEUE_BATCHES batches waiting.
        self._pending: queue.Queue = queue.Queue(maxsize=WRITE_QUEUE_BATCHES)
        self._pipe_error: BaseException | None = None
        self._pipe_thread = threading.Thread(target=self._feed_pipe, name="mp4-writer", daemon=True)
        self._pipe_thread.start()

    def _feed_pipe(self) -> None:
        while (frames := self._pending.get()) is not None:
            if self._pipe_error is not None:
                continue                                    # drain: the caller learns of the error on its next call
            try:
                self._process.stdin.write(memoryview(frames).cast("B"))
            except (BrokenPipeError, OSError, ValueError) as error:
                self._pipe_error = error

    def _raise_pipe_error(self) -> None:
        if self._pipe_error is not None:
            self._process.wait()
            raise RuntimeError(f"ffmpeg stopped while writing {self.path}: {self._stderr()}") from self._pipe_error

    def write(self, frames: np.ndarray) -> None:
        """frames: uint8 RGB (B, H, W, 3) or (H, W, 3). Queued for the encoder: do not modify them afterwards."""
        self._raise_pipe_error()
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        if frames.shape[-3:] != self.frame_shape:
            raise ValueError(f"frame shape {frames.shape[-3:]} differs from the video's {self.frame_shape}")
        self._pending.put(frames)
        self.frames_written += 1 if frames.ndim == 3 else len(frames)

    def _stderr(self) -> str:
        return self._process.stderr.read().decode(errors="replace").strip() if self._process.stderr else ""

    def _stop_pipe_thread(self) -> None:
        if self._pipe_thread.is_alive():
            self._pending.put(None)
            self._pipe_thread.join()

    def close(self) -> None:
        """Finish the file and move it into place (RuntimeError, and no file, when ffmpeg failed)."""
        try:
            self._stop_pipe_thread()
            self._raise_pipe_error()
            if self._process.stdin and not self._process.stdin.closed:
                self._process.stdin.close()
            code = self._process.wait()
            message = self._stderr()
            if code != 0:
                raise RuntimeError(f"ffmpeg failed to write {self.path} (exit {code}): {message}")
            os.replace(self._temporary, self.path)
        finally:
            self._temporary.unlink(missing_ok=True)

    def abort(self) -> None:
        """Stop ffmpeg and remove the unfinished file; ``path`` is left as it was."""
        self._process.kill()
        self._stop_pipe_thread()
        self._process.wait()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
