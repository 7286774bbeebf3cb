"""The top-level face tracker: one (y1, y2, x1, x2) box per frame of a clip.

Frames are uint8 RGB (H, W, 3), 0..255, as an (N, H, W, 3) array or any sequence of such arrays (so a
caller can stream frames from disk). Steps: detect on every ``detect_every``-th frame (and the last one)
and, with ``tracking="flow"``, wherever following the face in between needs it (detection/keyframes.py),
on a copy whose longest side is ``detect_size``; map boxes back to full resolution; pick one face per
frame; follow the face between detected frames (or interpolate); apply the missing-face policy; pads and
clamping; temporal smoothing.
"""
from __future__ import annotations

import os
import warnings
from typing import Callable, Mapping, Sequence

import cv2
import numpy as np

from .boxes import (apply_missing_face_policy, clip_to_frame, detection_to_box, face_index_note,
                    interpolate_between_keyframes, missing_face_message, pad_and_clamp, select_face, smooth_boxes)
from .common import FaceDetector, FaceNotDetectedError, FaceTrack, as_rgb_uint8_frame
from .keyframes import detect_and_follow, unsure_ranges
from .options import AUTO, DEFAULT_DETECTION, DetectionOptions

_detector_cache: dict[tuple, FaceDetector] = {}
MAX_BOX_COORDINATE = 2**20     # pixels; larger than any frame, small enough for int64 arithmetic everywhere


def make_detector(name: str, device: str = "cpu", batch_size: int = 16,
                  weights_path: str | os.PathLike | None = None, search_dirs: Sequence[str | os.PathLike] = (),
                  allow_download: bool = True, cache: bool = True) -> FaceDetector:
    """A detector by name (one of DETECTORS), reused across calls when ``cache`` is True.

    S3FD's weights come from ``weights_path``, else s3fd.pth in ``search_dirs`` (default: the pack's weights/),
    fetched when missing and ``allow_download``; dlib_cnn's model file from ``weights_path`` or ``search_dirs``.
    """
    DetectionOptions(detector=name)          # an unknown name says which ones exist
    key = (name, str(device), str(weights_path), tuple(str(d) for d in search_dirs), bool(allow_download))
    if cache and key in _detector_cache:
        detector = _detector_cache[key]
    elif name == "s3fd":
        from .s3fd import S3FDDetector, s3fd_weights
        detector = S3FDDetector.from_weights(s3fd_weights(weights_path, search_dirs, allow_download),
                                             device=device, batch_size=batch_size)
    elif name == "dlib_hog":
        from .dlib_detectors import DlibHOGDetector
        detector = DlibHOGDetector()
    else:
        from .dlib_detectors import DlibCNNDetector
        detector = DlibCNNDetector(weights_path=weights_path, search_dirs=search_dirs)
    if hasattr(detector, "batch_size"):
        detector.batch_size = max(1, int(batch_size))
    if cache:
        _detector_cache[key] = detector
    return detector


def detection_scale(height: int, width: int, detect_size: int | None, upscale: bool) -> float:
    """Size of the detection copy relative to the frame: detect_size / longest side (1.0 = full resolution).

    Frames are only enlarged for detectors that need it (``upscale``); None means full resolution.
    """
    if detect_size is None:
        return 1.0
    if detect_size < 16:
        raise ValueError(f"detect_size must be None (full resolution) or >= 16 pixels, not {detect_size}")
    scale = detect_size / max(height, width)
    return scale if (scale < 1.0 or upscale) else 1.0


def detector_scale(detector: FaceDetector, options: DetectionOptions, height: int, width: int) -> float:
    """detection_scale for ``detector`` on height x width frames, ``options.detect_size`` (AUTO: the detector's own
    default size) deciding."""
    detect_size = options.detect_size
    if detect_size == AUTO:
        detect_size = getattr(detector, "default_detect_size", None)
    return detection_scale(height, width, detect_size, getattr(detector, "upscales_small_frames", False))


def detection_copy_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) of the detection copy of a height x width frame scaled by ``scale``."""
    if scale == 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_for_detection(frame: np.ndarray, scale: float) -> np.ndarray:
    """uint8 RGB frame scaled by ``scale`` (area averaging when shrinking, bilinear when enlarging)."""
    if scale == 1.0:
        return frame
    copy_height, copy_width = detection_copy_size(frame.shape[0], frame.shape[1], scale)
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(frame, (copy_width, copy_height), interpolation=interpolation)


def _as_frame_sequence(frames) -> Sequence[np.ndarray]:
    if isinstance(frames, np.ndarray):
        if frames.ndim == 3:
            return frames[None]
        if frames.ndim != 4:
            raise ValueError(f"frames: expected (N, H, W, 3) uint8 RGB, got shape {frames.shape}")
        return frames
    if hasattr(frames, "__len__") and hasattr(frames, "__getitem__"):
        return frames
    return list(frames)


def checked_frame(sequence: Sequence[np.ndarray], index: int, height: int, width: int) -> np.ndarray:
    """Frame ``index`` of a clip, checked to be uint8 RGB (H, W, 3) of the clip's size."""
    frame = as_rgb_uint8_frame(sequence[index], index)
    if frame.shape[:2] != (height, width):
        raise ValueError(f"frame {index} is {frame.shape[1]}x{frame.shape[0]} but frame 0 is "
                         f"{width}x{height}; all frames of a clip must have one size")
    return frame


def faces_in_frames(sequence: Sequence[np.ndarray], indices: Sequence[int], detector: FaceDetector, scale: float,
                    known_faces: Mapping[int, np.ndarray] | None = None) -> list[np.ndarray]:
    """Every face of each frame ``indices`` as (K, 4) int64 (y1, y2, x1, x2) full-resolution boxes cut to the
    frame, largest first; taken from ``known_faces`` where it has the frame, else detected on the copy scaled by
    ``scale`` (one detector call for all the frames)."""
    known_faces = known_faces or {}
    wanted = [int(i) for i in indices if int(i) not in known_faces]
    height, width = as_rgb_uint8_frame(sequence[wanted[0]], wanted[0]).shape[:2] if wanted else (0, 0)
    detected: dict[int, np.ndarray] = {}
    if wanted:
        copies = [resize_for_detection(checked_frame(sequence, i, height, width), scale) for i in wanted]
        copy_height, copy_width = copies[0].shape[:2]
        for index, detections in zip(wanted, detector.detect(copies)):
            rows = [clip_to_frame(detection_to_box(row[:4], width / copy_width, height / copy_height), height, width)
                    for row in np.asarray(detections).reshape(-1, 5)]
            rows = sorted((r for r in rows if r is not None), key=lambda r: -(r[1] - r[0]) * (r[3] - r[2]))
            detected[index] = np.array(rows, np.int64).reshape(-1, 4)
    return [np.asarray(known_faces[int(i)], np.int64).reshape(-1, 4) if int(i) in known_faces else detected[int(i)]
            for i in indices]


def detect_face_boxes(frames, options: DetectionOptions = DEFAULT_DETECTION, *,
                      detector: str | FaceDetector | None = None, device: str = "cpu",
                      weights_path: str | os.PathLike | None = None, search_dirs: Sequence[str | os.PathLike] = (),
                      allow_download: bool = True, progress: Callable[[int, int], None] | None = None,
                      **changes) -> FaceTrack:
    """One face box per frame of a clip, as ``options`` say (see DetectionOptions), with any of its fields
    changed by keyword (``detect_face_boxes(clip, detector="dlib_hog", pads=(0, 0, 0, 0))``).

    frames: (N, H, W, 3) uint8 RGB 0..255, or a sequence of (H, W, 3) frames of one size.
    detector: a name (sets ``options.detector``), or a detector object (``detect(list of frames) -> list of
        (K, 5)``) to use instead of making one with ``make_detector(device, weights_path, search_dirs,
        allow_download)``.
    With on_missing "nearest" and no face anywhere, every frame is marked not found (with a warning).
    progress: called as progress(frames_done, num_frames) after each detection batch.
    (A person chosen by a photo is followed by wav2lip_core/tracks/, through the same key-frame walk.)
    A face_index that no detected frame has enough faces for is a ValueError naming the most faces seen.
    Returns a FaceTrack: boxes (N, 4) int64 (y1, y2, x1, x2) and found (N,) bool.
    """
    if isinstance(detector, str):
        changes["detector"], detector = detector, None
    if changes:
        options = options.with_changes(**changes)
    sequence = _as_frame_sequence(frames)
    num_frames = len(sequence)
    if num_frames == 0:
        return FaceTrack(np.zeros((0, 4), np.int64), np.zeros(0, bool))
    if detector is None:
        detector = make_detector(options.detector, device, options.batch_size, weights_path, search_dirs,
                                 allow_download)
    on_missing, face_index, detect_every = options.on_missing, options.face_index, int(options.detect_every)

    height, width = as_rgb_uint8_frame(sequence[0], 0).shape[:2]
    scale = detector_scale(detector, options, height, width)
    boxes = np.zeros((num_frames, 4), np.int64)
    found = np.zeros(num_frames, bool)
    detected = np.zeros(num_frames, bool)
    batch_size = int(options.batch_size)
    faces_seen = [0]             # the most faces found in one frame (a face_index beyond them finds nothing)

    def detect_frames(indices: np.ndarray, report: bool = False) -> None:
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            copies = [resize_for_detection(checked_frame(sequence, int(index), height, width), scale)
                      for index in chunk]
            copy_height, copy_width = copies[0].shape[:2]
            for index, detections in zip(chunk, detector.detect(copies)):
                detected[index] = True
                detections = np.asarray(detections).reshape(-1, 5)
                faces_seen[0] = max(faces_seen[0], len(detections))
                face = select_face(detections, face_index)
                box = None if face is None else \
                    clip_to_frame(detection_to_box(face, width / copy_width, height / copy_height), height, width)
                keep(int(index), box, len(detections))
            if report and progress is not None:
                progress(int(chunk[-1]) + 1, num_frames)

    def keep(index: int, box: np.ndarray | None, faces_in_frame: int = 0) -> None:
        if box is None:                                 # no face, or none of it inside the frame
            if on_missing == "error":
                raise FaceNotDetectedError(missing_face_message(index, num_frames, face_index, faces_in_frame),
                                           index)
            return
        boxes[index] = box
        found[index] = True

    walk = None
    if detect_every > 1 and options.tracking == "flow":
        walk = detect_and_follow(sequence, boxes, found, detected, detect_frames, detect_every,
                                 keyframes_per_call=getattr(detector, "batch_size", 1), progress=progress)
    else:
        detect_frames(np.unique(np.r_[np.arange(0, num_frames, detect_every), num_frames - 1]), report=True)
    if detect_every > 1:
        # Next to a detected frame without a face, the frames in between are detected one by one instead of
        # being guessed, so a face that leaves or enters between two key frames is tracked to the frame.
        unsure = unsure_ranges(np.flatnonzero(detected), found)
        if unsure:
            detect_frames(np.concatenate(unsure))
        if walk is not None:
            boxes, found = walk.followed_boxes()
        else:
            boxes, found = interpolate_between_keyframes(boxes, found, np.flatnonzero(detected))
    if face_index_note(face_index, faces_seen[0]):
        raise ValueError(f"no face was chosen in any of the {num_frames} frames"
                         f"{face_index_note(face_index, faces_seen[0])}")
    boxes, found = finish_boxes(boxes, found, options, height, width)
    return FaceTrack(boxes, found, faces_seen[0])


def finish_boxes(boxes: np.ndarray, found: np.ndarray, options: DetectionOptions, height: int, width: int,
                 segment_starts: Sequence[int] = (0,)) -> tuple[np.ndarray, np.ndarray]:
    """The steps after finding a box on each frame, as ``options`` say: the missing-face policy, pads, temporal
    smoothing (within each segment on its own: the shots, when boxes must never be averaged over a cut), clamping.
    Returns (boxes (N, 4) int64 inside the height x width frame, 0 where not found; found (N,) bool)."""
    boxes, found = apply_missing_face_policy(boxes, found, options.on_missing, options.max_missing_gap)
    if options.on_missing == "nearest" and not found.any():
        warnings.warn(f"no face was detected in any of the {len(found)} frames; they pass through unchanged",
                      RuntimeWarning, stacklevel=3)
    boxes = pad_and_clamp(boxes, options.pads, height, width)
    stops = [*segment_starts[1:], len(boxes)]
    for start, stop in zip(segment_starts, stops):
        boxes[start:stop] = smooth_boxes(boxes[start:stop], found[start:stop], options.smoothing,
                                         options.smooth_window)
    # Smoothing fits a line at the ends of a run, which can reach past the frame edge: clamp again.
    boxes = pad_and_clamp(boxes, (0, 0, 0, 0), height, width)
    boxes[~found] = 0
    return boxes, found


def fixed_box_track(box: Sequence[int], num_frames: int) -> FaceTrack:
    """The original's ``--box``: the same (y1, y2, x1, x2) box on every frame, verbatim (no pads, clamping,
    smoothing or detection)."""
    try:
        y1, y2, x1, x2 = (int(v) for v in box)
    except (TypeError, ValueError, OverflowError):      # not four values, or NaN / inf among them
        raise ValueError(f"box must be four whole numbers (y1, y2, x1, x2), got {box!r}") from None
    if min(y1, x1) < 0 or y2 <= y1 or x2 <= x1 or max(y2, x2) > MAX_BOX_COORDINATE:
        raise ValueError(f"box (y1, y2, x1, x2) = {tuple(box)} is not a box: need 0 <= y1 < y2 and 0 <= x1 < x2, "
                         f"in pixels of the frame")
    return FaceTrack(np.tile(np.array([y1, y2, x1, x2], np.int64), (num_frames, 1)), np.ones(num_frames, bool))
