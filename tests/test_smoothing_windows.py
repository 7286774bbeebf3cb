"""Box smoothing on inputs where the window's placement matters: a step (the face moves once) and a one-frame
spike (one bad detection). The centred window (default) keeps the change where it happened; the original's
forward window (box i = mean of boxes i .. i + 4, truncated, in place) moves it two frames earlier. A ramp
cannot tell them apart (every window reproduces a straight line), so these can. Every expected value below is
worked out by hand in the comments."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes import NODE_CLASS_MAPPINGS
from wav2lip_core.detection.boxes import smooth_boxes, smooth_centered, smooth_original
from wav2lip_core.detection.dlib_detectors import DlibHOGDetector   # imports dlib only when constructed
from wav2lip_core.detection.track import detect_face_boxes

WINDOW = 5
SIZE = 30                               # the face square's side in the fake-detector clips

# x1 of the face: 20 for five frames, then 30 for five frames.
STEP = [20] * 5 + [30] * 5
# Centred, r = 2: frames 2..7 average frames i-2..i+2: 20, 22, 24, 26, 28, 30; frames 0, 1 and 8, 9 use a line
# fitted to frames 0..4 (all 20) and 5..9 (all 30). The mid-point 25 stays between frames 4 and 5.
STEP_CENTRED = [20, 20, 20, 22, 24, 26, 28, 30, 30, 30]
# Forward: frame i = mean of i..i+4: 20, 22, 24, 26, 28, 30 (frames 0..5); the last four windows do not fit and
# reuse the smoothed frames 5..9, all 30. The step arrives two frames early.
STEP_FORWARD = [20, 22, 24, 26, 28, 30, 30, 30, 30, 30]

# One bad detection at frame 5 (x1 = 30 instead of 20) in an 11-frame clip.
SPIKE = [20] * 5 + [30] + [20] * 5
# Centred: the windows of frames 3..7 hold the spike: (4 * 20 + 30) / 5 = 22; the rest average only 20s (the
# end lines are fitted to frames 0..4 and 6..10, all 20). Spread symmetrically around frame 5.
SPIKE_CENTRED = [20, 20, 20, 22, 22, 22, 22, 22, 20, 20, 20]
# Forward: the windows of frames 1..5 hold the spike: 22; frame 0 and frames 6..10 average 20s (the last four
# reuse smoothed frames 6..10, all 20). Spread over the five frames up to and including the spike.
SPIKE_FORWARD = [20, 22, 22, 22, 22, 22, 20, 20, 20, 20, 20]

CASES = [pytest.param(STEP, STEP_CENTRED, STEP_FORWARD, id="step"),
         pytest.param(SPIKE, SPIKE_CENTRED, SPIKE_FORWARD, id="spike")]


def boxes_moving_sideways(x1: list[int]) -> np.ndarray:
    """(N, 4) (y1, y2, x1, x2) boxes of a SIZE x SIZE face at y = 10 whose left edge is ``x1``."""
    x1 = np.asarray(x1, np.int64)
    return np.stack([np.full_like(x1, 10), np.full_like(x1, 10 + SIZE), x1, x1 + SIZE], axis=1)


def face_square_clip(x1: list[int], height: int = 60, width: int = 100) -> np.ndarray:
    """Black uint8 RGB frames with a white SIZE x SIZE square at (10, x1)."""
    frames = np.zeros((len(x1), height, width, 3), np.uint8)
    for frame, left in zip(frames, x1):
        frame[10:10 + SIZE, left:left + SIZE] = 255
    return frames


class BrightSquareDetector:
    """A FaceDetector: the bounding box of the bright pixels of each frame, as (x1, y1, x2, y2, score)."""
    name = "bright_square"
    upscales_small_frames = False
    default_detect_size = None

    def detect(self, batch):
        results = []
        for frame in batch:
            ys, xs = np.nonzero(frame[..., 0] > 128)
            results.append(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 0.99]], np.float64))
        return results


def test_the_hand_computed_centred_and_forward_results_differ():
    assert STEP_CENTRED != STEP_FORWARD and SPIKE_CENTRED != SPIKE_FORWARD


@pytest.mark.parametrize("x1, centred, forward", CASES)
def test_the_centred_window_keeps_a_step_and_a_spike_where_they_happened(x1, centred, forward):
    boxes = boxes_moving_sideways(x1)
    np.testing.assert_array_equal(smooth_centered(boxes, WINDOW), boxes_moving_sideways(centred))


@pytest.mark.parametrize("x1, centred, forward", CASES)
def test_the_original_forward_window_moves_a_step_and_a_spike_two_frames_earlier(x1, centred, forward):
    boxes = boxes_moving_sideways(x1)
    np.testing.assert_array_equal(smooth_original(boxes, WINDOW), boxes_moving_sideways(forward))


@pytest.mark.parametrize("x1, centred, forward", CASES)
def test_smooth_boxes_uses_the_window_its_mode_names(x1, centred, forward):
    boxes, found = boxes_moving_sideways(x1), np.ones(len(x1), bool)
    np.testing.assert_array_equal(smooth_boxes(boxes, found, "centered", WINDOW), boxes_moving_sideways(centred))
    np.testing.assert_array_equal(smooth_boxes(boxes, found, "original", WINDOW), boxes_moving_sideways(forward))
    np.testing.assert_array_equal(smooth_boxes(boxes, found, "none", WINDOW), boxes)


@pytest.mark.parametrize("x1, centred, forward", CASES)
def test_the_tracker_hands_its_smoothing_mode_to_the_smoother(x1, centred, forward):
    clip = face_square_clip(x1)
    options = dict(detector=BrightSquareDetector(), pads=(0, 0, 0, 0), smooth_window=WINDOW)
    raw = detect_face_boxes(clip, smoothing="none", **options)
    np.testing.assert_array_equal(raw.boxes, boxes_moving_sideways(x1))
    assert detect_face_boxes(clip, **options).boxes.tolist() == boxes_moving_sideways(centred).tolist()  # default
    assert detect_face_boxes(clip, smoothing="centered", **options).boxes.tolist() == \
        boxes_moving_sideways(centred).tolist()
    assert detect_face_boxes(clip, smoothing="original", **options).boxes.tolist() == \
        boxes_moving_sideways(forward).tolist()


def test_the_detect_faces_node_hands_its_smoothing_mode_to_the_smoother(monkeypatch):
    """The node only names detectors, so dlib_hog's detect is replaced by the bright-square stand-in."""
    pytest.importorskip("dlib")
    monkeypatch.setattr(DlibHOGDetector, "detect", lambda self, batch: BrightSquareDetector().detect(batch))
    images = torch.from_numpy(face_square_clip(STEP)).float() / 255.0
    node = NODE_CLASS_MAPPINGS["DetectFaces"]()
    options = dict(detector="dlib_hog", pad_top=0, pad_bottom=0, pad_left=0, pad_right=0, smooth_window=WINDOW,
                   detect_size=100,          # the frames' own size: the detector sees them unscaled
                   detect_every=1)           # every frame detected: only the smoothing moves the boxes
    for mode, expected in (("centered", STEP_CENTRED), ("original", STEP_FORWARD), ("none", STEP)):
        faces, _ = node.detect(images, smoothing=mode, **options)
        assert faces.boxes.tolist() == boxes_moving_sideways(expected).tolist(), mode
