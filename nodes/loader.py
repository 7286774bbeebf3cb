"""LoadWav2LipModel: a checkpoint from ComfyUI's models/wav2lip folder (or a known model, downloaded on demand),
and the dropdown entries of model files: files on disk, then known models marked "(will be downloaded)"."""
from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence

from wav2lip_core.checkpoints import (KNOWN_MODELS, WAV2LIP, find_in_folders, find_known_model, load_wav2lip,
                                      names_a_path, resolve_checkpoint)
from wav2lip_core.runtime.devices import PRECISION_CHOICES

from . import model_management as mm
from .model_check import model_problem, queued_inputs
from .types import CATEGORY, WAV2LIP_MODEL, Wav2LipModel

DOWNLOAD_MARK = " (will be downloaded)"


def is_download_choice(choice: str) -> bool:
    return choice.endswith(DOWNLOAD_MARK)


def choice_to_request(choice: str) -> str:
    """A dropdown entry back to what ``resolve_checkpoint`` takes (the download mark removed)."""
    return choice[: -len(DOWNLOAD_MARK)] if choice.endswith(DOWNLOAD_MARK) else choice


def list_choices(file_names: Sequence[str], architecture: str) -> list[str]:
    """Dropdown entries: ``file_names`` on disk (relative names, as ComfyUI shows them) that are not a known
    model of another architecture, then every known model of ``architecture`` that is not on disk, as
    ``"<file><DOWNLOAD_MARK>"``."""
    on_disk = [name for name in file_names
               if (known := find_known_model(name)) is None or known.architecture == architecture]
    present = {name.rsplit("/", 1)[-1].lower() for name in file_names}
    missing = [model.filename + DOWNLOAD_MARK for model in KNOWN_MODELS.values()
               if model.architecture == architecture
               and not present & {filename.lower() for filename in model.filenames}]
    return on_disk + missing


def validate_choice(choice: str, file_names: Iterable[str], search_dirs: Iterable[str | os.PathLike],
                    architectures: Collection[str] = (WAV2LIP,), what: str = "Wav2Lip checkpoint") -> bool | str:
    """True when ``choice`` can be resolved (a file on disk or a known model by its bare name, marked or not),
    else a message naming the known models of ``architectures`` (a path in a folder is never a known model:
    ``resolve_checkpoint``'s rule). For VALIDATE_INPUTS: the list changes when a model arrives on
    disk ("wav2lip_gan.pth (will be downloaded)" becomes "wav2lip_gan.pth"), and saved workflows must keep
    working either way."""
    request = choice_to_request(str(choice))
    folders = list(search_dirs)
    known_model = find_known_model(request) is not None and not names_a_path(request)
    if request in set(file_names) or known_model or find_in_folders(request, folders) is not None:
        return True
    known = ", ".join(model.filename for model in KNOWN_MODELS.values() if model.architecture in architectures)
    return (f"{what} {request!r} is not in {', '.join(map(str, folders)) or 'any model folder'}. Put it "
            f"there (and refresh the page), or pick a known model: {known}.")


def model_choices() -> list[str]:
    """The generator dropdown (the detector's and SyncNet's files have their own use and are left out)."""
    return list_choices(mm.model_file_names(), WAV2LIP)


class LoadWav2LipModel:
    """Loads the Wav2Lip generator, in the precision that suits the GPU, for ComfyUI's model management."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model_name": (model_choices(), {
                "tooltip": "The Wav2Lip checkpoint, from ComfyUI/models/wav2lip (or this pack's weights/ folder, "
                           "or a 'wav2lip' entry of extra_model_paths.yaml). .pth, .pt and .safetensors files in "
                           "the official format, bare, DataParallel or half precision all load. Entries marked "
                           "'(will be downloaded)' are fetched into models/wav2lip the first time. wav2lip_gan "
                           "looks best; wav2lip syncs slightly more accurately. Research / non-commercial use."}),
            "precision": (list(PRECISION_CHOICES), {
                "default": "auto",
                "tooltip": "auto: fp16 on NVIDIA/AMD GPUs and Apple where ComfyUI uses fp16, else fp32 (always on "
                           "the CPU). fp32 is the reference; fp16/bf16 (decoder in half, encoders kept fp32) are "
                           "faster on GPUs; fp16 stays within 2/255 of fp32, bf16 is faster on recent CPUs but "
                           "less exact."}),
            "allow_download": ("BOOLEAN", {
                "default": True,
                "tooltip": "Download a missing known model (Hugging Face; HF_ENDPOINT / HF_HUB_OFFLINE are "
                           "honoured). Off: only files already on disk are used."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, model_name):
        valid = validate_choice(model_name, mm.model_file_names(), mm.model_search_dirs())
        if valid is not True:
            return valid
        # Downloads are off only where a queued node with this model says so (wired: the run decides).
        nodes = queued_inputs("LoadWav2LipModel", "model_name", model_name) or []
        allow_download = not any(node.get("allow_download") is False for node in nodes)
        problem = model_problem(choice_to_request(model_name), WAV2LIP, allow_download)
        if problem is not None and not allow_download:
            problem += " Or switch Load Wav2Lip Model's allow_download on."
        return True if problem is None else f"Load Wav2Lip Model: {problem}"

    RETURN_TYPES = (WAV2LIP_MODEL,)
    RETURN_NAMES = ("wav2lip_model",)
    OUTPUT_TOOLTIPS = ("The loaded generator; connect to Wav2Lip Sync.",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = "Loads a Wav2Lip lip-sync checkpoint (wav2lip_gan.pth or wav2lip.pth)."

    def load(self, model_name: str, precision: str = "auto", allow_download: bool = True):
        path = resolve_checkpoint(choice_to_request(model_name), search_dirs=mm.model_search_dirs(),
                                  download_dir=mm.download_dir(), allow_download=bool(allow_download),
                                  architecture=WAV2LIP, progress=mm.byte_progress())
        dtype = mm.pick_dtype(precision, mm.compute_device())
        module = load_wav2lip(path, device=mm.offload_device(), dtype=dtype)
        return (Wav2LipModel(managed=mm.ManagedModel(module, name=path.name), path=path, dtype=dtype),)
