"""Each chosen person's face box on every frame: the second pass, one walk through the clip for everyone.

The boxes come from the ordinary key-frame walk (detection/keyframes.py), one walk per person, all stepped
together over one reading of the clip, with the survey's faces (tracks/survey.py) as known detections: on a key
frame the person's own face is followed (or none, where the person is not there); on a frame a walk detects
anew, each face is given to the track of that shot whose expected place (its key-frame boxes, linear in between)
is nearest, and the person's face is the one given to their track within MAX_SHIFT box sizes of where it was
expected. A frame detected for one person is not detected again for another. A frame where the person is not
seen is never given another face's box: "nearest" borrowing is turned into "skip" (the frame stays as it came),
"error" stays an error. Between two key frames where the person is missing on one side, every frame is detected
(they enter or leave there); where they are missing on both, only in a shot where they appear at all.

Frames are uint8 RGB (H, W, 3) 0..255; boxes are (y1, y2, x1, x2) int64 full-resolution pixels.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..detection.boxes import interpolate_between_keyframes, missing_face_message
from ..detection.common import FaceDetector, FaceNotDetectedError, FaceTrack
from ..detection.keyframes import KeyframeWalk, unsure_ranges, walk_in_one_pass
from ..detection.options import DetectionOptions
from ..detection.track import checked_frame, detector_scale, faces_in_frames, finish_boxes
from .survey import FaceSurvey

# A face found between key frames is the person's when it lies within this many box sizes of where their track
# was expected (the key frames are up to detect_every frames apart; a face moves less than its size in that time).
MAX_SHIFT = 1.0


def centre_distance(face: np.ndarray, expected: np.ndarray) -> float:
    """How far a (y1, y2, x1, x2) face's centre lies from an expected box's, in that box's longer sides."""
    size = max(1.0, float(expected[1] - expected[0]), float(expected[3] - expected[2]))
    return float(np.hypot((face[0] + face[1] - expected[0] - expected[1]) / 2,
                          (face[2] + face[3] - expected[2] - expected[3]) / 2)) / size


class PersonChooser:
    """The person's face on a frame, of all the faces found on it (see the module text)."""

    def __init__(self, survey: FaceSurvey, tracks: dict[int, float]):
        self.survey, self.tracks = survey, tracks
        self.shots = {survey.tracks[t].shot for t in tracks}
        self.boxes: dict[int, np.ndarray] = {}
        for frame, labels in survey.labels.items():
            mine = [(tracks[int(label)], k) for k, label in enumerate(labels) if int(label) in tracks]
            if mine:
                self.boxes[frame] = survey.faces[frame][min(mine)[1]]

    def _expected(self, index: int) -> list[tuple[int, np.ndarray]]:
        """(track id, where its face should be on frame ``index``: linear between its key frames around it, or
        its nearest key frame's box) for every track of the frame's shot."""
        shot = self.survey.shot_of(index)
        return [(track.id, track.boxes_between(np.array([index]))[0]) for track in self.survey.tracks
                if track.shot == shot]

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


class _Follower:
    """One person's walk: boxes (N, 4), found (N,), detected (N,) filled as frames are detected or followed."""

    def __init__(self, frames: Sequence[np.ndarray], chooser: PersonChooser, detect: Callable, on_missing: str):
        count = len(frames)
        self.chooser, self._detect, self.on_missing = chooser, detect, on_missing
        self.boxes = np.zeros((count, 4), np.int64)
        self.found = np.zeros(count, bool)
        self.detected = np.zeros(count, bool)
        self.walk = KeyframeWalk(frames, self.boxes, self.found, self.detected, self.detect)
        self.settled = 0          # key frames before this one have had their unsure frames detected

    def detect(self, indices: np.ndarray) -> None:
        for index, faces in zip(indices, self._detect(indices)):
            index = int(index)
            self.detected[index] = True
            box = self.chooser(index, faces)
            if box is not None:
                self.boxes[index], self.found[index] = box, True
            elif self.on_missing == "error":
                raise FaceNotDetectedError(missing_face_message(index, len(self.found)), index)

    def unsure_frames(self, position: int) -> np.ndarray:
        """The frames before ``position`` between key frames without the person on one side (or on both, in a
        shot where the person appears), not detected yet; marks them settled."""
        keyframes = np.flatnonzero(self.detected[self.settled:position]) + self.settled
        if len(keyframes):
            self.settled = int(keyframes[-1])
        survey = self.chooser.survey
        ranges = [r for r in unsure_ranges(keyframes, self.found)
                  if self.found[r[0] - 1] or self.found[r[-1] + 1] or survey.shot_of(int(r[0])) in self.chooser.shots]
        return np.concatenate(ranges) if ranges else np.zeros(0, np.int64)

    def boxes_and_found(self, followed: bool) -> tuple[np.ndarray, np.ndarray]:
        if followed:
            return self.walk.followed_boxes()
        return interpolate_between_keyframes(self.boxes, self.found, np.flatnonzero(self.detected))


def follow_people(frames: Sequence[np.ndarray], survey: FaceSurvey, people: Sequence[dict[int, float]],
                  options: DetectionOptions, detector: FaceDetector,
                  progress: Callable[[int, int], None] | None = None) -> list[FaceTrack]:
    """Each person's box on every frame (found False where they are not seen), as ``options`` say; ``people``:
    per person, the survey's tracks that are that person (tracks/person.assign_tracks). ``frames`` (uint8 RGB) are
    read once, in order, whatever the number of people."""
    height, width = checked_frame(frames, 0, *np.asarray(frames[0]).shape[:2]).shape[:2]
    scale = detector_scale(detector, options, height, width)
    known = dict(survey.faces)          # every face found so far, shared by everyone's walk

    def faces_on(indices: np.ndarray) -> list[np.ndarray]:
        faces = faces_in_frames(frames, indices, detector, scale, known)
        known.update(zip((int(i) for i in indices), faces))
        return faces

    on_missing = "skip" if options.on_missing == "nearest" else options.on_missing
    followers = [_Follower(frames, PersonChooser(survey, tracks), faces_on, on_missing) for tracks in people]
    followed = options.tracking == "flow" and int(options.detect_every) > 1

    def detect_unsure(position: int) -> None:
        wanted = [follower.unsure_frames(position) for follower in followers]
        batch = int(options.batch_size)
        every = np.unique(np.concatenate(wanted)) if wanted else np.zeros(0, np.int64)
        for start in range(0, len(every), batch):           # one detector call per batch for everyone
            faces_on(every[start:start + batch])
        for follower, indices in zip(followers, wanted):
            if len(indices):
                follower.detect(indices)

    walk_in_one_pass(frames, [f.walk for f in followers], np.array(sorted(survey.faces), np.int64),
                     int(options.detect_every), getattr(detector, "batch_size", 1), follow=followed, progress=progress,
                     after_block=detect_unsure)
    tracks = []
    for follower in followers:
        boxes, found = follower.boxes_and_found(followed)
        boxes, found = finish_boxes(boxes, found, options.with_changes(on_missing=on_missing), height, width,
                                    survey.shot_starts.tolist())
        tracks.append(FaceTrack(boxes, found))
    return tracks
