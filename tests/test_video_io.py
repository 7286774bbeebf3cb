"""Video files in and out: lazy decoding in any access order, the original's preprocessing, mp4 writing."""
from __future__ import annotations

import cv2
import numpy as np

from conftest import SAMPLES, astronaut_clip
from wav2lip_core.schedule import source_frame_indices
from wav2lip_core.video.reading import VideoFrames, frame_preprocessor, is_image_path, read_video
from wav2lip_core.video.writing import Mp4Writer

CLIP = SAMPLES / "wav2lip_sample_face.mp4"


def test_lazy_frames_equal_the_fully_decoded_video_in_loop_and_pingpong_order():
    decoded, fps = read_video(CLIP)
    lazy = VideoFrames(CLIP, window=8)
    assert len(lazy) == len(decoded) and fps == 25
    for loop in ("loop", "pingpong"):
        for index in source_frame_indices(len(lazy), 2 * len(lazy) + 30, loop=loop):
            np.testing.assert_array_equal(lazy[index], decoded[index])


def test_lazy_frames_hold_only_a_window_in_memory_however_many_passes_and_orders_read_them():
    decoded, _ = read_video(CLIP)
    lazy = VideoFrames(CLIP, window=8)
    orders = [range(len(lazy)), range(len(lazy)), range(len(lazy) - 1, -1, -1), range(len(lazy))]
    for order in orders:            # e.g. finding faces, following people, then lip-syncing in ping-pong order
        for index in order:
            np.testing.assert_array_equal(lazy[index], decoded[index])
        assert len(lazy._cache) <= 8, "a restart drops the frames the previous pass left"


def test_the_limit_caps_the_frames_used():
    assert len(VideoFrames(CLIP, limit=10)) == 10


def test_counting_stops_at_the_limit_and_goes_on_when_more_frames_are_asked_for(monkeypatch):
    """A long video under short speech is not decoded to its end just to be counted."""
    from wav2lip_core.video import reading as video_io

    assert video_io.count_video_frames(CLIP, 25.0, limit=7) == 7
    assert video_io.count_video_frames(CLIP, 25.0, limit=10**6) == video_io.count_video_frames(CLIP, 25.0) == 100
    counted_up_to = []
    count = video_io.count_video_frames
    monkeypatch.setattr(video_io, "count_video_frames",
                        lambda path, fps, limit=None: counted_up_to.append(limit) or count(path, fps, limit))
    lazy = VideoFrames(CLIP, limit=10)
    assert (len(lazy), lazy.num_available, lazy.fully_counted, counted_up_to) == (10, 10, False, [10])
    assert len(lazy.limit_to(5)) == 5 and counted_up_to == [10]             # fewer: nothing counted again
    assert len(lazy.limit_to(40)) == 40 and counted_up_to == [10, 40]       # more: counted on, that far
    assert len(lazy.limit_to(10**6)) == 100 and lazy.fully_counted          # past the end: every frame
    np.testing.assert_array_equal(lazy[99], read_video(CLIP)[0][99])


def test_preprocessing_resizes_then_rotates_clockwise_then_crops_like_the_original():
    frame = astronaut_clip(1, size=120)[0][:, :100]             # 120 high, 100 wide
    preprocess = frame_preprocessor(2, True, [5, -1, 0, 40])
    expected = cv2.resize(frame, (50, 60))                       # (W // 2, H // 2)
    expected = np.rot90(expected, k=-1)[5:, 0:40]                # clockwise, then crop
    np.testing.assert_array_equal(preprocess(frame), expected)
    assert frame_preprocessor(1, False, [0, -1, 0, -1]) is None


def test_odd_sized_frames_are_written_and_read_back_padded_to_even(tmp_path):
    frames = astronaut_clip(5, size=63)
    with Mp4Writer(tmp_path / "odd.mp4", 63, 63, 25) as writer:
        writer.write(frames)
    decoded, fps = read_video(tmp_path / "odd.mp4")
    assert decoded.shape == (5, 64, 64, 3) and fps == 25
    assert np.abs(decoded[:, :63, :63].astype(int) - frames).mean() < 8   # lossy 4:2:0, but not shifted


def test_images_are_recognised_by_their_real_suffix():
    assert is_image_path("./faces/portrait.v2.PNG") and not is_image_path("clip.mp4")


def test_the_limit_can_be_set_after_the_frame_rate_is_known_and_never_drops_below_one_frame():
    lazy = VideoFrames(CLIP)
    assert lazy.info.fps == 25 and lazy.info.width == lazy[0].shape[1]
    assert len(lazy.limit_to(12)) == 12
    assert len(lazy.limit_to(0)) == 1
    assert len(lazy.limit_to(10**6)) == len(read_video(CLIP)[0])


def test_frames_written_in_many_batches_come_back_in_order(tmp_path):
    """The writer feeds ffmpeg from a background thread; order and count are kept."""
    frames = astronaut_clip(12, size=64)
    frames[:, :8, :8] = np.arange(12, dtype=np.uint8)[:, None, None, None] * 20   # a frame number in the corner
    with Mp4Writer(tmp_path / "batches.mp4", 64, 64, 25) as writer:
        for start in range(0, 12, 5):
            writer.write(frames[start:start + 5])
        writer.write(frames[0])                                                     # a single (H, W, 3) frame
    decoded, _ = read_video(tmp_path / "batches.mp4")
    assert len(decoded) == 13 and writer.frames_written == 13
    corner = decoded[:, 2:6, 2:6].mean(axis=(1, 2, 3))
    np.testing.assert_allclose(corner, [20 * i for i in range(12)] + [0], atol=6)


def test_a_failing_encoder_is_reported_with_ffmpegs_message_not_a_hang(tmp_path):
    import pytest

    with pytest.raises(RuntimeError, match="ffmpeg") as failure:
        with Mp4Writer(tmp_path / "out.not_a_container", 64, 64, 25) as writer:
            for _ in range(200):                        # far more than a pipe buffer holds
                writer.write(astronaut_clip(8, size=64))
    assert "not_a_container" in str(failure.value)


def test_frames_are_decoded_ahead_on_a_thread_that_ends_with_the_reader():
    import threading
    import time

    def decoders() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "video-decode"]

    before = len(decoders())
    lazy = VideoFrames(CLIP)
    first = lazy[0].copy()
    deadline = time.monotonic() + 10
    while lazy._reader._queue.qsize() < 2 and time.monotonic() < deadline:   # it runs ahead while we wait
        time.sleep(0.01)
    assert lazy._reader._queue.qsize() >= 2
    np.testing.assert_array_equal(first, read_video(CLIP)[0][0])
    lazy.close()
    assert len(decoders()) == before
    np.testing.assert_array_equal(lazy[5], read_video(CLIP)[0][5])   # reading again reopens the file
    lazy.close()
