"""A new user's first run: the example workflows find their media in ComfyUI's input folder without a user's file
ever being replaced, a run without the weights names every missing file in one message (and the offline face
detector), and the command line, the downloader and the installer say what they do and no more."""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import json
import logging
import re
import types
from pathlib import Path

import pytest
import torch

from conftest import ROOT, SAMPLES
from nodes import model_management as mm
from nodes.sample_media import provide_sample_media, sample_media_files
from wav2lip_core import cli
from wav2lip_core.checkpoints import KNOWN_MODELS, record_path
from wav2lip_core.cli import run as cli_run
from wav2lip_core.cli.models import present_state
from wav2lip_core.models import Wav2Lip
from wav2lip_core.video.reading import VideoFrames

WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
MEDIA_WIDGETS = {"LoadVideo", "LoadAudio", "LoadImage"}


def media_the_workflows_load() -> set[str]:
    names = set()
    for path in WORKFLOWS:
        for node in json.loads(path.read_text())["nodes"]:
            if node["type"] in MEDIA_WIDGETS:
                names.add(node["widgets_values"][0])
    return names


# ------------------------------------------------------------------------------------- the examples' media

def test_the_examples_load_only_the_bundled_media_under_names_no_user_file_is_likely_to_have():
    bundled = {path.name for path in sample_media_files()}
    assert media_the_workflows_load() == bundled
    assert all(name.startswith("wav2lip_sample_") for name in bundled)


def test_the_media_are_copied_into_an_empty_input_folder_once_and_logged_once(tmp_path, caplog):
    input_dir = tmp_path / "input"
    with caplog.at_level(logging.INFO, logger="ComfyUI-Wav2Lip"):
        copied = provide_sample_media(input_dir)
        again = provide_sample_media(input_dir)
    assert sorted(copied) == sorted(media_the_workflows_load()) and again == []
    for name in copied:
        assert (input_dir / name).read_bytes() == (SAMPLES / name).read_bytes()
    assert sorted(path.name for path in input_dir.iterdir()) == sorted(copied), "no temporary file is left"
    assert len(caplog.records) == 1 and all(name in caplog.records[0].getMessage() for name in copied)


def test_a_users_file_of_the_same_name_is_never_overwritten_and_a_different_one_is_reported(tmp_path, caplog):
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    theirs = input_dir / "wav2lip_sample_speech.wav"
    theirs.write_bytes(b"the user's own recording")
    identical = input_dir / "wav2lip_sample_face.mp4"
    identical.write_bytes((SAMPLES / identical.name).read_bytes())
    with caplog.at_level(logging.INFO, logger="ComfyUI-Wav2Lip"):
        copied = provide_sample_media(input_dir)
    assert theirs.read_bytes() == b"the user's own recording"
    assert copied == sorted(path.name for path in SAMPLES.glob("wav2lip_sample_*")
                            if path.name not in {theirs.name, identical.name})
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "wav2lip_sample_speech.wav" in warnings[0] and "left as it is" in warnings[0]


def test_a_users_file_that_appears_while_a_sample_is_being_copied_is_never_overwritten(tmp_path, monkeypatch):
    """The user saves a file of a sample's name after the pack looked (nothing there) and before the copy lands:
    the user's file stays, the sample is not put in its place, and no temporary file is left."""
    import shutil

    from nodes import sample_media

    input_dir = tmp_path / "input"
    input_dir.mkdir()
    real_copyfile = shutil.copyfile

    def copy_while_the_user_saves(source, destination):
        real_copyfile(source, destination)
        (input_dir / Path(source).name).write_bytes(b"the user's file, saved meanwhile")
        return destination

    monkeypatch.setattr(sample_media.shutil, "copyfile", copy_while_the_user_saves)
    assert provide_sample_media(input_dir) == []
    names = sorted(path.name for path in sample_media_files())
    assert sorted(path.name for path in input_dir.iterdir()) == names
    assert all((input_dir / name).read_bytes() == b"the user's file, saved meanwhile" for name in names)


def test_an_input_folder_that_cannot_be_written_is_a_warning_not_a_failed_start(tmp_path, caplog):
    not_a_folder = tmp_path / "input"
    not_a_folder.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="ComfyUI-Wav2Lip"):
        assert provide_sample_media(not_a_folder) == []
    assert "could not copy" in caplog.text


def test_importing_the_nodes_inside_comfyui_puts_the_media_in_its_input_folder(tmp_path):
    """The pack's import does it (ComfyUI lists the input folder only after the custom nodes are imported)."""
    import nodes

    fake_folder_paths = types.SimpleNamespace(
        get_input_directory=lambda: str(tmp_path / "input"), models_dir=str(tmp_path / "models"),
        folder_names_and_paths={})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mm, "IN_COMFYUI", True)
        patch.setattr(mm, "folder_paths", fake_folder_paths)
        importlib.reload(nodes)
    importlib.reload(nodes)                                            # back to the plain import
    assert sorted(path.name for path in (tmp_path / "input").iterdir()) == sorted(media_the_workflows_load())


def test_the_demo_script_runs_on_the_bundled_media():
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    used = re.findall(r"workflows/media/(\S+?)(?=[\s\"'\\]|$)", demo.split("exec", 1)[1])
    assert sorted(used) == ["wav2lip_sample_face.mp4", "wav2lip_sample_speech.wav"]
    assert all((SAMPLES / name).is_file() for name in used)


# ------------------------------------------------------------------------------- one message for all missing

@pytest.fixture()
def offline_empty_weights(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setattr(cli_run, "pack_weights_dir", lambda: weights)
    monkeypatch.setattr(cli_run, "reuse_freed_heap_memory", lambda: False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return weights


def run_demo_job(tmp_path, capsys, *extra: str) -> tuple[int, str]:
    status = cli.main(["--checkpoint", "wav2lip_gan", "--face", str(SAMPLES / "wav2lip_sample_face.mp4"),
                       "--audio", str(SAMPLES / "wav2lip_sample_speech.wav"), "--outfile", str(tmp_path / "o.mp4"),
                       *extra])
    return status, capsys.readouterr().err


def test_offline_without_weights_one_message_names_both_files_where_to_put_them_and_the_offline_detector(
        tmp_path, capsys, offline_empty_weights):
    status, message = run_demo_job(tmp_path, capsys)
    assert status == 1 and "Traceback" not in message
    assert message.count("error:") == 1
    for text in ("wav2lip_gan.pth", "s3fd.pth", str(offline_empty_weights), "--detector dlib_hog", "huggingface.co"):
        assert text in message, text
    assert not (tmp_path / "o.mp4").exists()


def test_with_the_offline_detector_only_the_generator_is_asked_for(tmp_path, capsys, offline_empty_weights):
    status, message = run_demo_job(tmp_path, capsys, "--detector", "dlib_hog")
    assert status == 1 and "wav2lip_gan.pth" in message and "s3fd" not in message


def test_a_missing_detector_package_is_named_in_the_same_message(tmp_path, capsys, offline_empty_weights,
                                                                 monkeypatch):
    from wav2lip_core.cli import checks

    real_find_spec = checks.importlib.util.find_spec
    monkeypatch.setattr(checks.importlib.util, "find_spec",
                        lambda name, *rest: None if name == "dlib" else real_find_spec(name, *rest))
    status, message = run_demo_job(tmp_path, capsys, "--detector", "dlib_hog")
    assert status == 1 and "needs 2 thing(s)" in message
    assert "wav2lip_gan.pth" in message and "pip install dlib-bin" in message


def test_with_the_generator_present_the_message_names_only_the_face_detector(tmp_path, capsys, offline_empty_weights,
                                                                             official_checkpoint):
    (offline_empty_weights / "wav2lip_gan.pth").write_bytes(official_checkpoint.read_bytes())
    status, message = run_demo_job(tmp_path, capsys)
    assert status == 1 and "needs 1 thing(s) that are missing" in message and "s3fd.pth" in message
    assert "wav2lip_gan.pth" not in message and "--detector dlib_hog" in message


def test_nothing_is_downloaded_while_another_file_the_job_needs_cannot_be_had(tmp_path, capsys, offline_empty_weights,
                                                                              monkeypatch):
    """The generator could be fetched, S3FD cannot (its servers do not answer): the job says so at once instead
    of downloading 416 MiB first and failing on the detector afterwards."""
    from wav2lip_core.checkpoints import fetch, resolve

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(fetch, "is_offline", lambda: False)
    monkeypatch.setattr(fetch, "_unreachable_since", {})
    monkeypatch.setattr(fetch, "_probe", lambda source: fetch._Attempt(source.describe(), "no answer", unreachable=True)
                        if "s3fd" in source.describe() else None)
    monkeypatch.setattr(resolve, "download_model", lambda *a, **k: pytest.fail("nothing is downloaded"))
    status, message = run_demo_job(tmp_path, capsys)
    assert status == 1 and "needs 1 thing(s)" in message and "s3fd.pth" in message
    assert "wav2lip_gan.pth" not in message and "--detector dlib_hog" in message


# ---------------------------------------------------------- ComfyUI: every missing model named before any work

def api_prompt(workflow: dict) -> dict:
    """The editor's workflow as ComfyUI queues it (API format): our nodes' widget values by name, links as
    [source id, slot]. Core nodes keep only their links (no test here reads their widgets)."""
    from nodes import NODE_CLASS_MAPPINGS
    from test_workflows import our_schema

    sources = {link[0]: [str(link[1]), link[2]] for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        inputs = {}
        if node["type"] in NODE_CLASS_MAPPINGS:
            inputs.update(zip(our_schema(node["type"])[1], node["widgets_values"]))
        inputs.update({entry["name"]: sources[entry["link"]] for entry in node.get("inputs", [])
                       if entry.get("link") is not None})
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def validation_failures(workflow: str | dict) -> dict[str, str]:
    """What ComfyUI's validate_prompt reports for the queued workflow, node by node (type -> message): the
    on_prompt handler sees the prompt first, then each of our nodes' VALIDATE_INPUTS runs with the arguments it
    declares. ComfyUI runs all of them before any node runs and shows every failure."""
    from nodes import NODE_CLASS_MAPPINGS
    from nodes.model_check import remember_queued_prompt

    if isinstance(workflow, str):
        workflow = json.loads((ROOT / "workflows" / workflow).read_text())
    prompt = api_prompt(workflow)
    remember_queued_prompt({"prompt": prompt, "client_id": "test"})
    failures = {}
    for node in prompt.values():
        cls = NODE_CLASS_MAPPINGS.get(node["class_type"])
        if cls is None or not hasattr(cls, "VALIDATE_INPUTS"):
            continue
        wanted = inspect.signature(cls.VALIDATE_INPUTS).parameters
        assert len(wanted) == 1, "ComfyUI repeats a failure once per declared argument: declare one"
        result = cls.VALIDATE_INPUTS(**{name: node["inputs"][name] for name in wanted})
        if result is not True:
            failures[node["class_type"]] = result
    return failures


def edited(workflow_name: str, node_type: str, **widgets) -> dict:
    """The workflow with some of one node's widget values changed."""
    from test_workflows import our_schema

    workflow = json.loads((ROOT / "workflows" / workflow_name).read_text())
    names = our_schema(node_type)[1]
    for node in workflow["nodes"]:
        if node["type"] == node_type:
            for name, value in widgets.items():
                node["widgets_values"][names.index(name)] = value
    return workflow


MAIN_WORKFLOW = "Wav2Lip 1. Video lip sync.json"


@pytest.fixture()
def comfyui_without_models(tmp_path, monkeypatch):
    """Inside ComfyUI, with no models/wav2lip folder yet and nothing in it; the pack's weights/ is not looked at."""
    models = tmp_path / "models"
    folder = models / "wav2lip"
    fake_folder_paths = types.SimpleNamespace(
        models_dir=str(models), folder_names_and_paths={"wav2lip": ([str(folder)], set())},
        get_folder_paths=lambda name: [str(folder)], get_filename_list=lambda name: [],
        get_input_directory=lambda: str(tmp_path / "input"))
    monkeypatch.setattr(mm, "IN_COMFYUI", True)
    monkeypatch.setattr(mm, "folder_paths", fake_folder_paths)
    from nodes import model_check
    monkeypatch.setattr(model_check, "_queued_prompt", {})
    return folder


@pytest.fixture()
def no_network(monkeypatch):
    """No source answers (as with the network down): every probe of a source fails at once, and is counted."""
    from wav2lip_core.checkpoints import fetch

    asked = []

    def unreachable(source):
        asked.append(source)
        return fetch._Attempt(source.describe(), "no answer (ConnectError: Name or service not known)",
                              unreachable=True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(fetch, "is_offline", lambda: False)
    monkeypatch.setattr(fetch, "_probe", unreachable)
    monkeypatch.setattr(fetch, "_unreachable_since", {})
    return asked


def test_a_first_run_without_network_names_every_missing_model_at_once_in_the_nodes_words(comfyui_without_models,
                                                                                            no_network):
    failures = validation_failures(MAIN_WORKFLOW)
    assert set(failures) == {"LoadWav2LipModel", "DetectFaces", "LipSyncScore"}
    everything = " ".join(failures.values())
    assert "wav2lip_gan.pth" in failures["LoadWav2LipModel"] and "s3fd.pth" in failures["DetectFaces"]
    assert "syncnet_v2.model" in failures["LipSyncScore"] and "s3fd" not in failures["LipSyncScore"], \
        "the score reads the sync plan's boxes: it detects nothing"
    assert "no source answered" in failures["DetectFaces"]
    assert "set Detect Faces' detector to dlib_hog" in failures["DetectFaces"]
    assert "--" not in everything, "no command-line option is offered to a ComfyUI user"
    assert all(str(comfyui_without_models) in message for message in failures.values())
    assert comfyui_without_models.is_dir(), "models/wav2lip is created: the message tells the user to put files there"
    origins = [source.describe() for source in no_network]
    assert len(origins) == len(set(origins)), "a server that did not answer is not asked again at once"


def test_offline_by_setting_the_same_models_are_named_without_asking_any_server(comfyui_without_models, monkeypatch):
    from wav2lip_core.checkpoints import fetch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(fetch, "_probe", lambda source: pytest.fail("offline: no server is asked"))
    failures = validation_failures(MAIN_WORKFLOW)
    assert set(failures) == {"LoadWav2LipModel", "DetectFaces", "LipSyncScore"}
    assert all("HF_HUB_OFFLINE" in message for message in failures.values())


def test_models_that_can_be_downloaded_do_not_stop_the_run(comfyui_without_models, monkeypatch):
    from wav2lip_core.checkpoints import fetch

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(fetch, "is_offline", lambda: False)
    monkeypatch.setattr(fetch, "_probe", lambda source: None)        # the source answers: the node fetches it
    for workflow in WORKFLOWS:
        assert validation_failures(workflow.name) == {}, workflow.name
    assert validation_failures(edited(MAIN_WORKFLOW, "DetectFaces", manual_box="10, 200, 20, 180")) == {}


def test_with_the_offline_detector_or_a_typed_face_box_s3fd_is_not_asked_for(comfyui_without_models, no_network):
    boxed = validation_failures(edited(MAIN_WORKFLOW, "DetectFaces", manual_box="10, 200, 20, 180"))
    assert "s3fd" not in boxed["DetectFaces"] and "LoadWav2LipModel" in boxed, "a typed box needs no detector"
    assert "waits for the models named on the other nodes" in boxed["DetectFaces"], \
        "no output (the face-crop preview) starts while the generator is missing: ComfyUI runs every valid one"
    offline = validation_failures(edited(MAIN_WORKFLOW, "DetectFaces", detector="dlib_hog"))
    assert "s3fd.pth" not in offline["DetectFaces"]
    if importlib.util.find_spec("dlib") is None:
        assert "pip install dlib-bin" in offline["DetectFaces"]


def test_lip_sync_score_without_boxes_wired_also_needs_the_face_detector(comfyui_without_models, no_network):
    workflow = json.loads((ROOT / "workflows" / MAIN_WORKFLOW).read_text())
    score = next(node for node in workflow["nodes"] if node["type"] == "LipSyncScore")
    sync_input = next(entry for entry in score["inputs"] if entry["name"] == "sync")
    workflow["links"] = [link for link in workflow["links"] if link[0] != sync_input["link"]]
    sync_input["link"] = None
    alone = validation_failures(workflow)["LipSyncScore"]
    assert "syncnet_v2.model" in alone and "s3fd.pth" in alone and "connect Wav2Lip Sync's sync output" in alone


def test_a_model_on_disk_passes_and_downloads_switched_off_in_the_node_are_named(comfyui_without_models,
                                                                                 official_checkpoint, monkeypatch):
    from wav2lip_core.checkpoints import fetch

    monkeypatch.setattr(fetch, "_probe", lambda source: None)        # downloadable, but the node says no
    failures = validation_failures(edited(MAIN_WORKFLOW, "LoadWav2LipModel", allow_download=False))
    assert "automatic downloads are off" in failures["LoadWav2LipModel"]
    assert "allow_download" in failures["LoadWav2LipModel"]
    comfyui_without_models.mkdir(parents=True, exist_ok=True)
    (comfyui_without_models / "wav2lip_gan.pth").write_bytes(official_checkpoint.read_bytes())
    failures = validation_failures(edited(MAIN_WORKFLOW, "LoadWav2LipModel", allow_download=False))
    assert "LoadWav2LipModel" not in failures


# ------------------------------------------------------------------------- what the command line says

def test_help_names_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    for name in cli.SUBCOMMANDS:
        assert f"python -m wav2lip_core {name}" in help_text
    assert {"download", "convert"} <= set(cli.SUBCOMMANDS)


def test_download_list_says_whether_a_present_file_is_the_official_one(tmp_path, monkeypatch):
    torch.manual_seed(0)
    path = tmp_path / "wav2lip_gan.pth"
    torch.save({"state_dict": Wav2Lip().state_dict()}, path)
    from wav2lip_core.checkpoints.store import file_sha256

    model = KNOWN_MODELS["wav2lip_gan"]
    assert present_state(model, tmp_path / "nothing") == "not downloaded"
    assert "the official file (SHA-256 matches)" in present_state(
        dataclasses.replace(model, sha256=file_sha256(path)), tmp_path)
    assert "NOT the official file" in present_state(dataclasses.replace(model, sha256="0" * 64), tmp_path)
    assert "no official SHA-256 is published" in present_state(dataclasses.replace(model, sha256=None), tmp_path)
    record_path(path).unlink()
    path.write_bytes(b"<html>not found</html>")
    assert "present but unusable" in present_state(model, tmp_path)


def test_the_progress_line_counts_the_frames_of_the_video_and_those_used(capsys):
    frames = VideoFrames(SAMPLES / "wav2lip_sample_face.mp4").limit_to(75)
    line = cli_run._describe_job(frames, image=False, static=False, fps=25.0, seconds=2.98, num_outputs=75)
    assert line == ("face video 100 frames of 320x320 at 25 fps, using the first 75; "
                    "speech 2.98 s -> 75 output frames at 25 fps")


def test_the_progress_line_of_a_video_counted_only_as_far_as_the_speech_says_which_frames_are_used(capsys):
    frames = VideoFrames(SAMPLES / "wav2lip_sample_face.mp4", limit=75)      # as the job opens it
    line = cli_run._describe_job(frames, image=False, static=False, fps=25.0, seconds=2.98, num_outputs=75)
    assert line == ("face video of 320x320 at 25 fps, using its first 75 frames; "
                    "speech 2.98 s -> 75 output frames at 25 fps")
    shorter_than_the_speech = VideoFrames(SAMPLES / "wav2lip_sample_face.mp4", limit=150)
    line = cli_run._describe_job(shorter_than_the_speech, image=False, static=False, fps=25.0, seconds=6.0,
                                 num_outputs=150)
    assert line.startswith("face video 100 frames of 320x320 at 25 fps, using all of them;")


# -------------------------------------------------------------------------------------------- installing

def _install_script():
    spec = importlib.util.spec_from_file_location("wav2lip_install", ROOT / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_install_script_prints_nothing_when_all_is_there(monkeypatch, capsys):
    install = _install_script()
    monkeypatch.setattr(install, "installed_version", lambda name: "1.0")
    monkeypatch.setattr(install.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    assert install.main() == 0
    assert capsys.readouterr() == ("", "")


def test_the_install_script_runs_pip_quietly_and_shows_its_output_only_when_it_fails(monkeypatch, capsys):
    install = _install_script()
    monkeypatch.setattr(install, "installed_version", lambda name: None)
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        return types.SimpleNamespace(returncode=0, stdout="Collecting ...\n", stderr="")
    monkeypatch.setattr(install.subprocess, "run", fake_run)
    assert install.main() == 0
    assert capsys.readouterr() == ("", "") and all("--quiet" in command for command in calls) and len(calls) == 2

    monkeypatch.setattr(install.subprocess, "run", lambda command, **kwargs: types.SimpleNamespace(
        returncode=1, stdout="", stderr="ERROR: No matching distribution found for face-alignment\n"))
    with pytest.raises(SystemExit) as exit_:
        install.main()
    assert exit_.value.code == 1
    error = capsys.readouterr().err
    assert "No matching distribution" in error and "failed (exit 1)" in error


def test_outside_comfyui_there_is_no_input_folder_and_nothing_is_copied():
    assert mm.input_directory() is None and provide_sample_media(None) == []
