"""Detection on key frames with the face followed in between (tracking="flow", the default): where the
detector runs, how close the followed boxes stay to the true face, and what makes it detect again."""
from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from test_workflows import our_schema
from wav2lip_core.detection import DEFAULT_DETECTION, DetectionOptions, detect_face_boxes
from wav2lip_core.detection.follow import Motion, colour_histogram, estimate_face_motion, is_shot_change

HEIGHT, WIDTH = 240, 320
SOURCE_FACE = (70.0, 205.0, 165.0, 285.0)     # (y1, y2, x1, x2): skimage's astronaut, hairline to chin


def camera(zoom: float, centre_x: float, centre_y: float) -> np.ndarray:
    """2x3 map astronaut pixels -> frame pixels putting the face centre at (centre_x, centre_y)."""
    face_y, face_x = (SOURCE_FACE[0] + SOURCE_FACE[1]) / 2, (SOURCE_FACE[2] + SOURCE_FACE[3]) / 2
    return np.array([[zoom, 0, centre_x - zoom * face_x], [0, zoom, centre_y - zoom * face_y]])


def filmed(matrices) -> tuple[np.ndarray, np.ndarray]:
    """(frames (N, H, W, 3) uint8 RGB, true face boxes (N, 4) float (y1, y2, x1, x2)) of the astronaut
    seen through each camera matrix."""
    from skimage.data import astronaut

    source = astronaut()
    frames = np.stack([cv2.warpAffine(source, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT_101) for m in matrices])
    y1, y2, x1, x2 = SOURCE_FACE
    boxes = np.array([[m[1, 1] * y1 + m[1, 2], m[1, 1] * y2 + m[1, 2], m[0, 0] * x1 + m[0, 2],
                       m[0, 0] * x2 + m[0, 2]] for m in matrices])
    return frames, boxes


def dolly(num_frames: int, pan_px: float = 2.0, zoom_per_frame: float = 0.004,
          start_x: float = 120) -> list[np.ndarray]:
    """A camera panning right and moving in, with a small hand-held shake."""
    return [camera(0.5 * (1 + zoom_per_frame * i), start_x + pan_px * i + 1.5 * np.sin(1.7 * i),
                   115 + 1.2 * np.sin(1.3 * i)) for i in range(num_frames)]


class TrueBoxDetector:
    """Finds the face where the clip says it is: the true box of the frame it is shown (recognised by its
    pixels), or ``override[i]`` for frame i. Records the frames it was run on."""
    name = "true_box"
    upscales_small_frames = False
    default_detect_size = None

    def __init__(self, frames: np.ndarray, boxes: np.ndarray, override: dict | None = None):
        self.frames, self.boxes, self.override = frames, boxes, override or {}
        self.seen: list[int] = []

    def detect(self, batch):
        results = []
        for frame in batch:
            index = next(i for i, candidate in enumerate(self.frames) if np.array_equal(candidate, frame))
            self.seen.append(index)
            y1, y2, x1, x2 = self.override.get(index, self.boxes[index])
            results.append(np.array([[x1, y1, x2, y2, 0.99]]))
        return results


def follow(frames, detector, **options):
    return detect_face_boxes(frames, detector=detector, pads=(0, 0, 0, 0), smoothing="none", **options)


def test_flow_between_key_frames_is_the_default_and_detect_every_one_is_the_originals_every_frame():
    assert DEFAULT_DETECTION.tracking == "flow" and DEFAULT_DETECTION.detect_every > 1
    frames, truth = filmed(dolly(12))
    for tracking in ("flow", "interpolate"):
        detector = TrueBoxDetector(frames, truth)
        track = follow(frames, detector, detect_every=1, tracking=tracking)
        assert sorted(detector.seen) == list(range(12))
        np.testing.assert_array_equal(track.boxes, truth.astype(np.int64))   # the detector's boxes, truncated
    with pytest.raises(ValueError, match="tracking"):
        DetectionOptions(tracking="kalman")


def test_a_face_followed_between_key_frames_stays_within_two_pixels_of_its_true_box():
    frames, truth = filmed(dolly(30))
    detector = TrueBoxDetector(frames, truth)
    track = follow(frames, detector, detect_every=10)
    assert sorted(detector.seen) == [0, 10, 20, 29]
    assert track.found.all()
    assert np.abs(track.boxes - truth).max() <= 2.0


def test_interpolating_instead_of_following_is_further_off_on_the_same_clip():
    """The case for the flow: a hand-held camera does not move in straight lines between key frames."""
    frames, truth = filmed([camera(0.5, 150 + 25 * np.sin(i / 3), 115) for i in range(21)])
    followed = follow(frames, TrueBoxDetector(frames, truth), detect_every=10)
    interpolated = follow(frames, TrueBoxDetector(frames, truth), detect_every=10, tracking="interpolate")
    assert np.abs(followed.boxes - truth).max() <= 2.0
    assert np.abs(interpolated.boxes - truth).max() > 10


def test_a_key_frame_that_differs_a_little_from_the_followed_box_is_eased_in_without_a_jump():
    """Detectors disagree with themselves by a few pixels from frame to frame; the difference found at a key
    frame is spread over the frames since the last one."""
    frames, truth = filmed(dolly(21))
    shifted = {10: truth[10] + 6.0}
    track = follow(frames, TrueBoxDetector(frames, truth, override=shifted), detect_every=10)
    offset = track.boxes - truth
    np.testing.assert_allclose(offset[10], 6.0, atol=1.0)
    assert np.abs(np.diff(offset, axis=0)).max() <= 2.0            # about 6 / 10 px a frame, never 6 at once


def test_a_change_of_shot_is_told_apart_from_camera_motion():
    from skimage.data import chelsea

    frames, _ = filmed(dolly(3, pan_px=8.0))
    other_shot = cv2.resize(chelsea(), (WIDTH, HEIGHT))
    assert not is_shot_change(colour_histogram(frames[0]), colour_histogram(frames[2]))
    assert is_shot_change(colour_histogram(frames[2]), colour_histogram(other_shot))


def test_a_cut_is_detected_on_both_sides_and_no_box_slides_across_it():
    before, truth_before = filmed(dolly(12))
    after, truth_after = filmed([camera(0.4, 230 - i, 100) for i in range(12)])
    frames, truth = np.concatenate([before, after]), np.concatenate([truth_before, truth_after])
    detector = TrueBoxDetector(frames, truth)
    track = follow(frames, detector, detect_every=50)
    assert {11, 12} <= set(detector.seen) and len(detector.seen) <= 5
    assert np.abs(track.boxes - truth).max() <= 2.0


def colour_graded(frame: np.ndarray) -> np.ndarray:
    """The same picture through a cold grade (red and blue swapped, lifted, tinted): another camera's look."""
    graded = 255 * (frame[..., ::-1].astype(np.float32) / 255) ** 0.6 * np.array([0.7, 0.9, 1.3])
    return np.clip(graded, 0, 255).astype(np.uint8)


def test_a_cut_the_flow_could_follow_across_is_still_detected_on_both_sides():
    """A cut to a second camera on the same moving scene: the picture continues, so the flow alone would follow
    the face across it (as it follows a pan); only the colours say that a new shot began, and a new shot's face
    is detected, not carried over from the last one."""
    frames, truth = filmed(dolly(24))
    frames[12:] = [colour_graded(frame) for frame in frames[12:]]
    assert is_shot_change(colour_histogram(frames[11]), colour_histogram(frames[12]))
    assert not is_shot_change(colour_histogram(frames[10]), colour_histogram(frames[11]))
    detector = TrueBoxDetector(frames, truth)
    track = follow(frames, detector, detect_every=50)
    assert {11, 12} <= set(detector.seen) and len(detector.seen) <= 5
    assert np.abs(track.boxes - truth).max() <= 2.0


def test_a_face_that_moves_far_is_detected_again_before_the_next_key_frame():
    frames, truth = filmed(dolly(30, pan_px=6.0, start_x=50))     # the box (about 60 px wide) moves 174 px
    detector = TrueBoxDetector(frames, truth)
    track = follow(frames, detector, detect_every=100)
    assert 3 <= len(detector.seen) <= 12
    assert np.abs(track.boxes - truth).max() <= 2.0


class WindowedFrames:
    """Frames as a lazily decoded clip gives them: it keeps the last ``window`` frames read; reading an older
    one means decoding again (counted)."""

    def __init__(self, frames: np.ndarray, window: int):
        self.frames, self.window = frames, window
        self.furthest, self.decoded_again = -1, 0

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> np.ndarray:
        if index <= self.furthest - self.window:
            self.decoded_again += 1
        self.furthest = max(self.furthest, index)
        return self.frames[index]


@pytest.mark.parametrize("detect_every", [5, 8, 20])
def test_key_frames_are_detected_in_batches_without_decoding_a_frame_twice(detect_every):
    """Key frames are detected a batch at a time, ahead of the walk, but never further ahead than a lazily
    decoded clip keeps frames (here 8); one further away is detected when the walk reaches it."""
    frames, truth = filmed(dolly(41))
    detector = TrueBoxDetector(frames, truth)
    detector.batch_size = 16
    windowed = WindowedFrames(frames, window=8)
    track = follow(windowed, detector, detect_every=detect_every)
    assert windowed.decoded_again == 0
    assert np.abs(track.boxes - truth).max() <= 2.0
    in_memory = follow(frames, TrueBoxDetector(frames, truth), detect_every=detect_every)
    np.testing.assert_array_equal(track.boxes, in_memory.boxes)


def test_where_the_flow_cannot_follow_the_face_every_frame_is_detected():
    """A flat white square has four corners: too few to follow, so the detector runs on each frame."""
    frames = np.zeros((9, 120, 160, 3), np.uint8)
    truth = np.array([[20, 50, 10 + 4 * i, 40 + 4 * i] for i in range(9)], float)
    for frame, (y1, y2, x1, x2) in zip(frames, truth.astype(int)):
        frame[y1:y2, x1:x2] = 255
    detector = TrueBoxDetector(frames, truth)
    track = follow(frames, detector, detect_every=8)
    assert sorted(detector.seen) == list(range(9))
    np.testing.assert_array_equal(track.boxes, truth.astype(np.int64))


def test_a_detection_far_from_the_followed_face_is_narrowed_down_by_detecting_halfway():
    """From frame 13 on the detector picks another face (say a larger one came in): the frames in between are
    detected until the switch is pinned to the frame, instead of sliding one box over to the other."""
    frames, truth = filmed(dolly(21))
    elsewhere = {i: truth[i] + [60, 60, -100, -100] for i in range(13, 21)}
    detector = TrueBoxDetector(frames, truth, override=elsewhere)
    track = follow(frames, detector, detect_every=10)
    expected = truth.copy()
    expected[13:] = [elsewhere[i] for i in range(13, 21)]
    assert {12, 13} <= set(detector.seen) and len(detector.seen) < 21
    assert np.abs(track.boxes - expected).max() <= 2.0


def test_a_key_frame_without_a_face_has_every_frame_around_it_detected():
    frames, truth = filmed(dolly(21))
    detector = TrueBoxDetector(frames, truth, override={10: (0, 0, 0, 0)})
    detector_without_face = _without_face_at(detector, 10)
    track = follow(frames, detector_without_face, detect_every=10, on_missing="skip")
    assert sorted(set(detector.seen)) == list(range(21))
    assert track.found.tolist() == [i != 10 for i in range(21)]
    assert np.abs(track.boxes[track.found] - truth[track.found]).max() <= 1.0


def _without_face_at(detector: TrueBoxDetector, missing: int):
    class WithoutFace:
        name, upscales_small_frames, default_detect_size = "true_box", False, None

        def detect(self, batch):
            results = detector.detect(batch)
            return [np.zeros((0, 5)) if detector.seen[len(detector.seen) - len(batch) + k] == missing else r
                    for k, r in enumerate(results)]
    return WithoutFace()


def test_the_estimated_motion_of_a_moving_face_is_its_camera_motion():
    (first, second), truth = filmed([camera(0.5, 150, 115), camera(0.55, 158, 111)])
    motion = estimate_face_motion(first, second, truth[0])
    assert motion is not None
    assert motion.scale == pytest.approx(1.1, abs=0.005)
    np.testing.assert_allclose(motion.apply(truth[0]), truth[1], atol=0.5)
    assert Motion(2.0, 3.0, -1.0).then(Motion(2.0, 3.0, -1.0).inverse()).apply(truth[0]) == \
        pytest.approx(truth[0])


def test_the_cli_and_the_node_pass_the_tracking_choice_through():
    from nodes.detect_node import DetectFaces
    from wav2lip_core.cli.run import build_parser, detection_options

    args = build_parser().parse_args(["--checkpoint", "x", "--face", "f.mp4", "--audio", "a.wav",
                                      "--tracking", "interpolate", "--detect_every", "4"])
    assert isinstance(args, argparse.Namespace)
    chosen = detection_options(args)
    assert (chosen.tracking, chosen.detect_every) == ("interpolate", 4)
    defaults = detection_options(build_parser().parse_args(["--checkpoint", "x", "--face", "f", "--audio", "a"]))
    assert (defaults.tracking, defaults.detect_every) == (DEFAULT_DETECTION.tracking, DEFAULT_DETECTION.detect_every)
    required = DetectFaces.INPUT_TYPES()["required"]
    assert list(required)[-1] == "tracking"                  # appended: saved workflows keep their values


def test_a_detect_faces_node_saved_before_tracking_existed_keeps_interpolating():
    """Such a workflow stores no tracking value, so it loads with the widget's default: what it did then. The
    shipped workflows choose flow explicitly."""
    from nodes.detect_node import DetectFaces

    tracking = DetectFaces.INPUT_TYPES()["required"]["tracking"]
    assert tracking[1]["default"] == "interpolate" != DEFAULT_DETECTION.tracking
    assert inspect.signature(DetectFaces.detect).parameters["tracking"].default == "interpolate"
    workflows = [json.loads(path.read_text()) for path in sorted((Path(__file__).parents[1] / "workflows").glob("*.json"))]
    assert sum("DetectFaces" in {node["type"] for node in workflow["nodes"]} for workflow in workflows) >= 4
    for workflow in workflows:
        nodes = [n for n in workflow["nodes"] if n["type"] == "DetectFaces"]
        assert all(dict(zip(our_schema("DetectFaces")[1], node["widgets_values"]))["tracking"] == "flow"
                   for node in nodes), workflow["id"]
