"""Choosing whom to lip-sync by a photo, on real photos of distinct people (tests/group_photo.py): face tracks
followed through a pan, joined across a cut by identity (dlib's descriptor with its real weights), a person
missing from some frames, people changing places, two speakers in one pass, and the clear errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from group_photo import SHOTS, TILE, face_tile, reference_photo, scene
from wav2lip_core.checkpoints import CheckpointError
from wav2lip_core.detection import DEFAULT_DETECTION, FaceNotDetectedError, detect_face_boxes, make_detector
from wav2lip_core.pipeline import iter_lipsync, iter_lipsync_people
from wav2lip_core.tracks import people_face_boxes

OPTIONS = DEFAULT_DETECTION.with_changes(detector="dlib_hog", detect_every=4, detect_size=None)


@pytest.fixture(scope="module")
def ross_and_rachel(photo, conversation):
    clip, _ = conversation
    return people_face_boxes(clip, [("ross.png", reference_photo(photo, "ross")),
                                    ("rachel.png", reference_photo(photo, "rachel"))], OPTIONS)


def inside_tile(box: np.ndarray, corner: np.ndarray) -> bool:
    """Whether a (y1, y2, x1, x2) box's centre lies in the tile whose top-left is ``corner``."""
    centre_y, centre_x = (box[0] + box[1]) / 2, (box[2] + box[3]) / 2
    return corner[0] <= centre_y < corner[0] + TILE[0] and corner[1] <= centre_x < corner[1] + TILE[1]


def test_the_person_of_the_photo_is_followed_through_a_pan_across_a_cut_and_after_changing_places(
        ross_and_rachel, conversation):
    _, where = conversation
    for name, track in zip(("ross", "rachel"), ross_and_rachel):
        visible = where[name][:, 0] >= 0
        assert (track.found == visible).all(), f"{name}: found exactly where visible"
        for index in np.flatnonzero(visible):
            assert inside_tile(track.boxes[index], where[name][index]), f"{name}'s box on frame {index}"


def test_interpolating_between_key_frames_never_carries_the_person_across_a_cut(photo, conversation):
    clip, where = conversation
    track, = people_face_boxes(clip, [("ross.png", reference_photo(photo, "ross"))],
                               OPTIONS.with_changes(tracking="interpolate", detect_every=5))
    visible = where["ross"][:, 0] >= 0
    assert (track.found == visible).all()
    for index in np.flatnonzero(visible):
        assert inside_tile(track.boxes[index], where["ross"][index]), f"ross's box on frame {index}"


def test_only_the_chosen_face_changes_and_frames_without_the_person_come_out_unchanged(
        ross_and_rachel, conversation, wav2lip_model):
    clip, where = conversation
    ross = ross_and_rachel[0]
    chunks = np.random.default_rng(0).standard_normal((len(clip), 80, 16)).astype(np.float32)
    output = np.concatenate(list(iter_lipsync(clip, chunks, wav2lip_model, ross)))
    for index in range(len(clip)):
        if not ross.found[index]:
            assert np.array_equal(output[index], clip[index]), f"frame {index} without ross is untouched"
            continue
        y1, y2, x1, x2 = ross.boxes[index]
        outside = np.ones(clip.shape[1:3], bool)
        outside[y1:y2, x1:x2] = False
        assert np.array_equal(output[index][outside], clip[index][outside]), f"frame {index}: only ross's box"
        assert not np.array_equal(output[index, y1:y2, x1:x2], clip[index, y1:y2, x1:x2]), f"frame {index}: a mouth"
        top, left = where["rachel"][index]
        assert np.array_equal(output[index, top:top + TILE[0], left:left + TILE[1]],
                              clip[index, top:top + TILE[0], left:left + TILE[1]]), "rachel's face to the pixel"


def test_two_speakers_in_one_pass_each_get_the_mouth_of_their_own_speech(ross_and_rachel, conversation,
                                                                          wav2lip_model):
    clip, where = conversation
    ross, rachel = ross_and_rachel
    count = SHOTS[0] + SHOTS[1]
    rng = np.random.default_rng(1)
    ross_talks = np.r_[np.ones(count // 2), np.zeros(count - count // 2)].astype(np.float32)   # then rachel
    people = [(rng.standard_normal((count, 80, 16)).astype(np.float32), ross, ross_talks),
              (rng.standard_normal((count, 80, 16)).astype(np.float32), rachel, 1 - ross_talks)]
    output = np.concatenate(list(iter_lipsync_people(clip[:count], people, wav2lip_model)))
    alone = [np.concatenate(list(iter_lipsync(clip[:count], chunks, wav2lip_model, track, paste_weights=weights)))
             for chunks, track, weights in people]
    for index in range(count):
        speaker, listener = ("ross", "rachel") if ross_talks[index] else ("rachel", "ross")
        top, left = where[listener][index]
        assert np.array_equal(output[index, top:top + TILE[0], left:left + TILE[1]],
                              clip[index, top:top + TILE[0], left:left + TILE[1]]), f"{listener} silent on {index}"
        top, left = where[speaker][index]
        talking = alone[0] if speaker == "ross" else alone[1]
        region = (slice(top, top + TILE[0]), slice(left, left + TILE[1]))
        # The same network on the same crops and chunks in another batch: a rounding apart at most.
        difference = np.abs(output[index][region].astype(int) - talking[index][region])
        assert difference.max() <= 1 and (difference > 0).mean() <= 0.001, f"{speaker}'s own speech on {index}"
        assert not np.array_equal(output[index][region], clip[index][region])


class DecodedInOrder:
    """A clip read as VideoFrames reads a file: frames decoded in order, the last ``window`` kept; a frame before
    them is decoded again from a seek (a window ending at it). ``decoded`` counts every frame decoding."""

    def __init__(self, clip: np.ndarray, window: int):
        self.clip, self.window = clip, window
        self.kept: dict[int, np.ndarray] = {}
        self.next = self.decoded = 0

    def __len__(self) -> int:
        return len(self.clip)

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self.kept:
            if index < self.next:                      # a seek: decoding restarts, nothing is kept
                self.next = max(0, index - self.window + 1)
                self.kept.clear()
            while self.next <= index:
                self.kept[self.next] = self.clip[self.next].copy()
                self.kept.pop(self.next - self.window, None)
                self.next, self.decoded = self.next + 1, self.decoded + 1
        return self.kept[index]


@pytest.mark.parametrize("tracking", ["flow", "interpolate"])
def test_the_clip_is_read_twice_in_order_however_many_people_are_chosen(photo, conversation, ross_and_rachel,
                                                                        tracking):
    clip, _ = conversation
    options = OPTIONS.with_changes(tracking=tracking)
    references = [("ross.png", reference_photo(photo, "ross")), ("rachel.png", reference_photo(photo, "rachel"))]
    decoded = []
    for people in (references[:1], references):
        reader = DecodedInOrder(clip, window=8)
        tracks = people_face_boxes(reader, people, options)
        decoded.append(reader.decoded)
        if tracking == "flow":
            for track, expected in zip(tracks, ross_and_rachel):
                assert np.array_equal(track.found, expected.found)
                assert np.array_equal(track.boxes, expected.boxes), "the same boxes as from the clip in memory"
    # Every face found, then everyone followed (interpolating reads only the frames it detects between key frames).
    assert decoded[0] == decoded[1] <= 2 * len(clip), f"frames decoded for one person, for two: {decoded}"
    if tracking == "flow":
        assert decoded[0] == 2 * len(clip)


def test_progress_covers_both_readings_of_the_clip_and_a_cancel_in_the_second_one_stops_it(photo, conversation):
    clip, _ = conversation
    ross = [("ross.png", reference_photo(photo, "ross"))]
    reports = []
    people_face_boxes(clip, ross, OPTIONS, progress=lambda done, total: reports.append((done, total)))
    assert {total for _, total in reports} == {2 * len(clip)}
    assert [done for done, _ in reports] == sorted(done for done, _ in reports), "never going back"
    assert any(len(clip) < done < 2 * len(clip) for done, _ in reports), "the following reports too"
    assert reports[-1] == (2 * len(clip), 2 * len(clip))

    class Cancelled(Exception):
        pass

    def cancel_while_following(done: int, total: int) -> None:
        if done > total // 2:
            raise Cancelled
    with pytest.raises(Cancelled):
        people_face_boxes(clip, ross, OPTIONS, progress=cancel_while_following)


def test_a_person_who_is_not_in_the_video_is_an_error_naming_the_photo(photo, conversation):
    clip, _ = conversation
    with pytest.raises(ValueError, match=r"monica\.png was not found in the video"):
        people_face_boxes(clip[:SHOTS[0]], [("monica.png", reference_photo(photo, "chandler"))], OPTIONS)


def test_frames_without_the_person_stop_the_job_when_the_missing_face_policy_says_error(photo, conversation):
    clip, _ = conversation
    with pytest.raises(FaceNotDetectedError) as caught:
        people_face_boxes(clip, [("ross.png", reference_photo(photo, "ross"))],
                          OPTIONS.with_changes(on_missing="error"))
    assert caught.value.frame_index == SHOTS[0] + SHOTS[1]


def test_a_photo_without_a_face_and_one_person_given_twice_are_clear_errors(photo, conversation):
    clip, _ = conversation
    wall = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(ValueError, match=r"no face was found in the reference photo wall\.png"):
        people_face_boxes(clip, [("wall.png", wall)], OPTIONS)
    ross_again = np.ascontiguousarray(reference_photo(photo, "ross")[:, ::-1])
    with pytest.raises(ValueError, match=r"a\.png and b\.png show the same person"):
        people_face_boxes(clip, [("a.png", reference_photo(photo, "ross")), ("b.png", ross_again)], OPTIONS)


def test_a_photo_of_several_people_takes_the_largest_face_and_says_so(photo, conversation):
    clip, where = conversation
    notes = []
    ross_large = cv2.resize(reference_photo(photo, "ross"), None, fx=1.5, fy=1.5)
    rachel = face_tile(photo, "rachel")
    group = np.zeros((max(ross_large.shape[0], TILE[0]), ross_large.shape[1] + TILE[1], 3), np.uint8)
    group[:ross_large.shape[0], :ross_large.shape[1]] = ross_large
    group[:TILE[0], ross_large.shape[1]:] = rachel
    track, = people_face_boxes(clip[:SHOTS[0]], [("group.png", group)], OPTIONS, note=notes.append)
    assert any("group.png shows" in text and "largest" in text for text in notes)
    assert inside_tile(track.boxes[0], where["ross"][0])


def test_a_face_index_beyond_the_faces_there_are_is_an_error(conversation):
    clip, _ = conversation
    with pytest.raises(ValueError, match=r"face_index 5 \(face number 6 from the left\): at most 2 face\(s\) were found in a frame"):
        detect_face_boxes(clip[:SHOTS[0]], OPTIONS.with_changes(face_index=5))
    assert detect_face_boxes(clip[:SHOTS[0]], OPTIONS.with_changes(face_index=1)).found.all()


def test_identity_model_files_are_used_only_with_the_bytes_the_package_ships(tmp_path, monkeypatch):
    from wav2lip_core.checkpoints import packaged_files, read_record
    from wav2lip_core.tracks.identity import DESCRIPTOR_MODEL

    installed = packaged_files.locate_packaged_file(DESCRIPTOR_MODEL)
    copy = tmp_path / "weights" / DESCRIPTOR_MODEL
    copy.parent.mkdir()
    copy.write_bytes(installed.read_bytes())
    assert packaged_files.locate_packaged_file(DESCRIPTOR_MODEL, [copy.parent]) == copy
    assert read_record(copy)["sha256"] == packaged_files.PACKAGED_MODEL_FILES[DESCRIPTOR_MODEL].sha256
    copy.write_bytes(b"not the model" + installed.read_bytes()[13:])
    monkeypatch.setattr(packaged_files, "package_models_dir", lambda package: None)
    with pytest.raises(CheckpointError, match=r"holds other bytes.*pip install face-recognition-models"):
        packaged_files.locate_packaged_file(DESCRIPTOR_MODEL, [copy.parent])


def speaking_scene(photo: np.ndarray, speaker: str, frames: int = 40):
    """(clip, where, float32 16 kHz speech): rachel left, ross right, slowly panning; the speaker's face is a
    little brighter in every frame whose 40 ms of speech is loud, darker in the others (what the stand-in scorer
    sees of lips that move with the speech (tests/sync_stand_ins.py); too little change for a cut). The other face
    never changes."""
    clip, where = scene(photo, [("rachel", 20), ("ross", 280)], 120, frames, pan=1)
    rng = np.random.default_rng(3)
    loud = rng.integers(0, 2, frames)
    for name in ("rachel", "ross"):
        for index in range(frames):
            top, left = where[name][index]
            tile = clip[index, top:top + TILE[0], left:left + TILE[1]].astype(np.float32) * 0.6 + 58
            if name == speaker:
                tile += 12 if loud[index] else -12
            clip[index, top:top + TILE[0], left:left + TILE[1]] = np.clip(tile, 0, 255).astype(np.uint8)
    wav = (rng.standard_normal(frames * 640) * 0.001).astype(np.float32)
    for index in np.flatnonzero(loud):
        wav[index * 640 + 160:index * 640 + 480] = rng.standard_normal(320) * 0.3
    return clip, where, wav


@pytest.mark.parametrize("speaker", ["ross", "rachel"])
def test_speaking_picks_the_face_whose_lips_move_with_the_speech(photo, speaker):
    from sync_stand_ins import LoudnessBrightnessSyncNetV2

    clip, where, wav = speaking_scene(photo, speaker)
    notes = []
    track, = people_face_boxes(clip, [], OPTIONS, speaking=(wav, 25.0, LoudnessBrightnessSyncNetV2()),
                               note=notes.append)
    assert track.found.all() and any("speaking person" in text for text in notes)
    for index in range(len(clip)):
        assert inside_tile(track.boxes[index], where[speaker][index]), f"{speaker}'s box on frame {index}"


def test_between_key_frames_a_fast_moving_person_keeps_their_face_and_never_takes_a_neighbours():
    from wav2lip_core.tracks.following import PersonChooser
    from wav2lip_core.tracks.survey import FaceSurvey, Track

    # Boxes of the bench's moving-camera clip (a dolly with shake): the face moves 135 px in 10 frames, and on the
    # frame halfway the detector finds it beyond both key frames' boxes (it overlaps neither).
    person = Track(0, 0, [40, 50], [np.array([193, 433, 634, 836]), np.array([197, 397, 769, 936])])
    neighbour = Track(1, 0, [40, 50], [np.array([200, 400, 100, 300]), np.array([200, 400, 110, 310])])
    survey = FaceSurvey(60, {40: np.stack([person.boxes[0], neighbour.boxes[0]]),
                             50: np.stack([person.boxes[1], neighbour.boxes[1]])},
                        {40: np.array([0, 1]), 50: np.array([0, 1])}, [person, neighbour], np.array([0]))
    choose = PersonChooser(survey, {0: 0.1})
    halfway = np.array([197, 397, 824, 990])
    beside_the_neighbour = np.array([200, 400, 150, 350])
    assert np.array_equal(choose(45, np.stack([beside_the_neighbour, halfway])), halfway)
    assert choose(45, beside_the_neighbour[None]) is None, "the neighbour's face is never the person's"
    assert np.array_equal(choose(50, np.zeros((0, 4))), person.boxes[1]), "key frames: the survey's own face"
