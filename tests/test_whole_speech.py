"""The whole speech in ComfyUI: Audio To Mel gives one frame per 1/fps of the speech by default, the original's
count on request, and workflows saved before its ``length`` input still load and run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nodes import NODE_CLASS_MAPPINGS
from wav2lip_core.audio import num_output_frames, speech_mel_chunks

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / "workflows").glob("*.json"))


def two_seconds_of_speech(speech_16k: np.ndarray) -> dict:
    """AUDIO: 2.00 s of the sample speech, float32 (1, 1, 32000) at 16 kHz."""
    return {"waveform": torch.from_numpy(speech_16k[:32000].copy())[None, None], "sample_rate": 16000}


@pytest.mark.parametrize("length,frame_count", [(None, 50), ("speech", 50), ("original", 47)])
def test_audio_to_mel_covers_two_seconds_with_50_frames_and_length_original_gives_47(speech_16k, length,
                                                                                      frame_count):
    options = {} if length is None else {"length": length}
    mel, count, fps = NODE_CLASS_MAPPINGS["AudioToMel"]().convert(two_seconds_of_speech(speech_16k), 25.0,
                                                                  **options)
    assert count == mel.num_frames == len(mel.loudness_dbfs) == frame_count and fps == 25.0
    np.testing.assert_array_equal(mel.chunks, speech_mel_chunks(speech_16k[:32000], 25.0, length or "speech"))
    assert count == num_output_frames(32000, 25.0, length or "speech")


def test_the_length_input_comes_after_the_existing_inputs_and_defaults_to_the_whole_speech():
    spec = NODE_CLASS_MAPPINGS["AudioToMel"].INPUT_TYPES()
    assert list(spec["required"]) == ["audio", "fps", "offset_frames"]
    # optional: a saved prompt without it is valid (a missing required input is an error in ComfyUI)
    assert list(spec["optional"]) == ["length"]
    choices, options = spec["optional"]["length"]
    assert choices == ["speech", "original"] and options["default"] == "speech"


def test_audio_to_mel_refuses_an_unknown_length_naming_the_choices(speech_16k):
    with pytest.raises(ValueError, match=r"length must be one of \('speech', 'original'\)"):
        NODE_CLASS_MAPPINGS["AudioToMel"]().convert(two_seconds_of_speech(speech_16k), 25.0, 0, "whole")


def api_inputs(node: dict) -> dict:
    """The inputs a saved workflow's node sends, read the way the editor and the API converter read them: widget
    values by position over the widgets in INPUT_TYPES order (required, then optional); a value a workflow saved
    before an input existed is simply absent."""
    spec = NODE_CLASS_MAPPINGS[node["type"]].INPUT_TYPES()
    widgets = [name for section in ("required", "optional") for name, (kind, _) in spec.get(section, {}).items()
               if isinstance(kind, list) or kind in {"INT", "FLOAT", "STRING", "BOOLEAN"}]
    return dict(zip(widgets, node["widgets_values"]))


@pytest.mark.parametrize("path", [path for path in WORKFLOWS if '"AudioToMel"' in path.read_text()],
                         ids=lambda p: p.stem)
def test_a_workflow_saved_before_the_length_input_runs_with_the_whole_speech(path, speech_16k):
    node = next(node for node in json.loads(path.read_text())["nodes"] if node["type"] == "AudioToMel")
    saved_before = {**node, "widgets_values": node["widgets_values"][:2]}      # fps, offset_frames
    inputs = api_inputs(saved_before)
    spec = NODE_CLASS_MAPPINGS["AudioToMel"].INPUT_TYPES()
    linked = {entry["name"] for entry in node["inputs"] if entry.get("link") is not None}
    assert set(spec["required"]) <= set(inputs) | linked, "every required input has a value or a link"
    _, count, _ = NODE_CLASS_MAPPINGS["AudioToMel"]().convert(two_seconds_of_speech(speech_16k), **inputs)
    assert count == 50
    assert api_inputs(node)["length"] in ("speech", "original")     # the shipped workflow says which it wants
