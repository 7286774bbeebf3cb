"""Who a face is: dlib's ResNet face descriptor, a 128-D vector; two faces of the same person lie less than about
0.6 apart (Euclidean), as dlib documents for this model.

The face is aligned by dlib's 5-point landmarks inside its box, then described. Both model files come from the pip
package face-recognition-models (CC0), through the checkpoint authority (checkpoints/packaged_files.py).
Frames are uint8 RGB (H, W, 3) 0..255; boxes are (y1, y2, x1, x2) int full-resolution pixels.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence

import numpy as np

from ..checkpoints.packaged_files import locate_packaged_file
from ..detection.common import as_rgb_uint8_frame
from ..detection.dlib_detectors import import_dlib

DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"
SAME_PERSON_DISTANCE = 0.6      # dlib's threshold for this model (99.38 % on LFW at this distance)
DESCRIPTOR_SIZE = 128


class FaceDescriber:
    """``describe(frame, boxes)`` -> float32 (K, 128) descriptors of the faces in (K, 4) (y1, y2, x1, x2) boxes."""

    def __init__(self, search_dirs: Sequence[str | os.PathLike] = ()):
        dlib = import_dlib()
        self._dlib = dlib
        self._landmarks = dlib.shape_predictor(str(locate_packaged_file(LANDMARK_MODEL, search_dirs)))
        self._network = dlib.face_recognition_model_v1(str(locate_packaged_file(DESCRIPTOR_MODEL, search_dirs)))

    def describe(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        frame = as_rgb_uint8_frame(frame)
        boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        shapes = self._dlib.full_object_detections()
        for y1, y2, x1, x2 in boxes:
            shapes.append(self._landmarks(frame, self._dlib.rectangle(int(x1), int(y1), int(x2) - 1, int(y2) - 1)))
        return np.asarray(self._network.compute_face_descriptor(frame, shapes), np.float32).reshape(-1, DESCRIPTOR_SIZE)


def missing_identity_packages() -> str | None:
    """None when face recognition can run; else the one message saying what to pip install."""
    missing = [pip for module, pip in (("dlib", "dlib-bin"), ("face_recognition_models", "face-recognition-models"))
               if importlib.util.find_spec(module) is None]
    return (f"choosing a person (by photo, or by who speaks) needs face recognition: pip install {' '.join(missing)}"
            if missing else None)


_describers: dict[tuple[str, ...], FaceDescriber] = {}


def face_describer(search_dirs: Sequence[str | os.PathLike] = ()) -> FaceDescriber:
    """A FaceDescriber, loaded once per set of search folders."""
    key = tuple(str(folder) for folder in search_dirs)
    if key not in _describers:
        _describers[key] = FaceDescriber(search_dirs)
    return _describers[key]


def descriptor_distances(descriptors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distances (K,) of (K, 128) descriptors from one (128,) reference."""
    return np.linalg.norm(np.asarray(descriptors, np.float64).reshape(-1, DESCRIPTOR_SIZE)
                          - np.asarray(reference, np.float64).reshape(1, DESCRIPTOR_SIZE), axis=1)
