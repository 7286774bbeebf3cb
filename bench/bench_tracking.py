"""Key frames + optical flow against a detector on every frame: how far the boxes move and what it saves.

The clip is bench/motion_clip.py's moving camera (720p: a dolly-in with pan, bob, a 2-degree turn and
hand-held shake, then a cut to a mirrored, tighter shot panning back), so where the face is on every frame is
known exactly. S3FD's real weights cannot be had offline (random weights find no face), so accuracy is measured
with real detectors that do find the astronaut, and with a perfect one:

* ``dlib_hog`` (a real detector; its boxes jump between its pyramid scales, by up to ~20 px here): the
  default settings (detection on every 10th frame, followed between) against the same detector on every
  frame, both with the default pads and smoothing, and raw;
* the camera's truth as a detector (the true box of each frame): what following alone adds;
* both against dlib_hog's steady box: its boxes of every frame carried back onto the astronaut picture,
  averaged per shot and carried forward again by the camera (where a detector without jitter would put
  its box): how much of the difference is the detector's own jitter.

Errors are |difference| in pixels per coordinate (y1, y2, x1, x2): max and mean over the frames.

    .venv/bin/python bench/bench_tracking.py [--quick] [--frames 71] [--height 720]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from motion_clip import map_box_to_source, moving_astronaut_frames, shot_starts, true_face_boxes  # noqa: E402

from wav2lip_core.detection import DEFAULT_DETECTION, detect_face_boxes, make_detector  # noqa: E402


class CountingDetector:
    """Wraps a detector and counts the frames it is run on."""

    def __init__(self, detector):
        self.inner = detector
        self.name = detector.name
        self.upscales_small_frames = detector.upscales_small_frames
        self.default_detect_size = detector.default_detect_size
        self.frames_seen = 0

    def detect(self, batch):
        self.frames_seen += len(batch)
        return self.inner.detect(batch)


class CameraTruthDetector:
    """A perfect detector for the motion clip: the true face box of the frame it is shown (full resolution)."""
    name = "camera truth"
    upscales_small_frames = False
    default_detect_size = None

    def __init__(self, frames: np.ndarray, truth: np.ndarray):
        self._index = {hashlib.sha1(frame.tobytes()).digest(): i for i, frame in enumerate(frames)}
        self._truth = truth

    def detect(self, batch):
        results = []
        for frame in batch:
            y1, y2, x1, x2 = self._truth[self._index[hashlib.sha1(np.ascontiguousarray(frame).tobytes()).digest()]]
            results.append(np.array([[x1, y1, x2, y2, 1.0]]))
        return results


def errors(boxes: np.ndarray, reference: np.ndarray) -> str:
    difference = np.abs(boxes.astype(np.float64) - reference)
    maximum = " / ".join(f"{v:.0f}" for v in difference.max(axis=0))
    mean = " / ".join(f"{v:.1f}" for v in difference.mean(axis=0))
    return f"{maximum} | {mean}"


def steady_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Where a detector that puts its box like ``boxes`` on average, without jitter, would put it: each box
    carried back onto the astronaut picture, averaged per shot, carried forward by the camera."""
    count = len(boxes)
    starts = shot_starts(count) + [count]
    steady = np.zeros((count, 4))
    for first, stop in zip(starts[:-1], starts[1:]):
        source = np.mean([map_box_to_source(boxes[i], i, count, height, width) for i in range(first, stop)], axis=0)
        steady[first:stop] = true_face_boxes(count, height, width, tuple(source))[first:stop]
    return steady


def run(frames: int = 71, height: int = 720, quick: bool = False) -> list[str]:
    width = height * 16 // 9
    clip = moving_astronaut_frames(height, width, frames)
    truth = true_face_boxes(frames, height, width)
    every = DEFAULT_DETECTION.detect_every
    lines = [f"Clip: bench/motion_clip.py, {width}x{height}, {frames} frames (cut at frame "
             f"{shot_starts(frames)[1]}); errors in px per coordinate y1 / y2 / x1 / x2.",
             "| detector | boxes | against | detector runs | seconds | max error | mean error |",
             "|---|---|---|---|---|---|---|"]

    def track(detector, **options):
        counting = CountingDetector(detector)
        start = time.perf_counter()
        result = detect_face_boxes(clip, detector=counting, **options)
        return result, counting.frames_seen, time.perf_counter() - start

    raw = dict(pads=(0, 0, 0, 0), smoothing="none")
    hog = make_detector("dlib_hog")
    settings = [("default settings", {}), ("raw (no pads, no smoothing)", raw)]
    for label, options in settings[:1] if quick else settings:
        every_frame, runs_all, seconds_all = track(hog, detect_every=1, **options)
        followed, runs, seconds = track(hog, **options)
        interpolated, runs_i, seconds_i = track(hog, tracking="interpolate", **options)
        lines.append(f"| dlib_hog | every frame, {label} | - | {runs_all} | {seconds_all:.2f} | - | - |")
        lines.append(f"| dlib_hog | every {every}th + flow, {label} | dlib_hog on every frame | {runs} | "
                     f"{seconds:.2f} | {errors(followed.boxes, every_frame.boxes)} |")
        lines.append(f"| dlib_hog | every {every}th, interpolated, {label} | dlib_hog on every frame | {runs_i} | "
                     f"{seconds_i:.2f} | {errors(interpolated.boxes, every_frame.boxes)} |")
        if options is raw:
            steady = steady_boxes(every_frame.boxes, height, width)
            for name, boxes in (("every frame", every_frame.boxes), (f"every {every}th + flow", followed.boxes)):
                lines.append(f"| dlib_hog | {name}, {label} | dlib_hog's steady box | - | - | "
                             f"{errors(boxes, steady)} |")
    perfect = CameraTruthDetector(clip, truth)
    followed, runs, seconds = track(perfect, **raw)
    interpolated, runs_i, _ = track(perfect, tracking="interpolate", **raw)
    lines.append(f"| camera truth | every {every}th + flow, raw | the truth | {runs} | {seconds:.2f} | "
                 f"{errors(followed.boxes, truth)} |")
    lines.append(f"| camera truth | every {every}th, interpolated, raw | the truth | {runs_i} | - | "
                 f"{errors(interpolated.boxes, truth)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--frames", type=int, default=71, help="frames of the clip (71: the CLI rows' length)")
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    print("\n".join(run(args.frames, args.height, args.quick)))


if __name__ == "__main__":
    main()
