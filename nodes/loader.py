"""LoadWav2LipModel: a checkpoint from ComfyUI's models/wav2lip folder (or a known model, downloaded on demand)."""
from __future__ import annotations

from wav2lip_core.checkpoint import WAV2LIP, load_wav2lip
from wav2lip_core.download import choice_to_request, is_download_choice, list_choices, resolve_checkpoint
from wav2lip_core.zoo import find_known_model

from . import model_management as mm
from .types import CATEGORY, WAV2LIP_MODEL, Wav2LipModel

PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")


def model_choices() -> list[str]:
    """Dropdown entries: the checkpoint files on disk (not the detector's or SyncNet's, which have their own
    use), then each known Wav2Lip model that is not on disk yet, marked "(will be downloaded)"."""
    on_disk = []
    for name in mm.model_file_names():
        known = find_known_model(name)
        if known is None or known.architecture == WAV2LIP:
            on_disk.append(name)
    downloadable = [choice for choice in list_choices(mm.model_search_dirs(), architectures=[WAV2LIP])
                    if is_download_choice(choice) and choice_to_request(choice) not in on_disk]
    return on_disk + downloadable


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
        """Accept a file on disk or a known model, with or without the "(will be downloaded)" mark, so a saved
        workflow keeps working after its model was downloaded (the dropdown entry then loses the mark)."""
        request = choice_to_request(str(model_name))
        if request in mm.model_file_names() or find_known_model(request) is not None:
            return True
        folders = ", ".join(str(folder) for folder in mm.model_search_dirs())
        return (f"Wav2Lip checkpoint {request!r} is not in {folders}. Put it there (and refresh the page), or pick "
                f"a known model: wav2lip_gan.pth or wav2lip.pth.")

    RETURN_TYPES = (WAV2LIP_MODEL,)
    RETURN_NAMES = ("wav2lip_model",)
    OUTPUT_TOOLTIPS = ("The loaded generator; connect to Wav2Lip Sync.",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = "Loads a Wav2Lip lip-sync checkpoint (wav2lip_gan.pth or wav2lip.pth)."

    def load(self, model_name: str, precision: str = "auto", allow_download: bool = True):
        path = resolve_checkpoint(model_name, search_dirs=mm.model_search_dirs(), download_dir=mm.download_dir(),
                                  allow_download=bool(allow_download), architecture=WAV2LIP,
                                  progress=mm.byte_progress())
        dtype = mm.pick_dtype(precision, mm.compute_device())
        module = load_wav2lip(path, device=mm.offload_device(), dtype=dtype)
        return (Wav2LipModel(managed=mm.ManagedModel(module, name=path.name), path=path, dtype=dtype),)
