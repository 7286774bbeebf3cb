"""The example workflows in workflows/ (the editor's JSON format): they parse, use only our nodes and ComfyUI
core nodes, wire matching types, and give every widget a valid value in the order the server expects."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodes import NODE_CLASS_MAPPINGS
from nodes.loader import validate_choice

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
STREAMING_WORKFLOW = "Wav2Lip 5. Long video.json"
TWO_SPEAKERS_WORKFLOW = "Wav2Lip 6. Two speakers.json"
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


def test_there_are_the_six_example_workflows():
    names = {path.name for path in WORKFLOWS}
    assert names == {"Wav2Lip 1. Video lip sync.json", "Wav2Lip 2. Talking portrait.json",
                     "Wav2Lip 4. Original settings.json", "Wav2Lip 3. Sharper mouth.json", STREAMING_WORKFLOW,
                     TWO_SPEAKERS_WORKFLOW}


def test_the_two_speakers_workflow_chains_two_passes_each_with_its_own_photo_and_speech():
    """The second pass detects and pastes onto the first pass's result; each pass has its own reference photo
    and speech file; the video keeps its own sound (the conversation)."""
    workflow = load(WORKFLOWS[0].parent / TWO_SPEAKERS_WORKFLOW)
    nodes = {node["id"]: node for node in workflow["nodes"]}
    feeds = {}
    for _, source, _, target, target_slot, _ in workflow["links"]:
        feeds[(target, nodes[target]["inputs"][target_slot]["name"])] = source
    first, second = sorted((node for node in workflow["nodes"] if node["type"] == "PasteBack"), key=lambda n: n["pos"][1])
    detect = {paste["id"]: feeds[(feeds[(paste["id"], "sync")], "faces")] for paste in (first, second)}
    assert nodes[feeds[(second["id"], "images")]] is first
    assert nodes[feeds[(detect[second["id"]], "images")]] is first
    assert nodes[feeds[(first["id"], "images")]]["type"] == "GetVideoComponents"
    photos = {nodes[feeds[(detect[paste["id"]], "reference")]]["widgets_values"][0] for paste in (first, second)}
    speech = {nodes[feeds[(feeds[(feeds[(paste["id"], "sync")], "mel")], "audio")]]["widgets_values"][0]
              for paste in (first, second)}
    assert len(photos) == 2 and len(speech) == 2
    assert all((MEDIA / name).is_file() for name in photos | speech)
    (create,) = [node for node in workflow["nodes"] if node["type"] == "CreateVideo"]
    assert nodes[feeds[(create["id"], "images")]] is second
    assert nodes[feeds[(create["id"], "audio")]]["type"] == "GetVideoComponents"


def test_the_sharper_mouth_workflow_puts_a_real_4x_model_between_sync_and_paste_back_with_mouth_and_color_match():
    workflow = load(WORKFLOWS[0].parent / "Wav2Lip 3. Sharper mouth.json")
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
                if value not in kind:   # a model file named without its download mark: still a known model
                    assert hasattr(cls, "VALIDATE_INPUTS") and validate_choice(value, [], []) is True, \
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
def test_create_video_takes_audio_to_mels_fps_so_the_video_runs_at_the_rate_the_frames_were_made_for(path):
    """Create Video's own fps widget defaults to 30 while Wav2Lip works at Audio To Mel's rate: a typed value
    is a silent drift (72 frames at 30 fps = 2.40 s against 2.88 s of sound), so the examples wire it."""
    workflow = load(path)
    nodes = {node["id"]: node for node in workflow["nodes"]}
    feeds = {(nodes[target]["type"], nodes[target]["inputs"][target_slot]["name"]): (nodes[source]["type"], slot)
             for _, source, slot, target, target_slot, _ in workflow["links"]}
    assert feeds[("CreateVideo", "fps")] == ("AudioToMel", our_schema("AudioToMel")[2].index("FLOAT"))
    assert feeds[("CreateVideo", "images")][0] == "PasteBack"


def test_the_outputs_saved_workflows_link_by_index_keep_their_slots():
    assert NODE_CLASS_MAPPINGS["PasteBack"].RETURN_NAMES == ("images", "mask")
    assert NODE_CLASS_MAPPINGS["AudioToMel"].RETURN_NAMES[:3] == ("mel", "frame_count", "fps")


def test_the_video_workflow_scores_paste_backs_result_and_previews_the_plot():
    workflow = load(next(path for path in WORKFLOWS if path.name == "Wav2Lip 1. Video lip sync.json"))
    nodes = {node["id"]: node for node in workflow["nodes"]}
    (score,) = [node for node in workflow["nodes"] if node["type"] == "LipSyncScore"]
    feeds = {nodes[target]["inputs"][target_slot]["name"]: nodes[source]["type"]
             for _, source, _, target, target_slot, _ in workflow["links"] if target == score["id"]}
    assert feeds["images"] == "PasteBack" and feeds["sync"] == "Wav2LipSync"
    plot_targets = [nodes[target]["type"] for _, source, slot, target, _, _ in workflow["links"]
                    if source == score["id"] and slot == score["outputs"].index(
                        next(output for output in score["outputs"] if output["name"] == "plot"))]
    assert plot_targets == ["PreviewImage"]


# ------------------------------------------------------------------- how the workflows look in the editor

TITLE_HEIGHT = 30    # LiteGraph draws a node's title bar above its pos
BADGE_HEIGHT = 20    # the node-source badge ("Wav2Lip") sits above the title bar, over whatever is there
# Smallest body heights ComfyUI 0.8.0's editor (frontend 1.35) gives the core nodes: a smaller saved size is
# enlarged when the workflow opens, and could then run into the node below it.
CORE_MIN_HEIGHT = {"LoadVideo": 386, "GetVideoComponents": 66, "LoadAudio": 136, "LoadImage": 326,
                   "PreviewImage": 26, "CreateVideo": 78, "SaveVideo": 106, "MarkdownNote": 88, "Note": 88,
                   "UpscaleModelLoader": 58, "ImageUpscaleWithModel": 46}
# The canvas of a 1280x720 window, right of the editor's side bar and below its top bar (screen pixels).
SMALL_SCREEN = (60, 90, 1280, 680)
NODES_TO_CHANGE = {"LoadVideo", "LoadImage", "LoadAudio", "LoadWav2LipModel", "UpscaleModelLoader"}


def min_height(node_type: str) -> int:
    """The height the editor draws a node's body at least: a row per socket (20 px), a row per widget (22 px)."""
    if node_type not in NODE_CLASS_MAPPINGS:
        return CORE_MIN_HEIGHT[node_type]
    inputs, widgets, outputs, _ = our_schema(node_type)
    sockets = [name for name in inputs if name not in widgets]
    return 20 * max(len(sockets), len(outputs), 1) + 22 * len(widgets) + 16


def rectangle(node: dict) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) in graph units, with the title bar and the badge above it."""
    (x, y), (width, height) = node["pos"], node["size"]
    return x, y - TITLE_HEIGHT - BADGE_HEIGHT, x + width, y + height


def on_screen(node: dict, view: dict) -> tuple[float, float, float, float]:
    left, top, right, bottom = rectangle(node)
    (dx, dy), scale = view["offset"], view["scale"]
    return (left + dx) * scale, (top + BADGE_HEIGHT + dy) * scale, (right + dx) * scale, (bottom + dy) * scale


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_node_is_saved_at_least_as_tall_as_the_editor_draws_it(path):
    for node in load(path)["nodes"]:
        assert node["size"][1] >= min_height(node["type"]), f"{node['type']} (node {node['id']}) is too short"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_no_node_covers_another_with_its_body_title_bar_or_badge(path):
    nodes = load(path)["nodes"]
    for index, first in enumerate(nodes):
        a = rectangle(first)
        for second in nodes[index + 1:]:
            b = rectangle(second)
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], \
                f"{first['type']} (node {first['id']}) and {second['type']} (node {second['id']}) overlap"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_the_nodes_a_user_changes_are_on_a_small_screen_when_the_workflow_opens(path):
    """Their title bars and bodies lie inside a 1280x720 window's canvas at the view the workflow opens with
    (the sharper-mouth workflow once opened with Load Upscale Model, the node to change, off-screen)."""
    workflow = load(path)
    view = workflow["extra"]["ds"]
    left, top, right, bottom = SMALL_SCREEN
    for node in workflow["nodes"]:
        if node["type"] in NODES_TO_CHANGE:
            x1, y1, x2, y2 = on_screen(node, view)
            assert left <= x1 and x2 <= right and top <= y1 and y1 + 60 <= bottom, f"{node['type']} is off-screen"


# -------------------------------------------------------- the templates browser (Workflow > Browse Templates)

def test_template_titles_read_as_titles_and_sort_with_the_main_workflow_first():
    """ComfyUI lists a pack's workflows/*.json as templates titled by their file names (the editor also turns
    '-' and '_' into spaces in the description; a card shows about 30 characters of a title), in the server's
    directory order, or A-Z on request."""
    stems = sorted(path.stem for path in WORKFLOWS)
    for number, stem in enumerate(stems, start=1):
        assert stem.startswith(f"Wav2Lip {number}. ") and "_" not in stem and "-" not in stem, stem
        assert len(stem) <= 30, f"{stem!r} is cut short on its card"
    main = load(WORKFLOWS[0].parent / f"{stems[0]}.json")
    assert {node["type"] for node in main["nodes"]} >= {"LoadVideo", "LipSyncScore"}, "the main workflow is first"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_template_has_a_small_jpeg_thumbnail_of_the_same_name(path):
    """The templates browser shows <name>.jpg beside <name>.json as the card's picture."""
    import cv2
    import numpy as np

    thumbnail = path.with_suffix(".jpg")
    data = thumbnail.read_bytes()
    assert data[:3] == b"\xff\xd8\xff" and len(data) < 80_000, f"{thumbnail.name}: a JPEG under 80 kB"
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[1] >= 320 and picture.std() > 10, "a real picture"


# ------------------------------------------------------------- a frame-rate mismatch the pack can see, said

def shipped_prompt(name: str) -> tuple[dict, str]:
    """(the API-format prompt ComfyUI hands Paste Back as its hidden PROMPT, Paste Back's id) for a workflow."""
    workflow = load(WORKFLOWS[0].parent / name)
    sources = {link[0]: [str(link[1]), link[2]] for link in workflow["links"]}
    prompt = {str(node["id"]): {"class_type": node["type"],
                                "inputs": {entry["name"]: sources[entry["link"]] for entry in node.get("inputs", [])
                                           if entry.get("link") is not None}}
              for node in workflow["nodes"]}
    paste = next(node_id for node_id, node in prompt.items() if node["class_type"] == "PasteBack")
    return prompt, paste


def test_a_create_video_with_its_default_30_fps_after_paste_back_is_named_with_the_drift_it_causes():
    from nodes.fps_check import video_fps_mismatches

    prompt, paste = shipped_prompt("Wav2Lip 1. Video lip sync.json")
    assert video_fps_mismatches(prompt, paste, 72, 25.0) == [], "the shipped wiring passes Paste Back's fps"
    create = next(node for node in prompt.values() if node["class_type"] == "CreateVideo")
    create["inputs"]["fps"] = 30.0                       # wired by hand: Create Video keeps its default
    (message,) = video_fps_mismatches(prompt, paste, 72, 25.0)
    assert "30 fps" in message and "25 fps" in message and "2.40 s against 2.88 s" in message
    assert "Wire Audio To Mel's fps output into it" in message
    create["inputs"]["fps"] = 25.0
    assert video_fps_mismatches(prompt, paste, 72, 25.0) == []


def test_paste_back_warns_about_a_video_made_from_its_frames_at_another_rate(caplog):
    import logging

    import numpy as np
    import torch

    from nodes.types import SyncPlan

    plan = SyncPlan(source_frames=np.array([0, 1, 1]), boxes=np.tile([8, 56, 8, 56], (3, 1)),
                    found=np.ones(3, bool), frame_height=64, frame_width=64, num_input_frames=2, loop="loop",
                    fps=25.0)
    images, faces = torch.rand(2, 64, 64, 3), torch.rand(3, 96, 96, 3)
    prompt = {"9": {"class_type": "PasteBack", "inputs": {}},
              "10": {"class_type": "ImageSharpen", "inputs": {"image": ["9", 0]}},
              "11": {"class_type": "CreateVideo", "inputs": {"images": ["10", 0], "fps": 30.0}}}
    with caplog.at_level(logging.WARNING, logger="ComfyUI-Wav2Lip"):
        NODE_CLASS_MAPPINGS["PasteBack"]().paste(images, faces, plan, prompt=prompt, unique_id="9")
    assert "Create Video (node 11) uses 30 fps" in caplog.text, "found through a node in between"
    caplog.clear()
    prompt["11"]["inputs"]["fps"] = ["4", 2]                 # wired: nothing to say
    NODE_CLASS_MAPPINGS["PasteBack"]().paste(images, faces, plan, prompt=prompt, unique_id="9")
    assert caplog.text == ""


def test_wav2lip_sync_puts_audio_to_mels_rate_into_its_plan(generator, speech_16k):
    import numpy as np
    import torch

    from nodes.types import FaceBoxes

    audio = {"waveform": torch.from_numpy(speech_16k[:16000]).reshape(1, 1, -1).float(), "sample_rate": 16000}
    mel = NODE_CLASS_MAPPINGS["AudioToMel"]().convert(audio, 30.0)[0]
    faces = FaceBoxes(boxes=np.tile([0, 96, 0, 96], (2, 1)), found=np.ones(2, bool), frame_height=96,
                      frame_width=96)
    _, plan = NODE_CLASS_MAPPINGS["Wav2LipSync"]().sync(generator, faces, torch.rand(2, 96, 96, 3), mel,
                                                         batch_size=64)[:2]
    assert plan.fps == 30.0


def test_lip_sync_score_says_when_its_fps_is_not_the_rate_the_frames_were_made_for():
    import numpy as np

    from nodes.fps_check import score_fps_mismatch
    from nodes.types import SyncPlan

    plan = SyncPlan(source_frames=np.arange(3), boxes=np.tile([0, 8, 0, 8], (3, 1)), found=np.ones(3, bool),
                    frame_height=8, frame_width=8, num_input_frames=3, loop="loop", fps=25.0)
    assert "Lip Sync Score's fps is 30, but the frames were made for 25 fps" in score_fps_mismatch(30.0, plan)
    assert score_fps_mismatch(25.0, plan) is None and score_fps_mismatch(30.0, None) is None


def test_the_registry_metadata_has_what_the_comfy_registry_requires_and_says_what_the_pack_holds():
    """The Comfy Registry's pyproject.toml specification: [project] name, version, a Repository URL;
    [tool.comfy] PublisherId; DisplayName and Icon (an image address) shown on the pack's page."""
    import re
    import tomllib

    root = WORKFLOWS[0].parents[1]
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    project, comfy = meta["project"], meta["tool"]["comfy"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]{0,98}", project["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["urls"]["Repository"].startswith("https://github.com/")
    assert comfy["PublisherId"] and comfy["DisplayName"]
    counts = {5: "five", 6: "six", 7: "seven", 8: "eight"}
    assert f"{counts[len(NODE_CLASS_MAPPINGS)]} ComfyUI nodes" in project["description"]
    icon = comfy["Icon"]
    branch_path = icon.split("/main/", 1)[1]
    assert icon.startswith(project["urls"]["Repository"].replace("github.com", "raw.githubusercontent.com"))
    assert (root / branch_path).is_file(), f"the icon {branch_path} is in the repository"


def test_the_editor_extension_that_orders_the_templates_ships_with_the_pack_and_knows_their_titles():
    """ComfyUI loads every .js file of the folder the pack's WEB_DIRECTORY names; template_order.js sorts a
    template list whose titles all start with its PREFIX (checked in a real ComfyUI 0.8.0: 1, 2, 3, 4)."""
    import re

    root = WORKFLOWS[0].parents[1]
    init = (root / "__init__.py").read_text()
    folder = re.search(r'^WEB_DIRECTORY = "\./(\w+)"$', init, re.MULTILINE).group(1)
    script = (root / folder / "template_order.js").read_text()
    prefix = re.search(r'const PREFIX = "([^"]+)";', script).group(1)
    assert all(path.stem.startswith(prefix) for path in WORKFLOWS)
    assert "api.getWorkflowTemplates = " in script and ".sort(" in script


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
