"""The example workflows in workflows/ (the editor's JSON format): they parse, use only our nodes and ComfyUI
core nodes, wire matching types, and give every widget a valid value in the order the server expects."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodes import NODE_CLASS_MAPPINGS

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / "workflows").glob("*.json"))
MEDIA = Path(__file__).resolve().parents[1] / "workflows" / "media"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}

# ComfyUI core nodes the workflows may use (schemas as ComfyUI 0.8.0's /object_info reports them):
# socket inputs {name: type}, widget names in order, output types in slot order.
CORE_NODES = {
    "LoadVideo": ({}, ["file"], ["VIDEO"]),
    "GetVideoComponents": ({"video": "VIDEO"}, [], ["IMAGE", "AUDIO", "FLOAT"]),
    "LoadAudio": ({}, ["audio"], ["AUDIO"]),
    "LoadImage": ({}, ["image"], ["IMAGE", "MASK"]),
    "CreateVideo": ({"images": "IMAGE", "audio": "AUDIO", "fps": "FLOAT"}, ["fps"], ["VIDEO"]),
    "SaveVideo": ({"video": "VIDEO"}, ["filename_prefix", "format", "codec"], []),
    "PreviewImage": ({"images": "IMAGE"}, [], []),
    "UpscaleModelLoader": ({}, ["model_name"], ["UPSCALE_MODEL"]),
    "ImageUpscaleWithModel": ({"upscale_model": "UPSCALE_MODEL", "image": "IMAGE"}, [], ["IMAGE"]),
    "MarkdownNote": ({}, ["text"], []),
    "Note": ({}, ["text"], []),
}
LIP_SYNC_NODES = {"LoadWav2LipModel", "AudioToMel", "DetectFaces", "Wav2LipSync", "PasteBack"}
STREAMING_NODES = {"LoadWav2LipModel", "LipSyncVideo"}      # the long-video workflow: one node, VIDEO in and out
STREAMING_WORKFLOW = "wav2lip_long_video.json"
MEDIA_WIDGETS = {("LoadVideo", "file"), ("LoadAudio", "audio"), ("LoadImage", "image")}


def our_schema(node_type: str) -> tuple[dict, list, list, dict]:
    """(socket-or-widget inputs {name: type}, widget names in order, output types, widget specs)."""
    spec = NODE_CLASS_MAPPINGS[node_type].INPUT_TYPES()
    inputs, widgets, widget_specs = {}, [], {}
    for section in ("required", "optional"):
        for name, (kind, options) in spec.get(section, {}).items():
            kind_name = "COMBO" if isinstance(kind, list) else kind
            inputs[name] = kind_name
            if kind_name in WIDGET_TYPES | {"COMBO"} and not options.get("forceInput"):
                widgets.append(name)
                widget_specs[name] = (kind, options)
    return inputs, widgets, list(NODE_CLASS_MAPPINGS[node_type].RETURN_TYPES), widget_specs


def schema(node_type: str) -> tuple[dict, list, list]:
    if node_type in NODE_CLASS_MAPPINGS:
        return our_schema(node_type)[:3]
    return CORE_NODES[node_type]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_there_are_the_five_example_workflows():
    names = {path.name for path in WORKFLOWS}
    assert names == {"wav2lip_video_and_speech.json", "wav2lip_still_image_talking_head.json",
                     "wav2lip_video_original_settings.json", "wav2lip_sharper_mouth.json", STREAMING_WORKFLOW}


def test_the_sharper_mouth_workflow_puts_a_real_4x_model_between_sync_and_paste_back_with_mouth_and_color_match():
    workflow = load(WORKFLOWS[0].parent / "wav2lip_sharper_mouth.json")
    nodes = {node["id"]: node for node in workflow["nodes"]}
    by_type = {node["type"]: node for node in workflow["nodes"]}
    feeds = {(target, target_slot): (source, slot) for _, source, slot, target, target_slot, _ in workflow["links"]}
    upscale, paste, sync = by_type["ImageUpscaleWithModel"], by_type["PasteBack"], by_type["Wav2LipSync"]
    assert feeds[(upscale["id"], 1)] == (sync["id"], 0), "Upscale Image (using Model) takes Sync's generated_faces"
    assert feeds[(paste["id"], 1)] == (upscale["id"], 0), "Paste Back takes the upscaled faces"
    assert feeds[(paste["id"], 2)] == (sync["id"], 1)
    assert nodes[feeds[(upscale["id"], 0)][0]]["type"] == "UpscaleModelLoader"
    model_name = by_type["UpscaleModelLoader"]["widgets_values"][0]
    assert model_name == "RealESRGAN_x4plus.pth", "a real, freely licensed 4x model, never the random test model"
    _, widgets, _, _ = our_schema("PasteBack")
    values = dict(zip(widgets, paste["widgets_values"]))
    assert values["blend"] == "mouth" and values["color_match"] is True


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_a_workflow_names_only_our_nodes_and_core_nodes_and_uses_all_five_lip_sync_nodes_or_the_streaming_one(path):
    types = {node["type"] for node in load(path)["nodes"]}
    assert types <= set(NODE_CLASS_MAPPINGS) | set(CORE_NODES), types - set(NODE_CLASS_MAPPINGS) - set(CORE_NODES)
    assert (STREAMING_NODES if path.name == STREAMING_WORKFLOW else LIP_SYNC_NODES) <= types
    assert "SaveVideo" in types


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_link_joins_an_output_and_an_input_of_the_same_type(path):
    workflow = load(path)
    nodes = {node["id"]: node for node in workflow["nodes"]}
    assert workflow["last_link_id"] >= max(link[0] for link in workflow["links"])
    for link_id, source, slot, target, target_slot, link_type in workflow["links"]:
        _, _, outputs = schema(nodes[source]["type"])
        assert outputs[slot] == link_type, f"link {link_id}: {nodes[source]['type']} slot {slot} is {outputs[slot]}"
        assert link_id in (nodes[source]["outputs"][slot]["links"] or [])
        entry = nodes[target]["inputs"][target_slot]
        inputs, _, _ = schema(nodes[target]["type"])
        assert entry["link"] == link_id and entry["type"] == link_type
        assert inputs[entry["name"]] == link_type, f"link {link_id}: {nodes[target]['type']}.{entry['name']}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_socket_of_our_nodes_is_connected(path):
    for node in load(path)["nodes"]:
        if node["type"] not in NODE_CLASS_MAPPINGS:
            continue
        inputs, widgets, _ = schema(node["type"])
        linked = {entry["name"] for entry in node["inputs"] if entry.get("link") is not None}
        required = NODE_CLASS_MAPPINGS[node["type"]].INPUT_TYPES()["required"]
        sockets = {name for name in required if name not in widgets}
        assert sockets <= linked, f"{node['type']}: {sockets - linked} not connected"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_widget_values_are_valid_and_in_the_order_the_server_reads_them(path):
    for node in load(path)["nodes"]:
        if node["type"] not in NODE_CLASS_MAPPINGS:
            continue
        cls = NODE_CLASS_MAPPINGS[node["type"]]
        _, widgets, _, specs = our_schema(node["type"])
        values = node["widgets_values"]
        assert len(values) == len(widgets), f"{node['type']}: {len(values)} values for widgets {widgets}"
        for name, value in zip(widgets, values):
            kind, options = specs[name]
            if isinstance(kind, list):
                if value not in kind:
                    assert hasattr(cls, "VALIDATE_INPUTS") and cls.VALIDATE_INPUTS(**{name: value}) is True, \
                        f"{node['type']}.{name} = {value!r}"
            elif kind == "INT":
                assert isinstance(value, int) and options["min"] <= value <= options["max"], (name, value)
            elif kind == "FLOAT":
                assert isinstance(value, (int, float)) and options["min"] <= value <= options["max"], (name, value)
            elif kind == "BOOLEAN":
                assert isinstance(value, bool)
            elif kind == "STRING":
                assert isinstance(value, str)
        for name, value in zip(widgets, values):
            if name == "manual_box":
                assert value == "", "example workflows detect the face"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_the_media_a_workflow_loads_are_the_sample_files_shipped_in_workflows_media(path):
    for node in load(path)["nodes"]:
        _, widgets, _ = schema(node["type"])
        for name, value in zip(widgets, node.get("widgets_values", [])):
            if (node["type"], name) in MEDIA_WIDGETS:
                assert (MEDIA / value).is_file(), f"{node['type']} loads {value!r}, which is not in {MEDIA}"


@pytest.mark.parametrize("path", [path for path in WORKFLOWS if path.name != STREAMING_WORKFLOW], ids=lambda p: p.stem)
def test_the_output_video_takes_its_frame_rate_from_the_same_place_as_the_mel_chunks(path):
    workflow = load(path)
    nodes = {node["id"]: node for node in workflow["nodes"]}
    fps_sources = {}
    for link_id, source, slot, target, target_slot, link_type in workflow["links"]:
        entry = nodes[target]["inputs"][target_slot]
        if entry["name"] == "fps":
            fps_sources[nodes[target]["type"]] = (source, slot)
    assert "CreateVideo" in fps_sources
    create_source = fps_sources["CreateVideo"]
    audio_to_mel = next(node for node in workflow["nodes"] if node["type"] == "AudioToMel")
    assert create_source in (fps_sources.get("AudioToMel"), (audio_to_mel["id"], 2))


def test_the_video_workflow_scores_paste_backs_result_and_previews_the_plot():
    workflow = load(next(path for path in WORKFLOWS if path.name == "wav2lip_video_and_speech.json"))
    nodes = {node["id"]: node for node in workflow["nodes"]}
    (score,) = [node for node in workflow["nodes"] if node["type"] == "LipSyncScore"]
    feeds = {nodes[target]["inputs"][target_slot]["name"]: nodes[source]["type"]
             for _, source, _, target, target_slot, _ in workflow["links"] if target == score["id"]}
    assert feeds["images"] == "PasteBack" and feeds["sync"] == "Wav2LipSync"
    plot_targets = [nodes[target]["type"] for _, source, slot, target, _, _ in workflow["links"]
                    if source == score["id"] and slot == score["outputs"].index(
                        next(output for output in score["outputs"] if output["name"] == "plot"))]
    assert plot_targets == ["PreviewImage"]


def test_the_long_video_workflow_streams_load_video_through_lip_sync_video_into_save_video():
    workflow = load(MEDIA.parent / STREAMING_WORKFLOW)
    nodes = {node["id"]: node for node in workflow["nodes"]}
    (lip_sync,) = [node for node in workflow["nodes"] if node["type"] == "LipSyncVideo"]
    feeds = {nodes[target]["inputs"][target_slot]["name"]: nodes[source]["type"]
             for _, source, _, target, target_slot, _ in workflow["links"] if target == lip_sync["id"]}
    assert feeds == {"video": "LoadVideo", "audio": "LoadAudio", "wav2lip_model": "LoadWav2LipModel"}
    assert [nodes[target]["type"] for _, source, _, target, _, _ in workflow["links"]
            if source == lip_sync["id"]] == ["SaveVideo"]
    assert not {"GetVideoComponents", "CreateVideo", "PreviewImage"} & {node["type"] for node in nodes.values()}, \
        "no node that holds the clip as images"
    _, widgets, _, specs = our_schema("LipSyncVideo")
    values = dict(zip(widgets, lip_sync["widgets_values"]))
    detectors = {dict(zip(our_schema("DetectFaces")[1], node["widgets_values"]))["detector"]
                 for path in WORKFLOWS for node in load(path)["nodes"] if node["type"] == "DetectFaces"}
    assert detectors == {values["detector"]}, "the same detector as the other example workflows"
    defaults = {name: options.get("default", kind[0] if isinstance(kind, list) else None)
                for name, (kind, options) in specs.items()}
    assert {name: value for name, value in values.items() if name != "detector"} == \
        {name: value for name, value in defaults.items() if name != "detector"}, "every other option at its default"
