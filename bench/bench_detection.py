"""Face-detection cost and accuracy: full resolution vs reduced-resolution detection, and every-k-th frame.

Clips are made from skimage's astronaut (a real face), scaled so the face spans about 22 % of the frame
height (a typical talking-head framing), moving sideways on a sine (amplitude 4 % of the width, 1 s period
at 25 fps). For each detector and resolution it prints seconds per frame (2-core CPU) and the agreement
(mean / minimum IoU, raw boxes: no pads, no smoothing) of each reduced-resolution setting with the same
detector at full resolution. S3FD's real weights cannot be downloaded here, so S3FD is timed with random
weights in the real layout (its cost does not depend on the weights) and its IoU column reads n/a.

    .venv/bin/python bench/bench_detection.py [--quick] [--frames 6] [--skip-s3fd] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from wav2lip_core.detection import detect_face_boxes, make_detector  # noqa: E402
from wav2lip_core.detection.s3fd import S3FDDetector  # noqa: E402

RESOLUTIONS = {"256x256": (256, 256), "720p": (720, 1280), "1080p": (1080, 1920)}
SOURCE_CROP = (slice(0, 400), slice(60, 460))
# The astronaut's face, hairline to chin and cheek to cheek (set by eye; S3FD-style extent), in the crop's
# pixels as (y1, y2, x1, x2): astronaut x 180..270, y 83..187.
TRUE_FACE_IN_CROP = np.array([83.0, 187.0, 120.0, 210.0])


def astronaut_clip(height: int, width: int, num_frames: int, amplitude: float = 0.04,
                   period: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) uint8 RGB: the astronaut's head and shoulders filling the frame height, swaying;
    and the true face box of each frame, (N, 4) float (y1, y2, x1, x2)."""
    from skimage.data import astronaut

    source = np.ascontiguousarray(astronaut()[SOURCE_CROP])
    scale = height / source.shape[0]
    frames, truth = [], []
    for index in range(num_frames):
        offset_x = (width - source.shape[1] * scale) / 2 + amplitude * width * np.sin(2 * np.pi * index / period)
        matrix = np.float32([[scale, 0, offset_x], [0, scale, 0]])
        frames.append(cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE))
        truth.append(TRUE_FACE_IN_CROP * scale + np.array([0, 0, offset_x, offset_x]))
    return np.stack(frames), np.stack(truth)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two (N, 4) (y1, y2, x1, x2) arrays."""
    height = np.clip(np.minimum(a[:, 1], b[:, 1]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    width = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 2], b[:, 2]), 0, None)
    overlap = height * width
    area = lambda box: (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])  # noqa: E731
    return overlap / np.maximum(area(a) + area(b) - overlap, 1)


def timed_track(clip: np.ndarray, detector, detect_size, detect_every: int = 1):
    start = time.perf_counter()
    track = detect_face_boxes(clip, detector=detector, detect_size=detect_size, detect_every=detect_every,
                              pads=(0, 0, 0, 0), smoothing="none", on_missing="skip")
    return track, (time.perf_counter() - start) / len(clip)


def agreement(track, reference) -> str:
    both = track.found & reference.found
    if not both.any():
        return "-"
    iou = box_iou(track.boxes[both], reference.boxes[both])
    return f"{iou.mean():.3f} / {iou.min():.3f}"


def truth_agreement(track, truth: np.ndarray) -> str:
    if not track.found.any():
        return "-"
    iou = box_iou(track.boxes[track.found].astype(np.float64), truth[track.found])
    return f"{iou.mean():.3f} / {iou.min():.3f}"


def row(*cells) -> None:
    print(" | ".join(str(c).ljust(w) for c, w in zip(cells, (9, 8, 12, 10, 7, 22, 22))))


def bench_offline(name: str, frames: int, sizes: list[int]) -> None:
    detector = make_detector(name)
    for label, (height, width) in RESOLUTIONS.items():
        clip, truth = astronaut_clip(height, width, frames)
        reference, seconds = timed_track(clip, detector, None)
        row(name, label, "full", f"{seconds:.4f}", f"{reference.found.mean():.0%}", "(reference)",
            truth_agreement(reference, truth))
        for size in sizes:
            track, seconds = timed_track(clip, detector, size)
            row(name, label, f"long {size}", f"{seconds:.4f}", f"{track.found.mean():.0%}",
                agreement(track, reference), truth_agreement(track, truth))


def bench_every_k(name: str, frames: int, size, ks: list[int]) -> None:
    detector = make_detector(name)
    clip, truth = astronaut_clip(*RESOLUTIONS["720p"], frames)
    reference, _ = timed_track(clip, detector, size)
    for k in ks:
        track, seconds = timed_track(clip, detector, size, detect_every=k)
        row(name, "720p", f"{size} every {k}", f"{seconds:.4f}", f"{track.found.mean():.0%}",
            agreement(track, reference) + " (vs every 1)", truth_agreement(track, truth))


def bench_s3fd(frames_full: int, frames_small: int, sizes: list[int]) -> None:
    from random_s3fd import write_random_s3fd

    with tempfile.TemporaryDirectory() as folder:
        path = write_random_s3fd(Path(folder) / "s3fd.pth", face_logit_bias=-20.0)
        detector = S3FDDetector.from_weights(path, batch_size=4)
    for label, (height, width) in RESOLUTIONS.items():
        _, seconds = timed_track(astronaut_clip(height, width, frames_full)[0], detector, None)
        row("s3fd", label, "full", f"{seconds:.3f}", "n/a", "n/a (random weights)", "n/a")
        for size in sizes:
            if size >= max(height, width):
                continue
            _, seconds = timed_track(astronaut_clip(height, width, frames_small)[0], detector, size)
            row("s3fd", label, f"long {size}", f"{seconds:.3f}", "n/a", "n/a (random weights)", "n/a")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=25, help="frames per clip for the offline detectors")
    parser.add_argument("--quick", action="store_true", help="fewer frames and settings")
    parser.add_argument("--skip-s3fd", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only-s3fd", action="store_true")
    parser.add_argument("--dlib-cnn", action="store_true", help="also time dlib's CNN detector (slow)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    frames = 5 if args.quick else args.frames
    print(f"CPU, {args.threads} threads; IoU = mean / min over frames, raw boxes (no pads, no smoothing), vs the "
          f"same detector at full resolution and vs the true face box (hairline to chin)")
    row("detector", "clip", "detect at", "s/frame", "found", "IoU vs full-res", "IoU vs true face")
    row(*["-" * 8] * 7)
    if not args.only_s3fd:
        bench_offline("dlib_hog", frames, [320, 480, 640, 960])
        bench_every_k("dlib_hog", max(frames, 25), 960, [2, 3, 5])
        if args.dlib_cnn:
            bench_offline("dlib_cnn", 2, [640])
    if not args.skip_s3fd:
        bench_s3fd(1, 2, [480, 640])


if __name__ == "__main__":
    main()
