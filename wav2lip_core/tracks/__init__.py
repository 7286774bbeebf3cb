"""Face tracks and identity, beside detection: who is where through a clip, and whom to lip-sync.

``survey`` links every face of the key frames into tracks within each shot; ``identity`` describes faces (dlib's
ResNet descriptor); ``person`` joins tracks to the people of reference photos (across cuts too); ``following``
gives every chosen person's box on every frame, in one more reading of the clip; ``speaking`` picks the track
whose lips move with the speech.

Frames are uint8 RGB (H, W, 3) 0..255; boxes are (y1, y2, x1, x2) int64 full-resolution pixels.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..detection import DEFAULT_DETECTION, DetectionOptions, FaceDetector, FaceTrack, make_detector
from .identity import (SAME_PERSON_DISTANCE, FaceDescriber, descriptor_distances, face_describer,
                       missing_identity_packages)
from .following import follow_people
from .person import Reference, assign_tracks, check_distinct, describe_reference
from .speaking import SPEAKING, speaking_reference
from .survey import FaceSurvey, Track, survey_faces

__all__ = [
    "SAME_PERSON_DISTANCE", "SPEAKING", "FaceDescriber", "FaceSurvey", "Reference", "Track", "assign_tracks",
    "check_distinct", "describe_reference", "descriptor_distances", "face_describer", "follow_people",
    "missing_identity_packages", "people_face_boxes", "speaking_reference", "survey_faces",
]


def people_face_boxes(frames: Sequence[np.ndarray] | np.ndarray, references: Sequence[tuple[str, np.ndarray]],
                      options: DetectionOptions = DEFAULT_DETECTION, threshold: float = SAME_PERSON_DISTANCE, *,
                      detector: FaceDetector | None = None, device: str = "cpu",
                      weights_path: str | os.PathLike | None = None, search_dirs: Sequence[str | os.PathLike] = (),
                      allow_download: bool = True, note: Callable[[str], None] | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      speaking: tuple[np.ndarray, float, torch.nn.Module] | None = None) -> list[FaceTrack]:
    """Each reference person's face box on every frame of ``frames`` (uint8 RGB (N, H, W, 3) or a sequence read in
    order), found False where that person is not seen.

    references: (name for messages, uint8 RGB (H, W, 3) photo) per person; the photo's largest face is the person
    (``note`` is told when it shows several). ValueError: a photo without a face, two photos of one person, a
    person not found in the clip. Detection runs as ``options`` say (its face_index plays no part). The clip is
    read twice, in order, however many people there are: once to find every face (survey_faces), once to follow
    each person (follow_people); ``progress(done, total)`` counts both readings (total: twice the frames).
    speaking: (float32 mono 16 kHz speech, fps, a lip-sync scorer) instead of photos (give no references): the
    person whose lips move with that speech (tracks/speaking.py).
    """
    if detector is None:
        detector = make_detector(options.detector, device, options.batch_size, weights_path, search_dirs,
                                 allow_download)
    describer = face_describer(search_dirs)
    people = [describe_reference(np.asarray(image), name, detector, describer, options) for name, image in references]
    for person in people:
        if person.note and note is not None:
            note(person.note)
    check_distinct(people, threshold)
    survey = survey_faces(frames, options, detector, describer,
                          None if progress is None else lambda done, total: progress(done, 2 * total))
    if speaking is not None:
        wav_16k, fps, scorer = speaking
        people = [speaking_reference(frames, survey, wav_16k, fps, scorer)]
        if note is not None:
            note(f"lip-syncing {people[0].name}")
    return follow_people(frames, survey, assign_tracks(survey, people, threshold), options, detector,
                         None if progress is None else lambda done, total: progress(total + done, 2 * total))
