"""Choosing whom to lip-sync: the people of reference photos, and which face tracks are each of them.

A person is given by a reference photo (its largest face). Every face track of the survey (tracks/survey.py)
whose descriptors come within ``threshold`` of the reference's is that person, in whichever shot it is: this is
how tracks are joined across cuts. With several people (speakers), a track belongs to the nearest of them. Their
boxes on every frame then come from tracks/following.py.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..detection.common import FaceDetector
from ..detection.options import DetectionOptions
from ..detection.track import detector_scale, faces_in_frames
from .identity import SAME_PERSON_DISTANCE, FaceDescriber, descriptor_distances
from .survey import FaceSurvey

@dataclass(frozen=True)
class Reference:
    """A person to find: ``name`` (the photo's file name, for messages) and the (128,) float32 descriptor."""
    name: str
    descriptor: np.ndarray
    note: str | None = None       # e.g. that the photo shows several faces and the largest was taken


def describe_reference(image: np.ndarray, name: str, detector: FaceDetector, describer: FaceDescriber,
                       options: DetectionOptions) -> Reference:
    """The reference person of a uint8 RGB (H, W, 3) photo: its largest face. ValueError when it has none."""
    scale = detector_scale(detector, options, *image.shape[:2])
    faces = faces_in_frames([image], [0], detector, scale)[0]
    if len(faces) == 0:
        raise ValueError(f"no face was found in the reference photo {name}: give a photo where the person's face "
                         f"is clearly visible (about 80 pixels or larger)")
    note = (f"the reference photo {name} shows {len(faces)} faces; the largest is the person to lip-sync"
            if len(faces) > 1 else None)
    return Reference(name, describer.describe(image, faces[:1])[0], note)


def check_distinct(references: Sequence[Reference], threshold: float) -> None:
    """ValueError when two references show the same person (closer than ``threshold``)."""
    for i, first in enumerate(references):
        for second in references[i + 1:]:
            distance = float(descriptor_distances(second.descriptor, first.descriptor)[0])
            if distance < threshold:
                raise ValueError(f"the reference photos {first.name} and {second.name} show the same person "
                                 f"(distance {distance:.2f}, below {threshold:g}); give each person once")


def track_distances(survey: FaceSurvey, reference: Reference) -> np.ndarray:
    """(tracks,) distance of each track from the reference: its nearest descriptor's (inf: none)."""
    distances = np.full(len(survey.tracks), np.inf)
    for track in survey.tracks:
        descriptors = survey.track_descriptors(track.id)
        if len(descriptors):
            distances[track.id] = float(descriptor_distances(descriptors, reference.descriptor).min())
    return distances


def assign_tracks(survey: FaceSurvey, references: Sequence[Reference],
                  threshold: float = SAME_PERSON_DISTANCE) -> list[dict[int, float]]:
    """For each reference, {track id: distance} of the tracks that are that person: within ``threshold`` and
    nearer to it than to any other reference. ValueError naming a reference that no track matches."""
    distances = np.stack([track_distances(survey, r) for r in references]).reshape(len(references), -1)
    people: list[dict[int, float]] = []
    for row, reference in enumerate(references):
        nearest = distances.argmin(axis=0) if distances.size else np.zeros(0, np.int64)
        mine = np.flatnonzero((distances[row] < threshold) & (nearest == row))
        if mine.size == 0:
            closest = f"; the closest face was {distances[row].min():.2f} away" \
                if distances.size and np.isfinite(distances[row]).any() else ""
            raise ValueError(f"the person in {reference.name} was not found in the video (no face within "
                             f"{threshold:g} of theirs{closest}); nothing was written")
        people.append({int(t): float(distances[row, t]) for t in mine})
    return people
