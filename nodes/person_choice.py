"""Choosing the person to lip-sync by a photo, for the nodes that find faces (Detect Faces, Lip Sync Video): the
optional `reference` IMAGE and `reference_threshold` inputs, the check of how they combine with the node's other
ways of choosing a face, and the person's boxes through the engine's face tracks (wav2lip_core.tracks).

Frames are uint8 RGB (H, W, 3) 0..255 (a decoded video read in order, or an IMAGE converted frame by frame); the
reference is a ComfyUI IMAGE, float32 (B, H, W, 3) 0..1, of which the first image shows the person; boxes are
(y1, y2, x1, x2) int64 full-resolution pixels.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from wav2lip_core.detection import DetectionOptions, FaceDetector, FaceTrack
from wav2lip_core.tracks import SAME_PERSON_DISTANCE, missing_identity_packages, people_face_boxes

from . import model_management as mm
from .tensors import check_image, image_to_uint8

# How the engine's messages name the photo: by the input it came through (an IMAGE has no file name).
REFERENCE_NAME = "'reference'"


def reference_inputs(unseen: str, otherwise: str) -> dict[str, tuple]:
    """The optional inputs `reference` and `reference_threshold`, in the words of a node: ``unseen`` says what
    becomes of the frames where the person is not seen, ``otherwise`` what chooses the face with no photo."""
    return {
        "reference": ("IMAGE", {
            "tooltip": f"Optional: a photo of the person to lip-sync (its largest face). That person is followed "
                       f"wherever they are, across cuts; {unseen}. Needs pip install dlib-bin "
                       f"face-recognition-models. Not connected: {otherwise}."}),
        "reference_threshold": ("FLOAT", {
            "default": SAME_PERSON_DISTANCE, "min": 0.05, "max": 2.0, "step": 0.01,
            "tooltip": "With a reference: faces closer than this to the reference's (dlib's face descriptor "
                       "distance) are that person. Lower is stricter; 0.6 is dlib's same-person distance."}),
    }


def check_reference_choice(node: str, box: tuple[int, int, int, int] | None, face_index: int = -1) -> None:
    """ValueError, in the words of ``node`` (its title), when a reference is connected together with another way
    of choosing the face: a typed manual_box, or a face_index of 0 or more."""
    if box is not None:
        raise ValueError(f"{node}: manual_box fixes one face box, so there is no person to choose: empty "
                         f"manual_box or disconnect reference")
    if face_index >= 0:
        raise ValueError(f"{node}: face_index chooses a face by position; with a reference the photo chooses: "
                         f"set face_index to -1 or disconnect reference")


def person_boxes(node: str, frames: Sequence[np.ndarray], reference: torch.Tensor, threshold: float,
                 options: DetectionOptions, make_detector: Callable[[], FaceDetector | None],
                 on_progress: Callable[[int, int], None]) -> FaceTrack:
    """The boxes of the person in ``reference`` on every frame of ``frames``, found False where that person is
    not seen (the engine's people_face_boxes, as the command line's --reference). The photo and the packages are
    checked first, then ``make_detector()`` gives the detector (None: the engine makes options.detector's).
    ``on_progress(done, total)`` is told how far face finding is (and may raise to cancel). ValueError: a bad
    photo, a missing package (one message naming what to install), a person not found in the clip."""
    check_image(reference, "reference")
    package = missing_identity_packages()
    if package:
        raise ValueError(f"{node}: {package}")
    if reference.shape[0] > 1:
        mm.log.warning("%s: the reference holds %d images; the first one shows the person", node, reference.shape[0])
    photo = image_to_uint8(reference[:1])[0]
    return people_face_boxes(frames, [(REFERENCE_NAME, photo)], options, float(threshold), detector=make_detector(),
                             device=str(mm.compute_device()), search_dirs=mm.model_search_dirs(),
                             note=lambda text: mm.log.warning("%s: %s", node, text), progress=on_progress)[0]
