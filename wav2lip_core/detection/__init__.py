"""Face detection for the Wav2Lip engine: one (y1, y2, x1, x2) box per frame from S3FD (the original's
detector) or the offline dlib detectors, with reduced-resolution and every-k-th-frame detection, the
missing-face policies, pads and lag-free smoothing, all set by one ``DetectionOptions``.

Frames are uint8 RGB (H, W, 3) 0..255 (NHWC clips); boxes are (y1, y2, x1, x2) int64 full-resolution
pixels, crop = frame[y1:y2, x1:x2].
"""
from .common import FaceDetectionError, FaceDetector, FaceNotDetectedError, FaceTrack
from .options import (AUTO, DEFAULT_DETECTION, DETECTORS, MISSING_FACE_POLICIES, SMOOTHING_MODES,
                      TRACKING_MODES, DetectionOptions, missing_detector_package)
from .track import detect_face_boxes, fixed_box_track, make_detector

__all__ = [
    "AUTO", "DEFAULT_DETECTION", "DETECTORS", "MISSING_FACE_POLICIES", "SMOOTHING_MODES", "TRACKING_MODES",
    "DetectionOptions",
    "FaceDetectionError", "FaceDetector", "FaceNotDetectedError", "FaceTrack", "detect_face_boxes",
    "fixed_box_track", "make_detector", "missing_detector_package",
]
