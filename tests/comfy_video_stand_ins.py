"""Stand-ins for ComfyUI's VIDEO classes (``comfy_api.input_impl``), with the public methods the real ones have:

- ``VideoFromFile``: ComfyUI 0.8.0's (a path or a BytesIO, ``get_stream_source()``, ``save_to()``);
- ``TrimmedVideoFromFile``: newer releases' (``start_time`` / ``duration``, ``get_active_trim_window()``; its
  ``save_to`` writes only the window, re-encoded, as theirs does);
- ``OldVideoFromFile``: 0.3.x's (no ``get_stream_source``: its file is private, ``save_to`` copies it);
- ``VideoFromComponents``: an IMAGE batch + frame rate (Create Video).

A file-backed stand-in refuses ``get_components()``: that decodes the whole clip into one float32 IMAGE, which
a streaming node must never ask for. ``install(monkeypatch)`` makes them importable as comfy_api.input_impl.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass
from fractions import Fraction

from wav2lip_core.runtime.ffmpeg import ffmpeg_exe


class WholeClipDecoded(AssertionError):
    """get_components() was called on a file-backed VIDEO."""


@dataclass
class VideoComponents:
    images: object               # IMAGE float32 (N, H, W, 3) 0..1
    audio: dict | None
    frame_rate: Fraction


class VideoFromFile:
    def __init__(self, file):
        self._file = file

    def get_stream_source(self):
        if isinstance(self._file, io.BytesIO):
            self._file.seek(0)
        return self._file

    def get_components(self):
        raise WholeClipDecoded("get_components() decodes the whole clip into one IMAGE")

    def save_to(self, path, format="auto", codec="auto", metadata=None):
        if isinstance(self._file, io.BytesIO):
            with open(path, "wb") as target:
                target.write(self._file.getvalue())
        else:
            shutil.copyfile(self._file, path)


class TrimmedVideoFromFile(VideoFromFile):
    def __init__(self, file, *, start_time: float = 0, duration: float = 0):
        super().__init__(file)
        self.start_time, self.duration = start_time, duration

    def get_active_trim_window(self) -> tuple[float, float]:
        return float(self.start_time), float(self.duration)

    def save_to(self, path, format="auto", codec="auto", metadata=None):
        window = ["-ss", str(self.start_time)] + (["-t", str(self.duration)] if self.duration else [])
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(self._file), *window, "-c:v", "libx264",
                        "-crf", "0", "-pix_fmt", "yuv444p", str(path)], check=True)


class OldVideoFromFile:
    def __init__(self, file):
        self.__file = file

    def get_components(self):
        raise WholeClipDecoded("get_components() decodes the whole clip into one IMAGE")

    def save_to(self, path, format="auto", codec="auto", metadata=None):
        shutil.copyfile(self.__file, path)


class VideoFromComponents:
    def __init__(self, components: VideoComponents):
        self._components = components

    def get_components(self) -> VideoComponents:
        return self._components

    def save_to(self, path, format="auto", codec="auto", metadata=None):
        raise AssertionError("an IMAGE already in memory is read as it is, not encoded again")


def install(monkeypatch, video_from_file: type = VideoFromFile) -> types.ModuleType:
    """comfy_api.input_impl with these classes (``video_from_file`` as its VideoFromFile) for this test."""
    package = types.ModuleType("comfy_api")
    module = types.ModuleType("comfy_api.input_impl")
    module.VideoFromFile = video_from_file
    module.VideoFromComponents = VideoFromComponents
    package.input_impl = module
    monkeypatch.setitem(sys.modules, "comfy_api", package)
    monkeypatch.setitem(sys.modules, "comfy_api.input_impl", module)
    return module
