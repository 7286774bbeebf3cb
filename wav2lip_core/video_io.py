"""Reading face videos / images and writing the lip-synced mp4, with the ffmpeg binary of imageio-ffmpeg.

Everything here is uint8 RGB NHWC. ffmpeg always comes from the imageio-ffmpeg package (a pip dependency),
never from whatever happens to be on the user's PATH.
"""
from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WRITE_QUEUE_BATCHES = 2   # batches of frames waiting for the encoder at most (bounds memory)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg."""
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise RuntimeError("imageio-ffmpeg is needed for video files: pip install imageio-ffmpeg") from error
    return imageio_ffmpeg.get_ffmpeg_exe()


def is_image_path(path: str | os.PathLike) -> bool:
    """True for still-image files (decided by the real suffix, unlike the original's split('.'))."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A still image as uint8 RGB (H, W, 3); alpha is dropped, grey is expanded."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"{path}: cannot be read as an image")
    return np.ascontiguousarray(image[:, :, ::-1])


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    width: int
    height: int
    num_frames: int | None  # as the container states it; None when unknown


def _open_reader(path: str | os.PathLike) -> tuple[Iterator[bytes], dict]:
    import imageio_ffmpeg

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
    except (RuntimeError, StopIteration, OSError) as error:
        raise ValueError(f"{path}: cannot be read as a video ({error})") from error
    return reader, meta


def _info(meta: dict) -> VideoInfo:
    width, height = meta["size"]
    frames = meta.get("n_frames")
    return VideoInfo(fps=float(meta["fps"]), width=int(width), height=int(height),
                     num_frames=int(frames) if frames and np.isfinite(frames) else None)


def iter_video_frames(path: str | os.PathLike) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    """(info, iterator of uint8 RGB (H, W, 3) frames), decoded one at a time (constant memory)."""
    reader, meta = _open_reader(path)
    info = _info(meta)

    def frames() -> Iterator[np.ndarray]:
        try:
            for raw in reader:
                yield np.frombuffer(raw, dtype=np.uint8).reshape(info.height, info.width, 3)
        finally:
            reader.close()
    return info, frames()


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """All frames of a video as uint8 RGB (N, H, W, 3), and its frame rate."""
    info, frames = iter_video_frames(path)
    decoded = list(frames)
    if not decoded:
        raise ValueError(f"{path}: the video has no frames")
    return np.stack(decoded), info.fps


class Mp4Writer:
    """Streams uint8 RGB frames into an H.264 mp4 and muxes an audio file in (AAC) when given.

    Odd frame sizes are padded by one black pixel row/column (H.264 4:2:0 needs even sizes).
    Use as a context manager; the file appears complete only after ``close()`` succeeds.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float,
                 audio_path: str | os.PathLike | None = None, crf: int = 18) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frame_shape = (height, width, 3)
        command = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{width}x{height}", "-r", f"{fps:.6f}", "-i", "-"]
        if audio_path is not None:
            command += ["-i", str(audio_path), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "192k"]
        if width % 2 or height % 2:
            command += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]     # only then: the filter costs time per frame
        command += ["-c:v", "libx264", "-preset", "veryfast",
                    "-crf", str(crf), "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(self.path)]
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
        self._stop_pipe_thread()
        self._raise_pipe_error()
        if self._process.stdin and not self._process.stdin.closed:
            self._process.stdin.close()
        code = self._process.wait()
        message = self._stderr()
        if code != 0:
            raise RuntimeError(f"ffmpeg failed to write {self.path} (exit {code}): {message}")

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self._process.kill()
            self._stop_pipe_thread()
            self._process.wait()


class VideoFrames:
    """A video file as a lazily decoded sequence of uint8 RGB (H, W, 3) frames, in constant memory.

    ``frames[i]`` decodes on demand and keeps a window of up to ``window`` recent frames. Reading forward is a
    single decode pass (a wrap-around loop reopens the file); reading backwards (ping-pong) re-decodes a window
    that ends at the requested frame, starting from an accurate ffmpeg seek. ``transform`` (optional) maps each
    decoded frame (e.g. the CLI's resize / rotate / crop); ``limit`` (or ``limit_to`` later) caps how many
    frames are used. ``info`` holds the container's frame rate and size (no second probe needed); the decoder
    started to read them is kept for frame 0 onwards.
    """

    def __init__(self, path: str | os.PathLike, transform=None, limit: int | None = None, window: int = 64) -> None:
        self.path = Path(path)
        self._reader, meta = _open_reader(path)
        self._next_index = 0
        self.info = _info(meta)
        self.transform = transform
        self.window = window
        self._cache: dict[int, np.ndarray] = {}
        self._available = self._count_frames()
        self._length = self._available
        if self._length == 0:
            self.close()
            raise ValueError(f"{path}: the video has no frames")
        if limit is not None:
            self.limit_to(limit)

    def limit_to(self, count: int) -> "VideoFrames":
        """Use at most the first ``count`` frames (at least one); returns self."""
        self._length = max(1, min(int(count), self._available))
        return self

    def _count_frames(self) -> int:
        import imageio_ffmpeg

        if self.info.num_frames:
            return self.info.num_frames
        return int(imageio_ffmpeg.count_frames_and_secs(str(self.path))[0])

    def __len__(self) -> int:
        return int(self._length)

    def _open_at(self, index: int) -> None:
        import imageio_ffmpeg

        if self._reader is not None:
            self._reader.close()
        input_params = ["-ss", f"{index / self.info.fps:.6f}"] if index > 0 else None
        self._reader = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="rgb24", input_params=input_params)
        next(self._reader)
        self._next_index = index

    def _decode_next(self) -> np.ndarray:
        try:
            raw = next(self._reader)
        except StopIteration:
            raise IndexError(f"{self.path}: frame {self._next_index} could not be decoded "
                             f"(the container announced {len(self)} frames)") from None
        frame = np.frombuffer(raw, dtype=np.uint8).reshape(self.info.height, self.info.width, 3)
        return self.transform(frame) if self.transform is not None else frame

    def __getitem__(self, index: int) -> np.ndarray:
        if isinstance(index, slice):
            return np.stack([self[i] for i in range(*index.indices(len(self)))])
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        if index in self._cache:
            return self._cache[index]
        if self._reader is None or index < self._next_index or index > self._next_index + self.window:
            backwards = self._reader is not None and index < self._next_index and index > 0
            self._open_at(max(0, index - self.window + 1) if backwards else index)
        while self._next_index <= index:
            frame = self._decode_next()
            self._cache[self._next_index] = frame
            self._next_index += 1
        for stale in [i for i in self._cache if i <= self._next_index - 1 - self.window]:
            del self._cache[stale]
        return self._cache[index]

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._cache.clear()


def frame_preprocessor(resize_factor: int, rotate: bool, crop: Sequence[int]) -> Callable[[np.ndarray], np.ndarray] | None:
    """The original's per-frame preprocessing, in its order: resize (W//f, H//f), rotate 90 clockwise, crop.

    Returns None when there is nothing to do, else a function uint8 RGB (H, W, 3) -> uint8 RGB (h, w, 3).
    """
    y1, y2, x1, x2 = crop
    if resize_factor <= 1 and not rotate and (y1, y2, x1, x2) == (0, -1, 0, -1):
        return None

    def preprocess(frame: np.ndarray) -> np.ndarray:
        if resize_factor > 1:
            height, width = frame.shape[:2]
            frame = cv2.resize(frame, (width // resize_factor, height // resize_factor))
        if rotate:
            frame = cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE)
        bottom = frame.shape[0] if y2 == -1 else y2
        right = frame.shape[1] if x2 == -1 else x2
        return np.ascontiguousarray(frame[y1:bottom, x1:right])
    return preprocess
