"""Face detection: real detection of a real face offline, S3FD loading and decoding, reduced-resolution and
every-k-th-frame detection, missing-face policies, face choice, pads and smoothing."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_s3fd import random_s3fd_state_dict, write_random_s3fd  # noqa: E402

from wav2lip_core.detection import (DETECTORS, FaceDetectionError, FaceNotDetectedError, FaceTrack,  # noqa: E402
                                    detect_face_boxes, fixed_box_track, make_detector)
from wav2lip_core.detection.boxes import (pad_and_clamp, select_face, smooth_boxes, smooth_centered,  # noqa: E402
                                          smooth_original)
from wav2lip_core.detection.s3fd import S3FDDetector, decode_s3fd_outputs, s3fd_weights  # noqa: E402

# skimage's astronaut: her face spans about x 180..270, y 83..187 (hairline to chin).
FACE_CROP = (slice(40, 296), slice(100, 356))          # a 256x256 head-and-shoulders crop
TRUE_FACE_IN_CROP = np.array([43, 147, 80, 170])        # (y1, y2, x1, x2) in that crop


def astronaut_frame() -> np.ndarray:
    from skimage.data import astronaut
    return np.ascontiguousarray(astronaut()[FACE_CROP])


def panned_clip(num_frames: int, step: int = 2) -> np.ndarray:
    """(N, 256, 256, 3) uint8 RGB: the crop moving right by ``step`` px a frame (edge pixels repeated)."""
    frame = astronaut_frame()
    shifted = [cv2.warpAffine(frame, np.float32([[1, 0, i * step], [0, 1, 0]]), (256, 256),
                              borderMode=cv2.BORDER_REPLICATE) for i in range(num_frames)]
    return np.stack(shifted)


def iou(a, b) -> float:
    height = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    width = max(0, min(a[3], b[3]) - max(a[2], b[2]))
    overlap = height * width
    return overlap / ((a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - overlap)


class BrightSquareDetector:
    """A stand-in detector: the bounding box of pixels brighter than 128, in the pixels it is given."""
    name = "bright_square"
    upscales_small_frames = False
    default_detect_size = None

    def __init__(self):
        self.frames_seen = 0
        self.sizes_seen: list[tuple[int, int]] = []

    def detect(self, batch):
        results = []
        for frame in batch:
            self.frames_seen += 1
            self.sizes_seen.append(frame.shape[:2])
            ys, xs = np.nonzero(frame[..., 0] > 128)
            if len(ys) == 0:
                results.append(np.zeros((0, 5)))
            else:
                results.append(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 0.99]]))
        return results


def square_clip(positions, height=120, width=160, size=30) -> np.ndarray:
    """Black frames with a white size x size square whose top-left corner is at each (y, x); None = blank."""
    frames = np.zeros((len(positions), height, width, 3), np.uint8)
    for frame, position in zip(frames, positions):
        if position is not None:
            y, x = position
            frame[y:y + size, x:x + size] = 255
    return frames


# ---------------------------------------------------------------- offline detector on a real face

def test_the_offline_detector_finds_the_astronaut_face_and_its_box_covers_the_face():
    track = detect_face_boxes(astronaut_frame()[None], detector="dlib_hog", pads=(0, 0, 0, 0))
    assert track.found.tolist() == [True]
    y1, y2, x1, x2 = track.boxes[0]
    assert iou(track.boxes[0], TRUE_FACE_IN_CROP) > 0.7
    eyes_and_mouth = [(85, 105), (85, 150), (120, 127)]   # (y, x) in the crop
    assert all(y1 <= y < y2 and x1 <= x < x2 for y, x in eyes_and_mouth)


def test_the_offline_detector_box_follows_a_small_pan_steadily():
    clip = panned_clip(8, step=2)
    track = detect_face_boxes(clip, detector="dlib_hog", pads=(0, 0, 0, 0), detect_every=1)
    assert track.found.all()
    centres_x = (track.boxes[:, 2] + track.boxes[:, 3]) / 2
    moved = centres_x - centres_x[0]
    assert np.abs(moved - 2 * np.arange(8)).max() <= 4          # follows the 14 px pan to within 4 px
    widths = track.boxes[:, 3] - track.boxes[:, 2]
    assert widths.max() - widths.min() <= 0.15 * np.median(widths)   # size steady despite HOG's coarse scales
    assert all(iou(box, TRUE_FACE_IN_CROP + [0, 0, 2 * i, 2 * i]) > 0.6 for i, box in enumerate(track.boxes))


def test_offline_detection_at_reduced_resolution_agrees_with_full_resolution():
    big = cv2.resize(astronaut_frame(), (768, 768), interpolation=cv2.INTER_CUBIC)[None]
    full = detect_face_boxes(big, detector="dlib_hog", detect_size=None, pads=(0, 0, 0, 0))
    reduced = detect_face_boxes(big, detector="dlib_hog", detect_size=384, pads=(0, 0, 0, 0))
    assert full.found.all() and reduced.found.all()
    assert iou(full.boxes[0], reduced.boxes[0]) > 0.7    # HOG scans in scale steps of about 1.2
    assert iou(reduced.boxes[0], TRUE_FACE_IN_CROP * 3) > 0.7


def test_a_missing_dlib_gives_a_message_naming_the_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)   # makes `import dlib` raise ImportError
    with pytest.raises(FaceDetectionError, match="pip install dlib-bin"):
        make_detector("dlib_hog", cache=False)


def test_an_unknown_detector_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="s3fd, dlib_hog"):
        detect_face_boxes(square_clip([(0, 0)]), detector="haar")
    assert DETECTORS[0] == "s3fd"


# ---------------------------------------------------------------- S3FD

@pytest.fixture(scope="module")
def random_s3fd_file(tmp_path_factory) -> Path:
    return write_random_s3fd(tmp_path_factory.mktemp("weights") / "s3fd.pth", seed=0)


@pytest.fixture(scope="module")
def random_s3fd(random_s3fd_file) -> S3FDDetector:
    return S3FDDetector.from_weights(random_s3fd_file)


def test_s3fd_weights_are_loaded_from_a_local_file_in_the_real_layout(random_s3fd_file):
    assert s3fd_weights(search_dirs=[random_s3fd_file.parent], allow_download=False) == random_s3fd_file
    detector = make_detector("s3fd", search_dirs=[random_s3fd_file.parent], allow_download=False, cache=False)
    expected = random_s3fd_state_dict(seed=0)
    for key, value in detector.network.state_dict().items():
        torch.testing.assert_close(value, expected[key])


def test_s3fd_weights_are_also_found_under_face_alignments_file_name(tmp_path):
    path = write_random_s3fd(tmp_path / "s3fd-619a316812.pth", seed=1)
    assert s3fd_weights(search_dirs=[tmp_path / "missing", tmp_path], allow_download=False) == path


def test_s3fd_returns_one_array_of_x1_y1_x2_y2_score_per_frame(random_s3fd):
    detector = random_s3fd
    frames = np.stack([cv2.resize(astronaut_frame(), (96, 96)), np.zeros((96, 96, 3), np.uint8)])
    results = detector.detect(frames)
    assert len(results) == 2
    for detections in results:
        assert detections.ndim == 2 and detections.shape[1] == 5
        assert (detections[:, 4] > 0.5).all() and (detections[:, 4] <= 1).all()
        assert (np.diff(detections[:, 4]) <= 0).all()                 # best first
        assert (detections[:, 2] > detections[:, 0]).all() and (detections[:, 3] > detections[:, 1]).all()
    assert len(results[0]) > 0   # random weights fire somewhere: the decode path is exercised


def test_s3fd_batched_decode_gives_face_alignments_boxes(random_s3fd, random_s3fd_file):
    from face_alignment.detection.sfd.sfd_detector import SFDDetector

    frame = cv2.resize(astronaut_frame(), (96, 96))
    ours = S3FDDetector(network=random_s3fd.network, color_order="bgr").detect([frame])[0]
    reference = SFDDetector("cpu", path_to_detector=str(random_s3fd_file))
    theirs = np.array(reference.detect_from_batch(torch.from_numpy(frame[None]).permute(0, 3, 1, 2))[0])
    assert len(ours) == len(theirs) > 0
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-3)       # the box the original keeps
    order = lambda boxes: boxes[np.lexsort(boxes.T[::-1])]  # noqa: E731  (ties in score may swap places)
    np.testing.assert_allclose(order(ours), order(theirs), rtol=1e-5, atol=1e-3)


def test_s3fd_decode_puts_a_box_on_the_anchor_that_fires():
    outputs = []
    for level, stride in enumerate((4, 8, 16, 32, 64, 128)):
        size = 256 // stride
        logits = torch.zeros(1, 2, size, size)
        logits[:, 0] = 10.0                                       # background everywhere
        outputs += [logits, torch.zeros(1, 4, size, size)]
    outputs[2][0, :, 3, 5] = torch.tensor([0.0, 10.0])            # stride 8, row 3, column 5: a face
    detections = decode_s3fd_outputs(outputs)[0]
    assert detections.shape == (1, 5)
    centre_x, centre_y, side = 8 / 2 + 5 * 8, 8 / 2 + 3 * 8, 8 * 4
    np.testing.assert_allclose(detections[0, :4], [centre_x - side / 2, centre_y - side / 2,
                                                   centre_x + side / 2, centre_y + side / 2])


def test_s3fd_decode_of_a_batch_gives_each_image_what_it_gets_alone():
    """One decode for the whole batch (one wait for the device); the middle image has no face anywhere."""
    generator = torch.Generator().manual_seed(4)
    outputs = []
    for stride in (4, 8, 16, 32, 64, 128):
        size = -(-200 // stride)
        logits = torch.randn(3, 2, size, size, generator=generator) * 2.0
        logits[1, 0], logits[1, 1] = 5.0, -5.0
        outputs += [logits, torch.randn(3, 4, size, size, generator=generator)]
    together = decode_s3fd_outputs(outputs)
    alone = [decode_s3fd_outputs([output[i:i + 1] for output in outputs])[0] for i in range(3)]
    assert len(together[0]) > 0 and len(together[1]) == 0 and len(together[2]) > 0
    for batched, single in zip(together, alone):
        np.testing.assert_array_equal(batched, single)


def test_s3fd_without_a_file_and_without_downloads_says_which_file_to_put_where(tmp_path):
    with pytest.raises(FaceDetectionError) as error:
        make_detector("s3fd", search_dirs=[tmp_path / "weights"], allow_download=False, cache=False)
    assert "s3fd.pth" in str(error.value) and str(tmp_path / "weights") in str(error.value)
    assert "dlib_hog" in str(error.value)


class OutOfMemoryAboveTwo(torch.nn.Module):
    """Wraps S3FD and raises CUDA-style out-of-memory for batches larger than 2."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, batch):
        if batch.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.network(batch)


def test_s3fd_halves_the_batch_on_out_of_memory_instead_of_failing(random_s3fd):
    detector = S3FDDetector(network=OutOfMemoryAboveTwo(random_s3fd.network), batch_size=8)
    detector.cpu_batch_limit = None              # batches as on a GPU (the CPU runs one frame at a time)
    frames = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    results = detector.detect(frames)
    assert detector.batch_size == 2 and len(results) == 5
    for ours, reference in zip(results, random_s3fd.detect(frames)):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-2)


def test_s3fd_runs_one_frame_at_a_time_on_the_cpu_where_batches_only_cost_memory(random_s3fd):
    seen = []

    class Recording(torch.nn.Module):
        def __init__(self, network):
            super().__init__()
            self.network = network

        def forward(self, batch):
            seen.append(batch.shape[0])
            return self.network(batch)

    detector = S3FDDetector(network=Recording(random_s3fd.network), device="cpu", batch_size=16)
    assert len(detector.detect(np.zeros((3, 32, 32, 3), np.uint8))) == 3
    assert seen == [1, 1, 1]
    seen.clear()
    detector.batch_size = 16                     # as make_detector and the CLI's --face_det_batch_size set it
    detector.detect(np.zeros((2, 32, 32, 3), np.uint8))
    assert seen == [1, 1]


def test_the_cli_path_gets_a_one_frame_s3fd_on_the_cpu(random_s3fd, monkeypatch):
    from wav2lip_core.detection import s3fd as s3fd_module
    from wav2lip_core.detection.track import make_detector

    monkeypatch.setattr(s3fd_module, "s3fd_weights", lambda *args, **kwargs: "s3fd.pth")
    monkeypatch.setattr(s3fd_module, "load_s3fd_network", lambda *args, **kwargs: random_s3fd.network)
    detector = make_detector("s3fd", device="cpu", batch_size=16, cache=False)
    assert detector.batch_size == 1


def test_s3fd_accepts_frames_smaller_than_its_coarsest_stride(random_s3fd):
    results = random_s3fd.detect(np.full((2, 12, 20, 3), 128, np.uint8))
    assert len(results) == 2 and all(r.shape[1] == 5 for r in results)


def test_s3fd_out_of_memory_on_a_single_frame_suggests_a_smaller_detect_size():
    class AlwaysOutOfMemory(torch.nn.Module):
        def forward(self, batch):
            raise torch.OutOfMemoryError("CUDA out of memory")

    detector = S3FDDetector(network=AlwaysOutOfMemory(), batch_size=4)
    with pytest.raises(FaceDetectionError, match="detect_size"):
        detector.detect(np.zeros((3, 32, 32, 3), np.uint8))


def test_s3fd_does_not_hide_a_runtime_error_that_is_not_out_of_memory():
    class Broken(torch.nn.Module):
        def forward(self, batch):
            raise RuntimeError("Given groups=1, weight of size [64, 3, 3, 3], expected input ... channels")

    with pytest.raises(RuntimeError, match="groups=1"):
        S3FDDetector(network=Broken()).detect(np.zeros((2, 32, 32, 3), np.uint8))


# ---------------------------------------------------------------- missing faces

BLANKS_INSERTED = [(10, 10), (10, 14), None, (10, 22), None, None, (10, 34)]


def test_frames_without_a_face_are_skipped_and_the_track_keeps_its_length():
    track = detect_face_boxes(square_clip(BLANKS_INSERTED), detector=BrightSquareDetector(), on_missing="skip",
                              pads=(0, 0, 0, 0), smoothing="none")
    assert len(track) == len(BLANKS_INSERTED)
    assert track.found.tolist() == [p is not None for p in BLANKS_INSERTED]
    assert (track.boxes[~track.found] == 0).all()
    assert track.boxes[3].tolist() == [10, 40, 22, 52]


def test_nearest_borrows_the_box_of_the_nearest_frame_with_a_face():
    track = detect_face_boxes(square_clip(BLANKS_INSERTED), detector=BrightSquareDetector(), on_missing="nearest",
                              pads=(0, 0, 0, 0), smoothing="none")
    assert track.found.all()
    x1 = track.boxes[:, 2].tolist()
    assert x1 == [10, 14, 14, 22, 22, 34, 34]   # frame 2: tie -> earlier; frame 4 -> 3; frame 5 -> 6


def test_nearest_leaves_frames_beyond_the_maximum_gap_without_a_face():
    positions = [(10, 10)] + [None] * 5 + [(10, 20)]
    track = detect_face_boxes(square_clip(positions), detector=BrightSquareDetector(), on_missing="nearest",
                              max_missing_gap=2, smoothing="none")
    assert track.found.tolist() == [True, True, True, False, True, True, True]


def test_the_error_policy_names_the_first_frame_without_a_face():
    with pytest.raises(FaceNotDetectedError, match="frame 2") as error:
        detect_face_boxes(square_clip(BLANKS_INSERTED), detector=BrightSquareDetector(), on_missing="error")
    assert error.value.frame_index == 2


def test_a_clip_with_no_face_at_all_passes_through_with_a_warning():
    with pytest.warns(RuntimeWarning, match="no face"):
        track = detect_face_boxes(square_clip([None] * 3), detector=BrightSquareDetector())
    assert not track.found.any() and len(track) == 3


def test_real_detection_on_a_clip_with_blank_frames_inserted_does_not_crash():
    clip = panned_clip(4)
    clip = np.concatenate([clip[:2], np.zeros_like(clip[:1]), clip[2:], np.full_like(clip[:1], 90)])
    skipped = detect_face_boxes(clip, detector="dlib_hog", on_missing="skip")
    assert skipped.found.tolist() == [True, True, False, True, True, False]
    nearest = detect_face_boxes(clip, detector="dlib_hog", on_missing="nearest")
    assert nearest.found.all() and len(nearest) == 6


# ---------------------------------------------------------------- resolution, k-th frame, choice of face

def test_boxes_found_on_a_downscaled_copy_are_mapped_back_to_full_resolution():
    detector = BrightSquareDetector()
    clip = square_clip([(300, 800)], height=720, width=1280, size=200)
    track = detect_face_boxes(clip, detector=detector, detect_size=320, pads=(0, 0, 0, 0), smoothing="none")
    assert detector.sizes_seen == [(180, 320)]
    np.testing.assert_allclose(track.boxes[0], [300, 500, 800, 1000], atol=4)


def test_small_frames_are_not_enlarged_for_detectors_that_do_not_need_it():
    detector = BrightSquareDetector()
    detect_face_boxes(square_clip([(10, 10)]), detector=detector, detect_size=640)
    assert detector.sizes_seen == [(120, 160)]


def test_detecting_every_third_frame_interpolates_the_boxes_in_between():
    positions = [(10, 10 + 3 * i) for i in range(8)]
    detector = BrightSquareDetector()
    track = detect_face_boxes(square_clip(positions), detector=detector, detect_every=3, pads=(0, 0, 0, 0),
                              smoothing="none", tracking="interpolate")
    assert detector.frames_seen == 4                          # frames 0, 3, 6 and the last one, 7
    assert track.boxes[:, 2].tolist() == [10 + 3 * i for i in range(8)]


def test_around_a_keyframe_without_a_face_every_frame_is_detected():
    positions = [(10, 10 + 3 * i) for i in range(8)]
    positions[3] = None
    detector = BrightSquareDetector()
    track = detect_face_boxes(square_clip(positions), detector=detector, detect_every=3, on_missing="skip",
                              pads=(0, 0, 0, 0), smoothing="none", tracking="interpolate")
    assert track.found.tolist() == [True, True, True, False, True, True, True, True]
    assert track.boxes[track.found, 2].tolist() == [10 + 3 * i for i in range(8) if i != 3]
    assert detector.frames_seen == 8


def test_the_largest_face_is_chosen_by_default_and_an_index_counts_from_the_left():
    detections = np.array([[100, 0, 130, 30, 0.9], [0, 0, 50, 50, 0.8], [200, 0, 220, 20, 0.99]], float)
    assert select_face(detections).tolist() == [0, 0, 50, 50]
    assert select_face(detections, 0).tolist() == [0, 0, 50, 50]
    assert select_face(detections, 2).tolist() == [200, 0, 220, 20]
    assert select_face(detections, 3) is None


def test_progress_is_reported_up_to_the_number_of_frames():
    calls = []
    detect_face_boxes(square_clip([(10, 10)] * 5), detector=BrightSquareDetector(), batch_size=2, detect_every=1,
                      progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_a_list_of_frames_gives_the_same_track_as_an_array():
    clip = square_clip([(10, 10 + i) for i in range(6)])
    as_array = detect_face_boxes(clip, detector=BrightSquareDetector())
    as_list = detect_face_boxes(list(clip), detector=BrightSquareDetector())
    assert np.array_equal(as_array.boxes, as_list.boxes)


# ---------------------------------------------------------------- pads, smoothing, fixed box

def test_pads_grow_the_box_and_are_clamped_to_the_frame():
    boxes = np.array([[5, 90, 3, 50], [20, 40, 20, 40]])
    padded = pad_and_clamp(boxes, (10, 20, 5, 15), height=100, width=60)
    assert padded.tolist() == [[0, 100, 0, 60], [10, 60, 15, 55]]


def test_default_pads_add_ten_pixels_below_the_chin():
    track = detect_face_boxes(square_clip([(10, 10)]), detector=BrightSquareDetector())
    assert track.boxes[0].tolist() == [10, 50, 10, 40]


def test_centred_smoothing_has_no_lag_on_a_moving_box():
    ramp = np.stack([np.arange(0, 60, 6)] * 4, axis=1)
    assert np.array_equal(smooth_centered(ramp, 5), ramp)


def test_centred_smoothing_averages_noise_without_truncating():
    boxes = np.tile([[10, 20, 10, 20]], (7, 1))
    boxes[3] += 4
    smoothed = smooth_centered(boxes, 5)
    assert smoothed[3].tolist() == [11, 21, 11, 21]           # (4 * 10 + 14) / 5 = 10.8 -> 11, not 10


def test_centred_smoothing_also_smooths_the_first_and_last_frames():
    boxes = np.tile([[10, 20, 10, 20]], (7, 1))
    boxes[0] += 5
    boxes[-1] -= 5
    smoothed = smooth_centered(boxes, 5)
    assert 10 < smoothed[0, 0] < 15 and 5 < smoothed[-1, 0] < 10


def test_the_original_smoothing_reproduces_the_original_numbers():
    boxes = np.zeros((8, 4), np.int64)
    boxes[:, 0] = np.arange(0, 24, 3)
    assert smooth_original(boxes, 5)[:, 0].tolist() == [6, 9, 12, 15, 16, 17, 17, 17]


def test_smoothing_never_averages_across_a_frame_without_a_face():
    boxes = np.array([[0, 10, 0, 10]] * 3 + [[0, 0, 0, 0]] + [[50, 60, 50, 60]] * 3)
    found = np.array([True] * 3 + [False] + [True] * 3)
    assert np.array_equal(smooth_boxes(boxes, found, "centered", 5), boxes)


def test_a_fixed_box_is_used_verbatim_on_every_frame():
    track = fixed_box_track((5, 200, 7, 300), 4)
    assert isinstance(track, FaceTrack) and track.found.all()
    assert track.boxes.tolist() == [[5, 200, 7, 300]] * 4
    with pytest.raises(ValueError):
        fixed_box_track((50, 10, 0, 10), 1)
