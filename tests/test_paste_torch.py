"""The tensor paths of the engine (tensor_resize, paste_torch, faces_torch, detection.device_resize) against the
numpy / OpenCV paths they stand in for, on CPU tensors: the same code runs on a GPU (bench/gpu.sh checks Paste
Back's and the crops' agreement there)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from wav2lip_core.compositing.blend import BLEND_MODES, blend_mask, paste_face
from wav2lip_core.compositing.faces import crop_face, generate_faces
from wav2lip_core.compositing.faces_torch import crop_faces
from wav2lip_core.compositing.faces_torch import generate_faces as generate_faces_from_tensors
from wav2lip_core.compositing.paste_torch import paste_faces
from wav2lip_core.compositing.tensor_resize import (area_downscale_uint8, linear_taps, resample, resample_matrices,
                                                    resize_uint8_linear)
from wav2lip_core.detection import detect_face_boxes
from wav2lip_core.detection.device_resize import DeviceResizingDetector

HEIGHT, WIDTH = 180, 240


def textured_frames(rng: np.random.Generator, count: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """uint8 RGB frames with smooth shading and fine noise (colour statistics that mean something)."""
    smooth = cv2.resize(rng.integers(0, 256, (count * 6, 8, 3), dtype=np.uint8).astype(np.float32),
                        (width, count * height), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0.0, 12.0, (count * height, width, 3))
    return np.clip(smooth + noise, 0, 255).astype(np.uint8).reshape(count, height, width, 3)


def random_boxes(rng: np.random.Generator, count: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """(count, 4) boxes of many sizes, the first touching the bottom-right corner, the second the top-left."""
    boxes = []
    for index in range(count):
        box_height, box_width = int(rng.integers(12, height)), int(rng.integers(12, width))
        top, left = int(rng.integers(0, height - box_height + 1)), int(rng.integers(0, width - box_width + 1))
        if index == 0:
            top, left = height - box_height, width - box_width
        elif index == 1:
            top, left = 0, 0
        boxes.append((top, top + box_height, left, left + box_width))
    return np.array(boxes, np.int64)


def pasted_by_paste_face(frames, faces, boxes, strengths, mode, color_match):
    expected = frames.copy()
    for frame, face, box, strength in zip(expected, faces, boxes, strengths):
        paste_face(frame, face, tuple(box), mode, color_match=color_match, strength=float(strength))
    return expected


# --- resizing like OpenCV ------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [96, 37, 400])
def test_uint8_bilinear_on_tensors_is_opencvs_bit_for_bit_at_any_size(source):
    rng = np.random.default_rng(source)
    images = rng.integers(0, 256, (4, source, source + 5, 3), dtype=np.uint8)
    heights = np.array([1, source // 2, 3 * source, 131])          # one row, half, enlarged, anything
    widths = np.array([(source + 5) // 2, 7, 2 * source + 1, 96])
    rows = linear_taps(heights, source, int(heights.max()), "cpu", horizontal=False)
    cols = linear_taps(widths, source + 5, int(widths.max()), "cpu", horizontal=True)
    from_bytes = resize_uint8_linear(torch.from_numpy(images), rows, cols).numpy()
    from_floats = resize_uint8_linear(torch.from_numpy(images.astype(np.float32) / 255.0), rows, cols).numpy()
    for index in range(4):
        expected = cv2.resize(images[index], (int(widths[index]), int(heights[index])))
        np.testing.assert_array_equal(from_bytes[index, :heights[index], :widths[index]], expected)
        np.testing.assert_array_equal(from_floats[index, :heights[index], :widths[index]], expected)


@pytest.mark.parametrize("face_size", [96, 384, 512])
def test_cubic_and_area_resampling_on_tensors_match_opencv_to_float_rounding(face_size):
    rng = np.random.default_rng(face_size)
    faces = rng.random((4, face_size, face_size, 3), dtype=np.float32)
    heights = np.array([face_size, face_size // 2, 301, 77])
    widths = np.array([face_size, face_size // 3, 650, 80])
    use_area = (face_size > 96) & (heights < face_size) & (widths < face_size)
    out = resample(torch.from_numpy(faces), resample_matrices(heights, face_size, int(heights.max()), use_area, "cpu"),
                   resample_matrices(widths, face_size, int(widths.max()), use_area, "cpu")).numpy()
    for index in range(4):
        flag = cv2.INTER_AREA if use_area[index] else cv2.INTER_CUBIC
        expected = cv2.resize(faces[index], (int(widths[index]), int(heights[index])), interpolation=flag)
        assert np.abs(out[index, :heights[index], :widths[index]] - expected).max() < 1e-4


def test_detection_copies_shrink_like_opencvs_inter_area():
    rng = np.random.default_rng(3)
    for height, width, out_height, out_width, exact in [(360, 640, 180, 320, True), (240, 480, 80, 160, True),
                                                        (300, 450, 128, 192, False)]:
        images = rng.integers(0, 256, (2, height, width, 3), dtype=np.uint8)
        shrunk = area_downscale_uint8(torch.from_numpy(images), out_height, out_width).numpy()
        for index in range(2):
            expected = cv2.resize(images[index], (out_width, out_height), interpolation=cv2.INTER_AREA)
            difference = np.abs(shrunk[index].astype(int) - expected)
            assert difference.max() == 0 if exact else difference.max() <= 1


# --- the batched paste ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("color_match", [False, True])
@pytest.mark.parametrize("face_size", [96, 384, 512])
@pytest.mark.parametrize("mode", BLEND_MODES)
def test_the_batched_paste_gives_paste_faces_pixels_within_2_of_255(mode, face_size, color_match):
    rng = np.random.default_rng(face_size + len(mode) + color_match)
    frames = textured_frames(rng, 5)
    faces = np.clip(rng.random((5, face_size, face_size, 3), dtype=np.float32) * 0.8 + 0.1, 0, 1)
    boxes = random_boxes(rng, 5)
    strengths = np.array([1.0, 0.5, 0.0, 0.25, 1.0], np.float32)
    expected = pasted_by_paste_face(frames, faces, boxes, strengths, mode, color_match)

    as_bytes = torch.from_numpy(frames.copy())
    paste_faces(as_bytes, torch.from_numpy(faces), boxes, strengths, mode, color_match=color_match)
    difference = np.abs(as_bytes.numpy().astype(int) - expected)
    assert difference.max() <= 2 and difference.mean() < 0.01

    as_image = torch.from_numpy(frames).float() / 255.0
    paste_faces(as_image, torch.from_numpy(faces), boxes, strengths, mode, color_match=color_match)
    assert np.abs((as_image * 255).round().numpy().astype(int) - expected).max() <= 2


def test_pixels_outside_the_boxes_and_frames_at_strength_0_keep_their_exact_float_values():
    rng = np.random.default_rng(5)
    image = torch.from_numpy(rng.random((3, HEIGHT, WIDTH, 3), dtype=np.float32))     # not multiples of 1/255
    before = image.clone()
    boxes = np.array([[10, 90, 20, 120], [50, 180, 100, 240], [0, 40, 0, 40]])
    paste_faces(image, torch.rand(3, 96, 96, 3), boxes, np.array([1.0, 0.0, 0.7]), "feather")
    outside = torch.ones(3, HEIGHT, WIDTH, dtype=torch.bool)
    for index, (y1, y2, x1, x2) in enumerate(boxes):
        outside[index, y1:y2, x1:x2] = False
    assert torch.equal(image[outside], before[outside])
    assert torch.equal(image[1], before[1])                                           # strength 0
    inside = image[0, 10:90, 20:120]
    assert torch.equal(inside, (inside * 255).round() / 255)                           # the box: bytes / 255


def test_the_original_paste_of_96_px_faces_is_the_originals_bit_for_bit():
    rng = np.random.default_rng(7)
    frames, faces, boxes = textured_frames(rng, 6), rng.random((6, 96, 96, 3), dtype=np.float32), random_boxes(rng, 6)
    expected = pasted_by_paste_face(frames, faces, boxes, np.ones(6), "original", False)
    pasted = torch.from_numpy(frames.copy())
    paste_faces(pasted, torch.from_numpy(faces), boxes, None, "original")
    np.testing.assert_array_equal(pasted.numpy(), expected)


@pytest.mark.parametrize("mode", BLEND_MODES)
def test_the_changed_output_is_the_blend_mask_times_the_strength_inside_each_box(mode):
    boxes = np.array([[10, 90, 20, 120], [50, 180, 100, 240]])
    changed = torch.zeros(2, HEIGHT, WIDTH)
    paste_faces(torch.zeros(2, HEIGHT, WIDTH, 3, dtype=torch.uint8), torch.rand(2, 96, 96, 3), boxes,
                np.array([1.0, 0.5]), mode, changed=changed)
    for index, ((y1, y2, x1, x2), strength) in enumerate(zip(boxes, (1.0, 0.5))):
        expected = np.zeros((HEIGHT, WIDTH), np.float32)
        expected[y1:y2, x1:x2] = blend_mask(mode, y2 - y1, x2 - x1)[:, :, 0] * strength
        np.testing.assert_allclose(changed[index].numpy(), expected, atol=1e-6)


def test_a_face_that_is_not_square_or_a_box_outside_the_frame_is_refused():
    frames = torch.zeros(1, HEIGHT, WIDTH, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="square"):
        paste_faces(frames, torch.rand(1, 96, 80, 3), np.array([[0, 50, 0, 50]]))
    with pytest.raises(ValueError, match="inside"):
        paste_faces(frames, torch.rand(1, 96, 96, 3), np.array([[150, 200, 0, 50]]))


# --- crops and the generator ---------------------------------------------------------------------------------

def test_crops_cut_from_tensors_are_crop_faces_bytes():
    rng = np.random.default_rng(11)
    frames, boxes = textured_frames(rng, 6), random_boxes(rng, 6)
    boxes[2] = (0, 192 // 2, 0, 192)                     # exactly twice the crop's width
    expected = np.stack([crop_face(frame, tuple(box)) for frame, box in zip(frames, boxes)])
    np.testing.assert_array_equal(crop_faces(torch.from_numpy(frames), boxes).numpy(), expected)
    np.testing.assert_array_equal(crop_faces(torch.from_numpy(frames).float() / 255.0, boxes).numpy(), expected)


def test_the_generator_fed_from_tensors_gives_generate_faces_faces(wav2lip_model):
    rng = np.random.default_rng(13)
    crops = rng.integers(0, 256, (3, 96, 96, 3), dtype=np.uint8)
    chunks = rng.standard_normal((3, 80, 16)).astype(np.float32)
    expected = generate_faces(wav2lip_model, crops, chunks)
    got = generate_faces_from_tensors(wav2lip_model, torch.from_numpy(crops), chunks)
    np.testing.assert_array_equal(got.numpy(), expected)


# --- detection copies made by the detector ----------------------------------------------------------------------

class BrightestSpotDetector:
    """A stand-in for S3FD: one 'face' around the brightest pixel of each frame, in that frame's pixels."""
    name, upscales_small_frames, default_detect_size, batch_size = "s3fd", False, 64, 4
    device = torch.device("cpu")

    def _find(self, frame: np.ndarray) -> np.ndarray:
        y, x = np.unravel_index(int(np.argmax(frame.astype(np.int32).sum(axis=2))), frame.shape[:2])
        return np.array([[x - 10.3, y - 12.6, x + 11.2, y + 9.9, 0.9]])

    def detect(self, frames):
        return [self._find(np.asarray(frame)) for frame in frames]

    def detect_tensor(self, frames: torch.Tensor):
        return self.detect(list(frames.numpy()))


def test_detection_copies_made_on_the_device_give_the_trackers_own_boxes():
    rng = np.random.default_rng(17)
    frames = np.stack([cv2.GaussianBlur(frame, (0, 0), 6) for frame in textured_frames(rng, 6, 256, 384)])
    for detect_size in (64, 96, 128):                   # shrink 6x, 4x, 3x
        stand_in = BrightestSpotDetector()
        stand_in.default_detect_size = detect_size
        expected = detect_face_boxes(frames, detector=stand_in, smoothing="none", on_missing="skip")
        got = detect_face_boxes(frames, detector=DeviceResizingDetector(stand_in, detect_size), smoothing="none",
                                on_missing="skip")
        np.testing.assert_array_equal(got.boxes, expected.boxes)
        assert got.found.all() and expected.found.all()
