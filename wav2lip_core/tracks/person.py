"""Choosing whom to lip-sync, and that person's face box on every frame: the second pass.

A person is given by a reference photo (its largest face). Every face track of the survey (tracks/survey.py)
whose descriptors come within ``threshold`` of the reference's is that person, in whichever shot it is: this is
how tracks are joined across cuts. With several people (speakers), a track belongs to the nearest of them.

The boxes of the chosen person then come from the ordinary face following (detection/track.py) with the
survey's faces as known detections: on a key frame the person's own face is followed (or none, where the person
is not there); on a frame the follower detects anew, each face is given to the track of that shot whose expected
place (its key-frame boxes, linear in between) is nearest, and the person's face is the one given to their track
within MAX_SHIFT box sizes of where it was expected. A frame where the person is not seen is
never given another face's box: "nearest" borrowing is turned into "skip" (the frame stays as it came), "error"
stays an error.

Frames are uint8 RGB (H, W, 3) 0..255; boxes are (y1, y2, x1, x2) int64 full-resolution pixels.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detection.boxes import pad_and_clamp, smooth_boxes
from ..detection.common import FaceDetector, FaceTrack
from ..detection.options import AUTO, DetectionOptions
from ..detection.track import detect_face_boxes, detection_scale, faces_in_frames
from .identity import SAME_PERSON_DISTANCE, FaceDescriber, descriptor_distances
from .survey import FaceSurvey

# A face found between key frames is the person's when it lies within this many box sizes of where their track
# was expected (the key frames are up to detect_every frames apart; a face moves less than its size in that time).
MAX_SHIFT = 1.0


@dataclass(frozen=True)
class Reference:
    """A person to find: ``name`` (the photo's file name, for messages) and the (128,) float32 descriptor."""
    name: str
    descriptor: np.ndarray
    note: str | None = None       # e.g. that the photo shows several faces and the largest was taken


def describe_reference(image: np.ndarray, name: str, detector: FaceDetector, describer: FaceDescriber,
                       options: DetectionOptions) -> Reference:
    """The reference person of a uint8 RGB (H, W, 3) photo: its largest face. ValueError when it has none."""
    detect_size = options.detect_size
    if detect_size == AUTO:
        detect_size = getattr(detector, "default_detect_size", None)
    height, width = image.shape[:2]
    scale = detection_scale(height, width, detect_size, getattr(detector, "upscales_small_frames", False))
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


class _PersonChooser:
    """choose_face for detect_face_boxes: the person's face on a frame (see the module text)."""

    def __init__(self, survey: FaceSurvey, tracks: dict[int, float]):
        self.survey, self.tracks = survey, tracks
        self.boxes: dict[int, np.ndarray] = {}
        for frame, labels in survey.labels.items():
            mine = [(tracks[int(label)], k) for k, label in enumerate(labels) if int(label) in tracks]
            if mine:
                self.boxes[frame] = survey.faces[frame][min(mine)[1]]

    def _expected(self, index: int) -> list[tuple[int, np.ndarray]]:
        """(track id, where its face should be on frame ``index``: linear between its key frames around it, or
        its nearest key frame's box) for every track of the frame's shot."""
        shot = self.survey.shot_of(index)
        expected = []
        for track in self.survey.tracks:
            if track.shot != shot:
                continue
            frames = np.array(track.frames, np.float64)
            boxes = np.array(track.boxes, np.float64).reshape(-1, 4)
            expected.append((track.id, np.array([np.interp(index, frames, boxes[:, k]) for k in range(4)])))
        return expected

    def __call__(self, index: int, faces: np.ndarray) -> np.ndarray | None:
        if index in self.survey.faces:
            return self.boxes.get(index)
        expected = self._expected(index)
        if not expected or len(faces) == 0:
            return None
        # Each face belongs to the track whose expected place is nearest (in sizes of that track's box); the
        # person's face is one that belongs to their track and lies within MAX_SHIFT of where it was expected.
        best, best_distance = None, MAX_SHIFT
        for face in faces:
            distances = [centre_distance(face, box) for _, box in expected]
            nearest = int(np.argmin(distances))
            if expected[nearest][0] in self.tracks and distances[nearest] < best_distance:
                best, best_distance = face, distances[nearest]
        return best


def centre_distance(face: np.ndarray, expected: np.ndarray) -> float:
    """How far a (y1, y2, x1, x2) face's centre lies from an expected box's, in that box's longer sides."""
    size = max(1.0, float(expected[1] - expected[0]), float(expected[3] - expected[2]))
    return float(np.hypot((face[0] + face[1] - expected[0] - expected[1]) / 2,
                          (face[2] + face[3] - expected[2] - expected[3]) / 2)) / size


def person_face_boxes(frames: Sequence[np.ndarray] | np.ndarray, survey: FaceSurvey, tracks: dict[int, float],
                      options: DetectionOptions, detector: FaceDetector,
                      progress: Callable[[int, int], None] | None = None) -> FaceTrack:
    """The chosen person's box on every frame (found False where they are not seen), as ``options`` say."""
    on_missing = "skip" if options.on_missing == "nearest" else options.on_missing
    track = detect_face_boxes(frames, options.with_changes(on_missing=on_missing, face_index=None, smoothing="none"),
                              detector=detector, known_faces=survey.faces,
                              choose_face=_PersonChooser(survey, tracks), progress=progress)
    # Smoothed shot by shot: a window reaching over a cut would put the box between two places.
    boxes = track.boxes.copy()
    height, width = np.asarray(frames[0]).shape[:2]
    stops = list(survey.shot_starts[1:]) + [len(boxes)]
    for start, stop in zip(survey.shot_starts, stops):
        boxes[start:stop] = smooth_boxes(boxes[start:stop], track.found[start:stop], options.smoothing,
                                         options.smooth_window)
    boxes = pad_and_clamp(boxes, (0, 0, 0, 0), height, width)
    boxes[~track.found] = 0
    return FaceTrack(boxes, track.found)


def reference_name(path: str | Path) -> str:
    return Path(path).name
