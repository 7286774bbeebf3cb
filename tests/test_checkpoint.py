"""Checkpoint loading: every container the official files come in loads strictly; wrong files are named."""
from __future__ import annotations

import pickle

import pytest
import torch

from random_weights import official_container
from wav2lip_core.checkpoints import (S3FD, CheckpointError, convert_to_safetensors, identify_architecture,
                                      load_syncnet, load_wav2lip, read_state_dict)
from wav2lip_core.models import SyncNetColor, Wav2Lip


def _same_weights(model: torch.nn.Module, reference: torch.nn.Module, atol: float = 0.0) -> bool:
    ours, theirs = model.state_dict(), reference.state_dict()
    return all(torch.allclose(ours[k].float(), theirs[k].float(), atol=atol) for k in theirs
               if theirs[k].is_floating_point())


def test_the_generator_has_the_official_keys_and_shapes():
    import json

    from conftest import ROOT

    state = Wav2Lip().state_dict()
    assert len(state) == 352
    assert sum(p.numel() for p in Wav2Lip().parameters()) == 36_298_035
    assert sum(p.numel() for p in SyncNetColor().parameters()) == 16_435_072
    # The manifest of the official checkpoints lives in the shared reference folder beside the repository.
    manifest = ROOT.parent / "shared" / "reference" / "checkpoint-manifest.json"
    if manifest.exists():
        models = json.loads(manifest.read_text())["models"]
        for name, network in (("Wav2Lip", Wav2Lip()), ("SyncNet_color", SyncNetColor())):
            reference = {entry["key"]: entry["shape"] for entry in models[name]["state_dict"]}
            assert {k: list(v.shape) for k, v in network.state_dict().items()} == reference


def test_official_container_with_module_prefix_loads_strictly(tmp_path, wav2lip_model):
    path = tmp_path / "wav2lip_gan.pth"
    torch.save(official_container(wav2lip_model, module_prefix=True), path)
    model = load_wav2lip(path, fast=False)
    assert not model.training
    assert _same_weights(model, wav2lip_model)


def test_container_without_prefix_and_bare_state_dict_load(tmp_path, wav2lip_model):
    torch.save(official_container(wav2lip_model, module_prefix=False), tmp_path / "a.pth")
    torch.save(wav2lip_model.state_dict(), tmp_path / "b.pth")
    assert _same_weights(load_wav2lip(tmp_path / "a.pth", fast=False), wav2lip_model)
    assert _same_weights(load_wav2lip(tmp_path / "b.pth", fast=False), wav2lip_model)


def test_files_without_batchnorm_counters_load(tmp_path, wav2lip_model):
    state = {k: v for k, v in wav2lip_model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state}, tmp_path / "old.pth")
    assert _same_weights(load_wav2lip(tmp_path / "old.pth", fast=False), wav2lip_model)


def test_fp16_tensors_load_and_the_model_takes_the_requested_dtype(tmp_path, wav2lip_model):
    torch.save({"state_dict": {k: (v.half() if v.is_floating_point() else v)
                               for k, v in wav2lip_model.state_dict().items()}}, tmp_path / "half.pth")
    model = load_wav2lip(tmp_path / "half.pth", dtype=torch.bfloat16)
    assert model.decoder_dtype == torch.bfloat16                       # the encoders stay float32
    assert load_wav2lip(tmp_path / "half.pth", dtype=torch.float16, fast=False).decoder_dtype == torch.float16
    assert _same_weights(load_wav2lip(tmp_path / "half.pth", fast=False), wav2lip_model, atol=2e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_converter_writes_safetensors_with_bare_keys_that_load(tmp_path, official_checkpoint, wav2lip_model, dtype):
    from safetensors.torch import load_file

    out = convert_to_safetensors(official_checkpoint, tmp_path / "wav2lip.safetensors", dtype=dtype)
    tensors = load_file(str(out))
    assert all(not key.startswith("module.") for key in tensors)
    assert {t.dtype for t in tensors.values() if t.is_floating_point()} == {dtype}
    atol = 0 if dtype == torch.float32 else 2e-2
    assert _same_weights(load_wav2lip(out, fast=False), wav2lip_model, atol=atol)


def test_syncnet_expert_loads_with_its_own_layout(tmp_path, syncnet_model):
    torch.save(official_container(syncnet_model, module_prefix=False), tmp_path / "lipsync_expert.pth")
    model = load_syncnet(tmp_path / "lipsync_expert.pth")
    audio, face = model(torch.rand(2, 1, 80, 16), torch.rand(2, 15, 48, 96))
    assert audio.shape == face.shape == (2, 512)
    assert torch.allclose(audio.norm(dim=1), torch.ones(2), atol=1e-5)
    score = SyncNetColor.sync_probability(audio, face)
    assert ((score >= 0) & (score <= 1)).all()


def test_handing_the_syncnet_expert_to_the_generator_loader_says_what_it_is(tmp_path, syncnet_model):
    torch.save({"state_dict": syncnet_model.state_dict()}, tmp_path / "wav2lip.pth")
    with pytest.raises(CheckpointError, match="SyncNet lip-sync expert") as error:
        load_wav2lip(tmp_path / "wav2lip.pth")
    assert "wav2lip.pth" in str(error.value)


def test_s3fd_and_discriminator_files_are_recognised_and_refused(tmp_path):
    torch.save({"conv1_1.weight": torch.zeros(64, 3, 3, 3), "conv3_3_norm.weight": torch.zeros(256)},
               tmp_path / "s3fd.pth")
    torch.save({"state_dict": {"face_encoder_blocks.0.0.conv_block.0.weight": torch.zeros(32, 3, 7, 7),
                               "binary_pred.0.weight": torch.zeros(1, 512, 1, 1)}}, tmp_path / "disc.pth")
    with pytest.raises(CheckpointError, match="S3FD face detector"):
        load_wav2lip(tmp_path / "s3fd.pth")
    with pytest.raises(CheckpointError, match="visual-quality discriminator"):
        load_wav2lip(tmp_path / "disc.pth")
    assert identify_architecture(read_state_dict(tmp_path / "s3fd.pth")).id == S3FD


def test_a_truncated_download_is_called_truncated(tmp_path, official_checkpoint):
    data = official_checkpoint.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated"):
        load_wav2lip(tmp_path / "cut.pth")


def test_an_html_error_page_saved_as_checkpoint_is_called_a_web_page(tmp_path):
    (tmp_path / "wav2lip_gan.pth").write_text("<!DOCTYPE html><html><body>Sign in</body></html>")
    with pytest.raises(CheckpointError, match="web page"):
        load_wav2lip(tmp_path / "wav2lip_gan.pth")


def test_non_torch_files_and_missing_files_get_clear_errors(tmp_path):
    (tmp_path / "notes.pth").write_bytes(b"just some text, not a model")
    with pytest.raises(CheckpointError, match="not a PyTorch or safetensors file"):
        load_wav2lip(tmp_path / "notes.pth")
    with pytest.raises(CheckpointError, match="no such file"):
        load_wav2lip(tmp_path / "absent.pth")


class _RunsCode:
    def __reduce__(self):
        import os
        return (os.system, ("touch PWNED_MARKER",))


def test_a_pickle_that_would_run_code_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": _RunsCode()}, tmp_path / "evil.pth")
    assert not (tmp_path / "PWNED_MARKER").exists()
    with pytest.raises(CheckpointError, match="refused"):
        load_wav2lip(tmp_path / "evil.pth")
    assert not (tmp_path / "PWNED_MARKER").exists()
    # A legacy (non-zip) pickle is refused the same way.
    with open(tmp_path / "legacy.pth", "wb") as handle:
        pickle.dump({"state_dict": _RunsCode()}, handle, protocol=2)
    with pytest.raises(CheckpointError, match="refused"):
        load_wav2lip(tmp_path / "legacy.pth")
    assert not (tmp_path / "PWNED_MARKER").exists()


def test_a_generator_with_other_shapes_is_explained(tmp_path, wav2lip_model):
    state = dict(wav2lip_model.state_dict())
    state["output_block.1.weight"] = torch.zeros(3, 64, 1, 1)
    torch.save({"state_dict": state}, tmp_path / "wav2lip_288.pth")
    with pytest.raises(CheckpointError, match="another shape"):
        load_wav2lip(tmp_path / "wav2lip_288.pth")


def test_non_finite_weights_are_refused(tmp_path, wav2lip_model):
    state = dict(wav2lip_model.state_dict())
    state["output_block.1.bias"] = torch.tensor([float("nan"), 0.0, 0.0])
    torch.save({"state_dict": state}, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match="NaN"):
        load_wav2lip(tmp_path / "nan.pth")
