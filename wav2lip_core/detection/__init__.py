"""Face detection for the Wav2Lip engine: S3FD (the original's detector) and offline dlib detectors,
reduced-resolution and every-k-th-frame detection, missing-face policies, pads and lag-free smoothing.

Frames are uint8 RGB (H, W, 3) 0..255 (NHWC clips); boxes are (y1, y2, x1, x2) int64 full-resolution
pixels, crop = frame[y1:y2, x1:x2]. Main entry points: ``detect_face_boxes`` and ``fixed_box_track``.
"""
from .boxes import (MISSING_FACE_POLICIES, SMOOTHING_MODES, apply_missing_face_policy, detection_to_box,
                    fill_missing_nearest, interpolate_between_keyframes, pad_and_clamp, select_face,
                    smooth_boxes, smooth_centered, smooth_original)
from .common import FaceDetectionError, FaceDetector, FaceNotDetectedError, FaceTrack
from .track import AUTO, DETECTORS, detect_face_boxes, detection_scale, fixed_box_track, make_detector, \
    resize_for_detection

__all__ = [
    "AUTO", "DETECTORS", "MISSING_FACE_POLICIES", "SMOOTHING_MODES", "FaceDetectionError", "FaceDetector",
    "FaceNotDetectedError", "FaceTrack", "apply_missing_face_policy", "detect_face_boxes", "detection_scale",
    "detection_to_box", "fill_missing_nearest", "fixed_box_track", "interpolate_between_keyframes",
    "make_detector", "pad_and_clamp", "resize_for_detection", "select_face", "smooth_boxes", "smooth_centered",
    "smooth_original",
]
