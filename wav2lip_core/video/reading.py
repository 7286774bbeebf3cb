"""Reading face videos and images, with the ffmpeg binary of imageio-ffmpeg (writing.py writes the result).

Everything here is uint8 RGB NHWC. ffmpeg always comes from the imageio-ffmpeg package (a pip dependency),
never from whatever happens to be on the user's PATH.
"""
from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..audio import FRAME_RATE_RANGE, check_frame_rate
from ..runtime.ffmpeg import ffmpeg_exe

READ_AHEAD_BYTES = 64 * 2**20   # decoded frames waiting to be used at most (2 to 16 frames)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def is_image_path(path: str | os.PathLike) -> bool:
    """True for still-image files (decided by the real suffix, unlike the original's split('.'))."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def check_input_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path, or a clear error when it is missing or a folder (FileNotFoundError / IsADirectoryError)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A still image as uint8 RGB (H, W, 3); alpha is dropped, grey is expanded."""
    data = np.fromfile(str(check_input_file(path)), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"{path}: cannot be read as an image")
    return np.ascontiguousarray(image[:, :, ::-1])


@dataclass(frozen=True)
class VideoInfo:
    fps: float      # the frame rate the container states (its average rate); frames are decoded at this rate
    width: int
    height: int


def decode_options(fps: float) -> list[str]:
    """ffmpeg output options that decode at a constant ``fps``: frame i is the picture shown at i / fps.
    A variable-frame-rate video is sampled evenly this way, and counting and decoding give the same frames."""
    return ["-fps_mode", "cfr", "-r", f"{fps:.6f}"]


_BANNER_STARTS = ("ffmpeg version", "=== stderr ===", "Could not load meta information", "Input #", "Output #")


def ffmpeg_reason(log: str) -> str:
    """The one line of an ffmpeg log that says why a file could not be read (not the version banner)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    if any(line.startswith("Stream #") for line in lines) and not any(" Video: " in line for line in lines):
        return "it has no video stream"
    messages = [re.sub(r"^\[[^\]]*\]\s*", "", line) for line in log.splitlines()
                if line.strip() and not line.startswith(" ") and not line.startswith(_BANNER_STARTS)]
    wanted = re.compile(r"error|invalid|not found|unsupported|no such|denied|cannot|could not|failed", re.I)
    specific = [line for line in messages if wanted.search(line) and not line.lower().startswith("error opening")]
    chosen = specific or [line for line in messages if wanted.search(line)] or messages
    return chosen[0] if chosen else "ffmpeg gave no reason"


def _open_reader(path: str | os.PathLike, fps: float | None = None,
                 input_params: list[str] | None = None) -> tuple[Iterator[bytes], dict]:
    """An imageio-ffmpeg frame reader and the video's metadata; with ``fps``, frames come at that constant rate."""
    import imageio_ffmpeg

    check_input_file(path)
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", input_params=input_params,
                                        output_params=decode_options(fps) if fps else None)
    try:
        meta = next(reader)
    except (RuntimeError, StopIteration, OSError) as error:
        raise ValueError(f"{path}: cannot be read as a video ({ffmpeg_reason(str(error))})") from None
    return reader, meta


def _info(meta: dict, path: str | os.PathLike) -> VideoInfo:
    """The metadata, with a frame rate in FRAME_RATE_RANGE (else ValueError: a broken or unsupported container)."""
    width, height = meta["size"]
    fps = float(meta.get("fps") or 0.0)
    try:
        check_frame_rate(fps, f"{path}: the video's frame rate")
    except ValueError as error:
        stated = "states no frame rate" if fps <= 0 else f"states {fps:g} fps"
        raise ValueError(f"{path}: its container {stated}, outside the supported {FRAME_RATE_RANGE[0]:g}.."
                         f"{FRAME_RATE_RANGE[1]:g} fps, so its timing cannot be trusted. Re-encode it at a constant "
                         f"frame rate (e.g. ffmpeg -i IN -r 25 OUT.mp4) and try again.") from error
    return VideoInfo(fps=fps, width=int(width), height=int(height))


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """The frame rate and size of a video file (ValueError when it cannot be read or its frame rate is absurd)."""
    reader, meta = _open_reader(path)
    reader.close()
    return _info(meta, path)


def count_video_frames(path: str | os.PathLike, fps: float, limit: int | None = None) -> int:
    """How many frames decoding ``path`` at a constant ``fps`` gives (one decoding pass, nothing kept); with
    ``limit``, decoding stops there: the count is then min(frames, limit)."""
    stop = ["-frames:v", str(int(limit))] if limit is not None else []
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-an", "-sn", "-dn",
               *decode_options(fps), *stop, "-f", "null", "-"]
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    log = completed.stderr.decode(errors="replace")
    counts = re.findall(r"frame=\s*(\d+)", log)
    if completed.returncode != 0 or not counts:
        raise ValueError(f"{path}: cannot be read as a video ({ffmpeg_reason(log)})")
    return int(counts[-1])


class _ReadAhead:
    """The raw frames of an imageio-ffmpeg reader, read on a thread up to ``depth`` frames ahead: ffmpeg's
    pipe holds less than one frame, so otherwise ffmpeg decodes only while the caller waits for a frame."""
    _END = object()

    def __init__(self, reader: Iterator[bytes], depth: int):
        self._reader = reader
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._read, name="video-decode", daemon=True)
        self._thread.start()

    def _offer(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        last = self._END
        try:
            for raw in self._reader:
                if not self._offer(raw):
                    return
        except BaseException as error:                 # handed to the caller on its next frame
            last = error
        finally:
            self._reader.close()                       # the generator runs on this thread: close it here
        self._offer(last)

    def __iter__(self) -> "_ReadAhead":
        return self

    def __next__(self) -> bytes:
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if item is self._END:
            self._finished = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def iter_video_frames(path: str | os.PathLike, info: VideoInfo | None = None
                      ) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    """(info, iterator of uint8 RGB (H, W, 3) frames at info.fps), decoded one at a time (constant memory);
    ``info``: the ``probe_video`` result when the caller has it."""
    info = info if info is not None else probe_video(path)
    reader, _ = _open_reader(path, info.fps)

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


class VideoFrames:
    """A video file as a lazily decoded sequence of uint8 RGB (H, W, 3) frames, in constant memory.

    ``frames[i]`` decodes on demand and keeps a window of up to ``window`` recent frames. Reading forward is a
    single decode pass (a wrap-around loop reopens the file); reading backwards (ping-pong) re-decodes a window
    that ends at the requested frame, starting from an accurate ffmpeg seek. ``transform`` (optional) maps each
    decoded frame (e.g. the CLI's resize / rotate / crop); ``limit`` (or ``limit_to`` later) caps how many
    frames are used, and counting stops there: a long video under short speech is never decoded past what is
    used. ``info`` holds the container's frame rate and size (pass the ``probe_video`` result when you have
    it). Frames are decoded at that constant rate (``decode_options``), and counted the same way, so a
    variable-frame-rate video is sampled evenly and its count and its frames agree. Should decoding end early
    (a damaged file, or a seek into a variable rate video's tail), the last picture stays on.
    """

    def __init__(self, path: str | os.PathLike, transform=None, limit: int | None = None, window: int = 64,
                 info: VideoInfo | None = None) -> None:
        self.path = Path(path)
        self.info = info if info is not None else probe_video(path)
        self._read_ahead = max(2, min(16, READ_AHEAD_BYTES // max(1, self.info.width * self.info.height * 3)))
        self._reader: _ReadAhead | None = None
        self._reader_start = self._next_index = 0
        self._last_frame: np.ndarray | None = None
        self.transform = transform
        self.window = window
        self._cache: dict[int, np.ndarray] = {}
        self._counted_up_to = None if limit is None else max(1, int(limit))     # None: the whole video
        self._available = count_video_frames(path, self.info.fps, self._counted_up_to)
        if self._available == 0:
            raise ValueError(f"{path}: the video has no frames")
        self._length = self._available

    @property
    def num_available(self) -> int:
        """Frames in the video, counted up to the ``limit`` it was opened with (``len()`` is the number used)."""
        return int(self._available)

    @property
    def fully_counted(self) -> bool:
        """Whether ``num_available`` is every frame of the video (not just as many as its limit asked for)."""
        return self._counted_up_to is None or self._available < self._counted_up_to

    def limit_to(self, count: int) -> "VideoFrames":
        """Use at most the first ``count`` frames (at least one), counting further when the video was opened with
        a smaller limit; returns self."""
        count = max(1, int(count))
        if not self.fully_counted and count > self._available:
            self._counted_up_to = count
            self._available = count_video_frames(self.path, self.info.fps, count)
        self._length = min(count, self._available)
        return self

    def __len__(self) -> int:
        return int(self._length)

    def _open_at(self, index: int) -> None:
        if self._reader is not None:
            self._reader.close()
        input_params = ["-ss", f"{index / self.info.fps:.6f}"] if index > 0 else None
        reader, _ = _open_reader(self.path, self.info.fps, input_params)
        self._reader = _ReadAhead(reader, self._read_ahead)
        self._reader_start = self._next_index = index
        self._last_frame = None                             # the last frame this reader gave

    def _decode_next(self) -> np.ndarray:
        """The frame at ``_next_index`` (the caller advances it; a restart earlier moves it back)."""
        try:
            raw = next(self._reader)
        except StopIteration:
            if self._last_frame is not None:                # the end came early: the last picture stays on
                return self._last_frame
            if self._reader_start == 0:
                raise ValueError(f"{self.path}: frame {self._next_index} could not be decoded (counting found "
                                 f"{self._available} frames); the file may be damaged") from None
            # The seek landed after the last picture (the tail of a video is its last picture held on): start
            # earlier and decode forward.
            self._open_at(max(0, self._reader_start - self.window))
            return self._decode_next()
        frame = np.frombuffer(raw, dtype=np.uint8).reshape(self.info.height, self.info.width, 3)
        self._last_frame = self.transform(frame) if self.transform is not None else frame
        return self._last_frame

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
        # Only the window that ends at the decoder's position stays: after a restart (a seek back, or a new pass
        # from the start), frames the previous reader left ahead of it would otherwise stay on as a second window.
        for stale in [i for i in self._cache if not self._next_index - self.window <= i < self._next_index]:
            del self._cache[stale]
        return self._cache[index]

    def close(self) -> None:
        """Stop decoding (ffmpeg and the read-ahead thread end); frames read later reopen the file."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._cache.clear()

    def __del__(self) -> None:
        if getattr(self, "_reader", None) is not None:
            self.close()


def frame_preprocessor(resize_factor: int, rotate: bool, crop: Sequence[int]) -> Callable[[np.ndarray], np.ndarray] | None:
    """The original's per-frame preprocessing, in its order: resize (W//f, H//f), rotate 90 clockwise, crop.

    Returns None when there is nothing to do, else a function uint8 RGB (H, W, 3) -> uint8 RGB (h, w, 3) that
    raises ValueError when the resize or the crop leaves no pixels. ValueError for a resize factor below 1.
    """
    y1, y2, x1, x2 = crop
    if int(resize_factor) < 1:
        raise ValueError(f"--resize_factor must be 1 or more (the video's width and height are divided by it), "
                         f"not {resize_factor}")
    if resize_factor == 1 and not rotate and (y1, y2, x1, x2) == (0, -1, 0, -1):
        return None

    def preprocess(frame: np.ndarray) -> np.ndarray:
        if resize_factor > 1:
            height, width = frame.shape[:2]
            if width // resize_factor < 1 or height // resize_factor < 1:
                raise ValueError(f"--resize_factor {resize_factor} is larger than the {width}x{height} frame; "
                                 f"nothing would be left of it")
            frame = cv2.resize(frame, (width // resize_factor, height // resize_factor))
        if rotate:
            frame = cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE)
        bottom = frame.shape[0] if y2 == -1 else y2
        right = frame.shape[1] if x2 == -1 else x2
        cropped = frame[y1:bottom, x1:right]
        if cropped.shape[0] < 1 or cropped.shape[1] < 1:
            raise ValueError(f"--crop {y1} {y2} {x1} {x2} leaves nothing of the {frame.shape[1]}x{frame.shape[0]} "
                             f"frame (after resize and rotation); it is top bottom left right in pixels, -1 = "
                             f"the full size")
        return np.ascontiguousarray(cropped)
    return preprocess
