"""Shared pieces of the benchmarks: result rows, timing, peak memory of child processes, test clips.

Clips are made from skimage's astronaut with imageio-ffmpeg's ffmpeg into a cache folder outside the
repository (``$WAV2LIP_BENCH_CACHE`` or the system temp folder); nothing here is ever committed.
Frames are uint8 RGB NHWC throughout.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SPEECH = ROOT / "workflows" / "media" / "wav2lip_sample_speech.wav"
ORIGINAL_RUNNER = Path(__file__).resolve().parent / "run_original.py"   # runs the original checkout (README)
PEAK_MEMORY_METHOD = "peak RSS of the largest process of the run (getrusage RUSAGE_CHILDREN, ru_maxrss)"

for path in (ROOT, ROOT / "tests", ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from run_original import ORIGINAL_CHECKPOINT, ORIGINAL_DIR, original_available  # noqa: E402,F401  (bench/)


def cache_dir() -> Path:
    folder = Path(os.environ.get("WAV2LIP_BENCH_CACHE", Path(tempfile.gettempdir()) / "wav2lip_bench"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Timing:
    """Wall-clock seconds of repeated runs of one thing; median is the reported figure."""
    seconds: list[float]
    peak_mb: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)


@dataclass
class Row:
    """One line of the table: ours and (where it runs) the original, on the same input and settings."""
    stage: str
    resolution: str
    frames: int
    ours: Timing | None
    original: Timing | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def time_calls(function: Callable[[], object], repeats: int, warmup: int = 1) -> Timing:
    """Run ``function`` warmup + repeats times in this process; wall seconds of the timed runs."""
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return Timing(seconds)


_PEAK_WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[2:], cwd=sys.argv[1] or None, stdout=subprocess.DEVNULL,"
    " stderr=subprocess.PIPE).returncode\n"
    "seconds = time.perf_counter() - start\n"
    "peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps({'code': code, 'seconds': seconds, 'peak_kb': peak_kb}))\n"
)


class CommandFailed(RuntimeError):
    pass


def run_measured(command: Sequence[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, float]:
    """Run ``command`` in a fresh wrapper process; (wall seconds, peak RSS in MB of its largest process).

    The wrapper has no other children, so RUSAGE_CHILDREN's ru_maxrss (kilobytes on Linux) is the peak of
    this run alone. Raises CommandFailed with the end of stderr when the command exits non-zero.
    """
    wrapper = [PYTHON, "-c", _PEAK_WRAPPER, str(cwd or ""), *map(str, command)]
    done = subprocess.run(wrapper, capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise CommandFailed(done.stderr[-2000:])
    result = json.loads(lines[-1])
    if result["code"] != 0:
        raise CommandFailed(f"{' '.join(map(str, command))} exited {result['code']}: {done.stderr[-1500:]}")
    return result["seconds"], result["peak_kb"] / 1024.0


def child_result(script: str, arguments: Sequence[str], env: dict | None = None) -> dict:
    """Run ``script`` (a bench file) with ``--child`` and ``arguments`` in a fresh Python process; the JSON object
    its last line of output prints. RuntimeError with the end of its stderr when it fails."""
    command = [PYTHON, str(Path(script).resolve()), "--child", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def astronaut_frames(height: int, width: int, num_frames: int, pan_px: int = 2) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB: the astronaut's head and shoulders scaled to the frame height, centred on a
    replicated border, panning ``pan_px`` pixels per frame (so every frame differs)."""
    import cv2
    from skimage.data import astronaut

    source = np.ascontiguousarray(astronaut()[0:400, 60:460])
    scale = height / source.shape[0]
    frames = []
    for index in range(num_frames):
        offset_x = (width - source.shape[1] * scale) / 2 + pan_px * ((index % 20) - 10)
        matrix = np.float32([[scale, 0, offset_x], [0, scale, 0]])
        frames.append(cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE))
    return np.stack(frames)


def face_box(height: int, width: int) -> tuple[int, int, int, int]:
    """(y1, y2, x1, x2) around the astronaut's face (hairline to below the chin) in an ``astronaut_frames``
    frame; the pan (at most 20 px) stays inside the box's margin."""
    scale = height / 400
    offset_x = (width - 400 * scale) / 2
    y1, y2 = int(70 * scale), min(height, int(205 * scale))
    x1, x2 = int(offset_x + 105 * scale), int(offset_x + 225 * scale)
    return y1, y2, max(0, x1), min(width, x2)


def make_clip(height: int, width: int, num_frames: int, fps: int = 25) -> Path:
    """An H.264 mp4 of ``astronaut_frames`` in the cache folder (made once, reused)."""
    path = cache_dir() / f"astronaut_{width}x{height}_{num_frames}f_{fps}fps.mp4"
    if not path.is_file():
        write_h264(astronaut_frames(height, width, num_frames), path, fps)
    return path


def write_h264(frames: np.ndarray, path: Path, fps: int) -> None:
    """(N, H, W, 3) uint8 RGB frames as an H.264 mp4 (CRF 18), written under another name and then moved."""
    from wav2lip_core.runtime.ffmpeg import ffmpeg_exe

    height, width = frames.shape[1:3]
    temporary = path.with_suffix(".part.mp4")
    command = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
               "-crf", "18", "-pix_fmt", "yuv420p", str(temporary)]
    subprocess.run(command, input=frames.tobytes(), check=True)
    temporary.replace(path)


def random_checkpoint() -> Path:
    """A seeded random generator checkpoint in the official format (the original's own file when present,
    so both sides load the very same weights)."""
    if original_available():
        return ORIGINAL_CHECKPOINT
    path = cache_dir() / "random_wav2lip_seed0.pth"
    if not path.is_file():
        subprocess.run([PYTHON, str(ROOT / "tests" / "random_weights.py"), str(path), "--seed", "0"], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def machine_description() -> str:
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__}, {torch.get_num_threads()} torch "
            f"threads, Python {platform.python_version()}; load average {load}")


def _format_seconds(timing: Timing | None) -> str:
    if timing is None:
        return "-"
    return f"{timing.median:.2f}" if timing.median >= 1 else f"{timing.median:.3g}"


def _format_fps(timing: Timing | None, frames: int) -> str:
    if timing is None or timing.median <= 0:
        return "-"
    fps = frames / timing.median
    return f"{fps:.2f}" if fps < 100 else f"{fps:.0f}"


def _format_peak(timing: Timing | None) -> str:
    return "-" if timing is None or timing.peak_mb is None else f"{timing.peak_mb:.0f}"


def format_table(rows: Sequence[Row]) -> str:
    """A GitHub-markdown table: median seconds, frames per second and peak MB, ours | original."""
    header = ["stage", "resolution", "frames", "ours s", "ours fps", "ours peak MB", "orig s", "orig fps",
              "orig peak MB", "speed-up", "note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        speedup = "-"
        if row.ours is not None and row.original is not None and row.ours.median > 0:
            speedup = f"{row.original.median / row.ours.median:.2f}x"
        cells = [row.stage, row.resolution, str(row.frames), _format_seconds(row.ours),
                 _format_fps(row.ours, row.frames), _format_peak(row.ours), _format_seconds(row.original),
                 _format_fps(row.original, row.frames), _format_peak(row.original), speedup, row.note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def standalone_main(run, description: str) -> None:
    """``python bench/bench_X.py [--quick]``: one benchmark part alone, printed as a table."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    print(format_table(run(parser.parse_args().quick)))
