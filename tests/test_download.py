"""Getting the weights: find, fetch from the hub (a local fake, no network), verify, place; offline messages.

The fake hub (tests/hub_server.py) serves the files under the repository paths of the real table
(``wav2lip_core.checkpoints.known_models``), and ``HF_ENDPOINT`` points at it, as a regional mirror would. The downloader reads
``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` / ``HF_HUB_ETAG_TIMEOUT`` when it is called, so the tests set them with
monkeypatch in this process; ``huggingface_hub.constants`` values frozen at import time are patched too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
from pathlib import Path

import pytest
import torch

from hub_server import FakeHub, SilentServer, closed_port_url
from wav2lip_core.checkpoints import (KNOWN_MODELS, S3FD, ChangedOnDiskError, CheckpointError, DownloadError,
                                      KnownModel, UrlSource, download_model, find_known_model, record_path,
                                      resolve_checkpoint, store, verify_checkpoint)
from wav2lip_core.cli.models import download_main
from wav2lip_core.models import Wav2Lip

GAN_REPO, GAN_PATH = "Nekochu/Wav2Lip", "wav2lip_gan.pth"  # first source of wav2lip_gan in the table


def _saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def generator_bytes() -> bytes:
    """A random-weights Wav2Lip checkpoint in the official format (DataParallel keys, optimizer slot)."""
    torch.manual_seed(0)
    state = {"module." + key: value for key, value in Wav2Lip().state_dict().items()}
    return _saved({"state_dict": state, "optimizer": None, "global_step": 0, "global_epoch": 0})


@pytest.fixture(scope="module")
def other_generator_bytes() -> bytes:
    """Another valid generator (another seed): a mirror's copy that is not the official file."""
    torch.manual_seed(5)
    return _saved({"state_dict": Wav2Lip().state_dict()})


@pytest.fixture(scope="module")
def s3fd_like_bytes() -> bytes:
    torch.manual_seed(1)
    return _saved({"conv1_1.weight": torch.randn(4, 3, 3, 3), "conv3_3_norm.weight": torch.randn(4)})


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch, generator_bytes: bytes):
    """The fake hub, with HF_ENDPOINT pointing at it; the random generator plays the official wav2lip_gan."""
    import huggingface_hub.constants as constants

    official = dataclasses.replace(KNOWN_MODELS["wav2lip_gan"], sha256=hashlib.sha256(generator_bytes).hexdigest())
    monkeypatch.setitem(KNOWN_MODELS, "wav2lip_gan", official)

    server = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_HUB_ETAG_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)  # no user-agent registry fetch
    yield server
    server.stop()


@pytest.fixture()
def models_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "wav2lip"
    folder.mkdir(parents=True)
    return folder


def _fetch_gan(folder: Path, **kwargs) -> Path:
    return resolve_checkpoint("wav2lip_gan", search_dirs=[folder], download_dir=folder, **kwargs)


def _visible_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# ------------------------------------------------------------------------------------------------ the table

def test_the_table_knows_the_generators_the_sync_expert_syncnet_v2_and_the_face_detector():
    assert set(KNOWN_MODELS) == {"wav2lip", "wav2lip_gan", "lipsync_expert", "syncnet_v2", "s3fd"}
    for model in KNOWN_MODELS.values():
        assert model.sources and model.filenames and model.approx_bytes > 50 * 2**20
    s3fd_urls = [source.url for source in KNOWN_MODELS["s3fd"].sources if isinstance(source, UrlSource)]
    assert "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth" in s3fd_urls
    syncnet_v2 = KNOWN_MODELS["syncnet_v2"]
    assert syncnet_v2.filename == "syncnet_v2.model" and "MIT" in syncnet_v2.licence
    assert syncnet_v2.sha256 == "961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442"


def test_a_model_is_found_by_its_name_or_any_usual_file_name_in_any_case():
    assert find_known_model("wav2lip_gan").name == "wav2lip_gan"
    assert find_known_model("Wav2Lip_GAN.pth").name == "wav2lip_gan"
    assert find_known_model("checkpoints/s3fd-619a316812.pth").name == "s3fd"
    assert find_known_model("my_finetune.pth") is None


# ------------------------------------------------------------------------------------- fetch and placement

def test_a_known_model_is_fetched_verified_and_placed_with_its_hash_recorded(hub, models_dir, generator_bytes):
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    reports: list[tuple[int, int | None]] = []

    path = _fetch_gan(models_dir, progress=lambda done, total: reports.append((done, total)))

    assert path == models_dir / "wav2lip_gan.pth"
    assert path.read_bytes() == generator_bytes
    record = json.loads((models_dir / "wav2lip_gan.pth.verified.json").read_text())
    assert record["sha256"] == hashlib.sha256(generator_bytes).hexdigest()
    assert record["architecture"] == "wav2lip"
    assert _visible_files(models_dir) == ["wav2lip_gan.pth", "wav2lip_gan.pth.verified.json"]
    assert reports[-1] == (len(generator_bytes), len(generator_bytes))
    assert [request[:2] for request in hub.file_requests()] == [
        ("HEAD", f"/{GAN_REPO}/resolve/main/{GAN_PATH}"),
        ("GET", f"/blobs/{hashlib.sha256(generator_bytes).hexdigest()}")]


def test_a_second_run_finds_the_file_on_disk_and_makes_no_request(hub, models_dir, generator_bytes):
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    first = _fetch_gan(models_dir)
    count = len(hub.requests)

    assert _fetch_gan(models_dir) == first
    assert resolve_checkpoint("wav2lip_gan.pth", search_dirs=[models_dir], allow_download=False) == first
    assert len(hub.requests) == count


def test_the_hub_token_goes_to_the_hub_but_not_to_the_file_server_it_redirects_to(
        hub, models_dir, generator_bytes, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_0123456789")
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    _fetch_gan(models_dir)
    head, get = hub.file_requests()
    assert head[0] == "HEAD" and head[3] is True
    assert get[0] == "GET" and get[3] is False


def test_a_connection_cut_mid_file_leaves_no_file_in_place_and_the_next_run_succeeds(
        hub, models_dir, generator_bytes):
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    hub.cut_at, hub.cut_times, hub.refuse_resume = len(generator_bytes) // 2, 1, True

    with pytest.raises(DownloadError) as refused:
        _fetch_gan(models_dir)
    assert "wav2lip_gan.pth" in str(refused.value)
    assert _visible_files(models_dir) == []  # neither the final name nor a temporary file

    hub.refuse_resume = False
    assert _fetch_gan(models_dir).read_bytes() == generator_bytes


def test_a_connection_cut_once_is_resumed_with_a_range_request(hub, models_dir, generator_bytes):
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    half = len(generator_bytes) // 2
    hub.cut_at, hub.cut_times = half, 1

    assert _fetch_gan(models_dir).read_bytes() == generator_bytes
    resumed = [int(request[2].removeprefix("bytes=").rstrip("-")) for request in hub.file_requests() if request[2]]
    assert len(resumed) == 1 and 0 < resumed[0] <= half  # whole chunks received before the cut are kept


@pytest.mark.parametrize("served, said", [
    (b"<!DOCTYPE html><html><body>Sign in to continue</body></html>", "web page (HTML)"),
    ("truncated", "truncated"),
    ("s3fd", "S3FD face detector"),
], ids=["html-page", "truncated-file", "face-detector-under-the-generator-name"])
def test_a_wrong_download_is_refused_and_removed_with_a_message_saying_what_it_was(
        hub, models_dir, generator_bytes, s3fd_like_bytes, served, said):
    data = {"truncated": generator_bytes[: len(generator_bytes) // 3], "s3fd": s3fd_like_bytes}.get(served, served)
    hub.add(GAN_REPO, GAN_PATH, data)

    with pytest.raises(DownloadError) as refused:
        _fetch_gan(models_dir)

    message = str(refused.value)
    assert said in message and "refused and removed" in message
    assert "Download wav2lip_gan.pth" in message and str(models_dir) in message  # what to do instead
    assert _visible_files(models_dir) == []


def test_the_next_source_is_tried_when_the_first_does_not_hold_the_file(hub, models_dir, generator_bytes):
    hub.add("camenduru/Wav2Lip", "checkpoints/wav2lip_gan.pth", generator_bytes)
    assert _fetch_gan(models_dir).read_bytes() == generator_bytes
    heads = [request[1] for request in hub.file_requests() if request[0] == "HEAD"]
    assert heads == [f"/{GAN_REPO}/resolve/main/{GAN_PATH}",
                     "/camenduru/Wav2Lip/resolve/main/checkpoints/wav2lip_gan.pth"]


def test_a_source_with_the_official_bytes_is_preferred_to_an_earlier_valid_copy(
        hub, models_dir, generator_bytes, other_generator_bytes):
    hub.add(GAN_REPO, GAN_PATH, other_generator_bytes)
    hub.add("camenduru/Wav2Lip", "checkpoints/wav2lip_gan.pth", generator_bytes)

    path = _fetch_gan(models_dir)

    assert path.read_bytes() == generator_bytes
    assert json.loads(record_path(path).read_text())["official"] is True
    assert _visible_files(models_dir) == ["wav2lip_gan.pth", "wav2lip_gan.pth.verified.json"]


def test_without_an_official_copy_anywhere_the_first_verified_copy_is_used_and_marked(
        hub, models_dir, other_generator_bytes):
    hub.add(GAN_REPO, GAN_PATH, other_generator_bytes)
    hub.add("numz/wav2lip_studio", "Wav2lip/wav2lip_gan.pth", other_generator_bytes[:1000])  # refused: truncated

    path = _fetch_gan(models_dir)

    assert path.read_bytes() == other_generator_bytes
    record = json.loads(record_path(path).read_text())
    assert record["official"] is False and record["source"].endswith(f"/{GAN_REPO}/resolve/main/{GAN_PATH}")
    assert _visible_files(models_dir) == ["wav2lip_gan.pth", "wav2lip_gan.pth.verified.json"]


def test_the_face_detector_is_fetched_from_a_plain_address_without_the_hub_token(hub, models_dir, monkeypatch):
    from face_alignment.detection.sfd.net_s3fd import s3fd

    torch.manual_seed(2)
    data = _saved(s3fd().state_dict())
    hub.plain["s3fd-619a316812.pth"] = data
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_0123456789")
    model = KnownModel(name="s3fd", filenames=("s3fd.pth",), approx_bytes=len(data), architecture=S3FD,
                       sources=(UrlSource(hub.plain_url("s3fd-619a316812.pth")),), description="test", licence="test")

    path = download_model(model, models_dir)

    assert path == models_dir / "s3fd.pth" and path.read_bytes() == data
    assert all(request[3] is False for request in hub.file_requests())


def test_a_mirror_without_the_file_says_what_it_serves_and_is_not_offered_as_where_to_get_it(
        hub, models_dir, generator_bytes):
    """A mirror's own explanation of a 404 reaches the user (the fake hub names what was asked and what it
    serves), and the closing advice points at the Hub's addresses, not at the ones that just answered 404."""
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    with pytest.raises(DownloadError) as error:
        resolve_checkpoint("wav2lip", search_dirs=[models_dir])
    message = str(error.value)
    assert (f"{hub.endpoint}/{GAN_REPO}/resolve/main/wav2lip.pth: not found there (404): the server says \"the fake "
            f"hub (tests/hub_server.py) does not serve {GAN_REPO}/wav2lip.pth; it serves {GAN_REPO}/{GAN_PATH}\"")\
        in message
    advice = message.splitlines()[-1]
    assert advice.startswith("Download wav2lip.pth") and hub.endpoint not in advice
    assert f"https://huggingface.co/{GAN_REPO}/resolve/main/wav2lip.pth" in advice


def test_the_fake_hub_script_serves_every_known_model_where_the_downloader_asks_for_it(hub, models_dir):
    from serve_fake_hub import STAND_INS, hub_path

    assert set(STAND_INS) == set(KNOWN_MODELS)
    model = KNOWN_MODELS["syncnet_v2"]
    data, note = STAND_INS["syncnet_v2"]()
    hub.add(*hub_path(model), data)
    hub_only = dataclasses.replace(model, sources=tuple(s for s in model.sources if not isinstance(s, UrlSource)))
    path = download_model(hub_only, models_dir)
    assert path.read_bytes() == data and verify_checkpoint(path, "syncnet_v2").architecture == "syncnet_v2"
    assert "random" in note


def test_the_fake_hub_script_says_where_its_random_face_detector_finds_a_face():
    from serve_fake_hub import STAND_INS

    _, note = STAND_INS["s3fd"]()
    assert note.startswith("random S3FD (seed 0): ")
    assert "of the sample clip's 320x320 frame" in note and "not the face" in note and "--box" in note


# -------------------------------------------------------------------------------- offline and no network

def test_offline_mode_gives_one_message_naming_file_folder_and_source_without_any_request(
        hub, models_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError) as offline:
        _fetch_gan(models_dir)
    message = str(offline.value)
    assert "HF_HUB_OFFLINE" in message and "wav2lip_gan.pth" in message and str(models_dir) in message
    assert "Nekochu/Wav2Lip" in message and "non-commercial" in message
    assert hub.requests == []


def test_downloads_switched_off_give_the_same_kind_of_message_without_any_request(hub, models_dir):
    with pytest.raises(DownloadError, match="automatic downloads are off"):
        _fetch_gan(models_dir, allow_download=False)
    assert hub.requests == []


def test_an_unreachable_hub_gives_one_message_at_once(hub, models_dir, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    started = time.monotonic()
    with pytest.raises(DownloadError, match="no source answered") as unreachable:
        _fetch_gan(models_dir)
    assert time.monotonic() - started < 5
    assert "wav2lip_gan.pth" in str(unreachable.value) and str(models_dir) in str(unreachable.value)
    assert _visible_files(models_dir) == []


def test_a_hub_that_never_answers_costs_one_short_timeout_not_a_hang(hub, models_dir, monkeypatch):
    silent = SilentServer()
    try:
        monkeypatch.setenv("HF_ENDPOINT", silent.url)
        monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "1")
        started = time.monotonic()
        with pytest.raises(DownloadError, match="no source answered within 1 s"):
            _fetch_gan(models_dir)
        assert time.monotonic() - started < 4  # the three hub sources share one server: one timeout
    finally:
        silent.close()


# ------------------------------------------------------------------------------------ files already there

def test_an_html_page_saved_under_the_model_name_is_moved_aside_and_replaced(hub, models_dir, generator_bytes):
    (models_dir / "wav2lip_gan.pth").write_bytes(b"<html><head><title>Error 403</title></head></html>")
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)

    assert _fetch_gan(models_dir).read_bytes() == generator_bytes
    assert (models_dir / "wav2lip_gan.pth.rejected").read_bytes().startswith(b"<html>")


def test_a_bad_file_with_downloads_off_is_moved_aside_with_a_message_saying_what_it_was(
        models_dir, s3fd_like_bytes):
    (models_dir / "wav2lip_gan.pth").write_bytes(s3fd_like_bytes)
    with pytest.raises(CheckpointError, match="S3FD face detector.*moved aside to wav2lip_gan.pth.rejected"):
        _fetch_gan(models_dir, allow_download=False)
    assert _visible_files(models_dir) == ["wav2lip_gan.pth.rejected"]


def test_a_file_that_changed_on_disk_after_verification_is_noticed_and_left_alone(
        hub, models_dir, generator_bytes):
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    path = _fetch_gan(models_dir)
    torch.manual_seed(4)  # another valid generator swapped in under the same name
    torch.save({"state_dict": Wav2Lip().state_dict()}, path)
    count = len(hub.requests)

    with pytest.raises(ChangedOnDiskError, match="changed on disk since it was verified"):
        _fetch_gan(models_dir)
    assert _visible_files(models_dir) == ["wav2lip_gan.pth", "wav2lip_gan.pth.verified.json"]
    assert len(hub.requests) == count

    record_path(path).unlink()  # what the message says to do after a deliberate swap
    assert _fetch_gan(models_dir) == path


def test_a_users_own_file_is_verified_and_used_as_it_is(models_dir, generator_bytes, s3fd_like_bytes):
    (models_dir / "my_finetune.pth").write_bytes(generator_bytes)
    assert resolve_checkpoint("my_finetune.pth", search_dirs=[models_dir], architecture="wav2lip") \
        == models_dir / "my_finetune.pth"
    wrong = models_dir / "detector.pth"
    wrong.write_bytes(s3fd_like_bytes)
    with pytest.raises(CheckpointError, match="S3FD"):
        resolve_checkpoint(str(wrong), search_dirs=[], architecture="wav2lip")
    assert wrong.exists()  # an explicitly named file is never moved


@pytest.mark.parametrize("path", ["/no/such/dir/wav2lip_gan.pth", "elsewhere/wav2lip_gan.pth",
                                  "~/no_such_dir/wav2lip_gan.pth"])
def test_a_path_that_names_no_file_is_an_error_naming_it_not_the_known_model_of_its_name(
        hub, models_dir, generator_bytes, path):
    (models_dir / "wav2lip_gan.pth").write_bytes(generator_bytes)   # what the demo leaves in the model folder
    with pytest.raises(CheckpointError) as error:
        resolve_checkpoint(path, search_dirs=[models_dir], download_dir=models_dir)
    message = str(error.value)
    assert message.startswith(f"{path}: no such file") and "give its bare name: wav2lip_gan" in message
    assert hub.requests == []
    # The bare name is still the known model: found in the folder (and fetched when it is not there).
    assert resolve_checkpoint("wav2lip_gan", search_dirs=[models_dir]) == models_dir / "wav2lip_gan.pth"


def test_a_path_naming_the_file_a_download_makes_is_fetched_there(hub, models_dir, generator_bytes, monkeypatch):
    """README's ``--checkpoint weights/wav2lip_gan.pth`` from the pack's folder, before the file is there."""
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    monkeypatch.chdir(models_dir.parent)
    from safetensors.torch import save_file
    save_file(Wav2Lip().state_dict(), models_dir / "wav2lip_gan.safetensors")   # a valid copy, but not that file
    path = resolve_checkpoint("wav2lip/wav2lip_gan.pth", search_dirs=[models_dir], download_dir=models_dir)
    assert path == models_dir / "wav2lip_gan.pth" and path.read_bytes() == generator_bytes


def test_an_unknown_name_that_is_not_on_disk_says_which_models_can_be_downloaded(models_dir):
    with pytest.raises(CheckpointError, match="wav2lip_gan"):
        resolve_checkpoint("nonexistent.pth", search_dirs=[models_dir])


# -------------------------------------------------------------------------------------------------- CLI

def test_the_download_command_fetches_the_named_models(hub, models_dir, generator_bytes, capsys):
    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    assert download_main(["wav2lip_gan", "--dir", str(models_dir)]) == 0
    assert (models_dir / "wav2lip_gan.pth").read_bytes() == generator_bytes
    assert "ready" in capsys.readouterr().out


def test_the_download_command_offline_prints_one_message_and_no_traceback(hub, models_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download_main(["wav2lip_gan", "s3fd", "--dir", str(models_dir)]) == 1
    error = capsys.readouterr().err
    assert "wav2lip_gan.pth" in error and "s3fd.pth" in error and "Traceback" not in error
    assert hub.requests == []


@pytest.mark.parametrize("damage, said", [
    ("nan", "NaN or infinite values"),
    ("reshape", "does not match its layout"),
], ids=["a-value-is-nan", "a-layer-has-another-shape"])
def test_verification_checks_every_value_and_the_layout_of_the_expected_network(models_dir, damage, said):
    torch.manual_seed(3)
    state = Wav2Lip().state_dict()
    if damage == "nan":
        state["output_block.1.weight"][0, 0, 0, 0] = float("nan")
    else:
        state["audio_encoder.0.conv_block.0.weight"] = torch.zeros(8, 1, 3, 3)
    path = models_dir / "damaged.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match=said):
        verify_checkpoint(path, "wav2lip")
    assert not record_path(path).exists()


def test_an_exception_from_the_progress_callback_stops_the_download_and_leaves_no_file(
        hub, models_dir, generator_bytes):
    class Interrupted(Exception):
        pass

    def interrupt(done: int, total: int | None) -> None:
        raise Interrupted("cancelled by the user")

    hub.add(GAN_REPO, GAN_PATH, generator_bytes)
    hub.add("camenduru/Wav2Lip", "checkpoints/wav2lip_gan.pth", generator_bytes)
    with pytest.raises(Interrupted):
        _fetch_gan(models_dir, progress=interrupt)
    assert _visible_files(models_dir) == []
    assert not any("camenduru" in request[1] for request in hub.requests)  # no next source after an interrupt


def test_an_unchanged_verified_file_is_not_hashed_again_but_a_rewritten_one_is(
        models_dir, generator_bytes, monkeypatch):
    path = models_dir / "wav2lip_gan.pth"
    path.write_bytes(generator_bytes)
    old = time.time() - 3600
    os.utime(path, (old, old))                     # written long before it is verified
    verify_checkpoint(path, "wav2lip")
    hashed = []
    original_hash = store.file_sha256
    monkeypatch.setattr(store, "file_sha256", lambda p: hashed.append(p) or original_hash(p))

    assert verify_checkpoint(path, "wav2lip").sha256 == original_hash(path)
    assert hashed == []                            # same size and time as recorded: trusted

    path.write_bytes(generator_bytes)              # rewritten: a new modification time
    verify_checkpoint(path, "wav2lip")
    assert hashed == [path]


def test_a_record_written_in_the_same_moment_as_the_file_is_never_trusted_without_hashing(
        models_dir, generator_bytes, monkeypatch):
    """A change within the file system's clock tick may keep the time: such records are always re-hashed."""
    path = models_dir / "wav2lip_gan.pth"
    path.write_bytes(generator_bytes)
    verify_checkpoint(path, "wav2lip")
    record = json.loads(record_path(path).read_text())
    record["recorded_ns"] = record["mtime_ns"] + 10**9   # recorded within a second of the write, however slow
    record_path(path).write_text(json.dumps(record))     # this machine is (hashing takes time under load)
    hashed = []
    original_hash = store.file_sha256
    monkeypatch.setattr(store, "file_sha256", lambda p: hashed.append(p) or original_hash(p))
    verify_checkpoint(path, "wav2lip")
    assert hashed == [path]
