"""Choosing whom to lip-sync by a photo with the S3FD detector: S3FD's boxes (the real S3FDDetector and its decoding,
the detection copy's scale mapped back to full resolution, its box style) are what dlib's descriptor (real weights)
describes and what the person's track is made of, on every frame and with the default key-frame following.

Real S3FD weights cannot be fetched here, so the detector is the real network with weights that find two faces at
set places of whatever image it sees (tests/random_s3fd.py: s3fd_finding_faces_state_dict). The clip puts real
faces of the group photo (tests/group_photo.py) exactly there: two shots, different people at the two places; the
reference photos are mirrored portraits framed like the clip (the detector only ever looks at those places).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from group_photo import PEOPLE
from random_s3fd import write_random_s3fd
from wav2lip_core.detection import DEFAULT_DETECTION, DetectionOptions, FaceTrack, detect_face_boxes
from wav2lip_core.tracks import people_face_boxes

FRAME = (240, 320)             # (height, width) of the clip's frames and of the reference photos
DETECT_SIZE = 80               # S3FD sees a quarter-size copy (fast here): its boxes are mapped back x4
# Where the detector finds its two faces, (y1, y2, x1, x2) full-resolution pixels of a FRAME-sized image; each
# of the photo's faces is scaled so that its face box (group_photo.PEOPLE, dlib's framing) lands on one of them.
PLACES = {"left": (40, 160, 20, 120), "right": (50, 158, 200, 290)}   # left is the larger: a photo's person
MARGIN = 30                    # pixels of the photo shown around a placed face
SHOT_FRAMES = 6                # shorter than detect_every: key frames at the cut and the ends only
# Who stands where in each shot (a cut between them): Chandler is in both, on the other side after the cut.
SHOTS = ({"left": "rachel", "right": "chandler", "shade": 90},
         {"left": "chandler", "right": "ross", "shade": 200})
EVERY_FRAME = DEFAULT_DETECTION.with_changes(detect_size=DETECT_SIZE, pads=(0, 0, 0, 0), detect_every=1)
# The defaults (S3FD, detection on key frames, optical-flow following in between) at the same detection size.
FOLLOWING = DEFAULT_DETECTION.with_changes(detect_size=DETECT_SIZE, pads=(0, 0, 0, 0))


def place_face(canvas: np.ndarray, photo: np.ndarray, name: str, place: str, mirrored: bool = False,
               margin: int = MARGIN) -> None:
    """Paint PEOPLE[name]'s face of the uint8 RGB photo into the uint8 RGB canvas, scaled so that its face box
    covers PLACES[place], with ``margin`` pixels of the photo around it (mirrored left to right if asked)."""
    y1, y2, x1, x2 = PEOPLE[name]
    if mirrored:
        photo = np.ascontiguousarray(photo[:, ::-1])
        x1, x2 = photo.shape[1] - x2, photo.shape[1] - x1
    top, bottom, left, right = PLACES[place]
    scale_x, scale_y = (right - left) / (x2 - x1), (bottom - top) / (y2 - y1)
    matrix = np.array([[scale_x, 0, left - scale_x * x1], [0, scale_y, top - scale_y * y1]], np.float64)
    warped = cv2.warpAffine(photo, matrix, (canvas.shape[1], canvas.shape[0]), flags=cv2.INTER_LINEAR)
    rows = slice(max(0, top - margin), min(canvas.shape[0], bottom + margin))
    columns = slice(max(0, left - margin), min(canvas.shape[1], right + margin))
    canvas[rows, columns] = warped[rows, columns]


def two_shot_clip(photo: np.ndarray) -> np.ndarray:
    """uint8 RGB (2 * SHOT_FRAMES, *FRAME, 3): the SHOTS, each a still on a flat background of its shade."""
    shots = []
    for shot in SHOTS:
        still = np.full((*FRAME, 3), shot["shade"], np.uint8)
        for place in PLACES:
            place_face(still, photo, shot[place], place)
        shots.append(np.repeat(still[None], SHOT_FRAMES, axis=0))
    return np.concatenate(shots)


def portrait(photo: np.ndarray, name: str) -> np.ndarray:
    """A uint8 RGB FRAME-sized reference photo of ``name``, not a crop of any frame of the clip: mirrored, on
    another background, more of the photo around the face, at the larger place (nothing at the other)."""
    canvas = np.full((*FRAME, 3), 150, np.uint8)
    place_face(canvas, photo, name, "left", mirrored=True, margin=MARGIN + 20)
    return canvas


@pytest.fixture(scope="module")
def clip(photo) -> np.ndarray:
    return two_shot_clip(photo)


@pytest.fixture(scope="module")
def s3fd_weights(tmp_path_factory) -> Path:
    """S3FD weights finding a face at each of PLACES, in the pixels of the DETECT_SIZE copy (x1, y1, x2, y2)."""
    scale = DETECT_SIZE / max(FRAME)
    boxes = [(x1 * scale, y1 * scale, x2 * scale, y2 * scale) for y1, y2, x1, x2 in PLACES.values()]
    return write_random_s3fd(tmp_path_factory.mktemp("weights") / "s3fd.pth", faces_at=boxes)


def where_seen(name: str) -> tuple[np.ndarray, list[str | None]]:
    """(frames on which ``name`` is in the clip, the place they stand at on each frame or None)."""
    places = [next((p for p in PLACES if shot[p] == name), None) for shot in SHOTS for _ in range(SHOT_FRAMES)]
    return np.array([p is not None for p in places]), places


def find(clip: np.ndarray, references: list[tuple[str, np.ndarray]], options: DetectionOptions,
         s3fd_weights: Path) -> list[FaceTrack]:
    """people_face_boxes as the CLI's --reference and Detect Faces' reference input run it, with the weights."""
    return people_face_boxes(clip, references, options, weights_path=s3fd_weights, allow_download=False)


def test_the_planted_detector_finds_its_two_faces_on_any_picture(s3fd_weights, clip):
    """What the rest of this file stands on: the real S3FD code finds the PLACES, whatever the pixels."""
    frames = np.stack([clip[0], np.random.default_rng(0).integers(0, 256, (*FRAME, 3), dtype=np.uint8)])
    for face_index, place in enumerate(PLACES):          # left to right
        track = detect_face_boxes(frames, EVERY_FRAME.with_changes(face_index=face_index, smoothing="none"),
                                  weights_path=s3fd_weights, allow_download=False)
        assert track.found.all() and track.faces_seen == 2
        assert np.abs(track.boxes - np.array(PLACES[place])).max() <= 2, f"{place}: {track.boxes.tolist()}"


def assert_boxed_where_seen(name: str, track: FaceTrack) -> None:
    """``track`` is found exactly on the frames ``name`` is in, each box on their face."""
    seen, places = where_seen(name)
    assert (track.found == seen).all(), f"{name} found on frames {np.flatnonzero(track.found).tolist()}"
    for index in np.flatnonzero(seen):
        assert np.abs(track.boxes[index] - np.array(PLACES[places[index]])).max() <= 2, \
            f"{name}'s box on frame {index} is {track.boxes[index].tolist()}, not their face at {places[index]}"


@pytest.mark.parametrize("name", ["rachel", "ross", "chandler"])
def test_with_the_default_following_the_person_of_the_photo_is_boxed_on_the_frames_they_are_in(
        photo, clip, s3fd_weights, name):
    """Rachel on the first shot only, Ross on the second only, Chandler on both (on the other side after the
    cut): between the key frames the box is followed (the faces stand still), and the frames of a shot without
    the person are detected one by one and given no box, though two faces are found on each."""
    track, = find(clip, [(f"{name}.png", portrait(photo, name))], FOLLOWING, s3fd_weights)
    assert_boxed_where_seen(name, track)


def test_with_s3fd_on_every_frame_the_person_of_the_photo_is_boxed_on_the_frames_they_are_in(
        photo, clip, s3fd_weights):
    track, = find(clip, [("rachel.png", portrait(photo, "rachel"))], EVERY_FRAME, s3fd_weights)
    assert_boxed_where_seen("rachel", track)


def test_a_person_never_in_the_video_is_a_one_line_error(photo, clip, s3fd_weights):
    with pytest.raises(ValueError) as error:
        find(clip, [("phoebe.png", portrait(photo, "phoebe"))], FOLLOWING, s3fd_weights)
    message = str(error.value)
    assert message.startswith("the person in phoebe.png was not found in the video") and "\n" not in message
