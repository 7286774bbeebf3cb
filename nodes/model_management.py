"""The one place that talks to ComfyUI: devices, model loading/offloading, interruption, progress, model folders.

Inside ComfyUI every call goes to ``comfy.model_management`` / ``comfy.model_patcher`` / ``comfy.utils`` /
``folder_paths``. Without ComfyUI (tests, scripts) a small fallback does the same job on plain torch: the
best local device, the model moved there on load, a flag-based interrupt, no progress bar.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import torch

try:  # ComfyUI present?
    import comfy.model_management as comfy_mm
    import comfy.model_patcher as comfy_patcher
    import comfy.utils as comfy_utils
    import folder_paths
    IN_COMFYUI = True
except Exception:  # ImportError, or an unrelated package that happens to be called "comfy"
    comfy_mm = comfy_patcher = comfy_utils = folder_paths = None
    IN_COMFYUI = False

try:  # ComfyUI's way to mark one output of a node as unusable, with a message for whoever connects it
    from comfy_execution.graph_utils import ExecutionBlocker
except Exception:
    ExecutionBlocker = None

from wav2lip_core.checkpoints import CHECKPOINT_EXTENSIONS, list_model_files, pack_weights_dir
from wav2lip_core.runtime.batching import release_cached_device_memory
from wav2lip_core.runtime.devices import pick_device
from wav2lip_core.runtime.devices import pick_dtype as engine_pick_dtype

log = logging.getLogger("ComfyUI-Wav2Lip")

MODEL_FOLDER = "wav2lip"        # ComfyUI's models/wav2lip, plus the pack's weights/ and extra_model_paths.yaml


class InterruptedByUser(Exception):
    """Raised between batches when processing was interrupted (outside ComfyUI; inside, ComfyUI's own)."""


# --------------------------------------------------------------------------------------------- model folders

def register_model_folder() -> None:
    """Make ``wav2lip`` a ComfyUI model folder: models/wav2lip first, then this pack's weights/.

    Entries from extra_model_paths.yaml (``wav2lip: path``) are loaded by ComfyUI before custom nodes, so they
    are kept, and our file extensions are added to them.
    """
    if not IN_COMFYUI:
        return
    default = os.path.join(folder_paths.models_dir, MODEL_FOLDER)
    ensure_download_dir()   # so users see where checkpoints go
    paths, extensions = folder_paths.folder_names_and_paths.get(MODEL_FOLDER, ([], set()))
    paths = list(paths)
    for path in (default, str(pack_weights_dir())):
        if path not in paths:
            paths.append(path)
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (paths, set(extensions) | set(CHECKPOINT_EXTENSIONS))


def input_directory() -> Path | None:
    """ComfyUI's input folder (what Load Video / Load Image / Load Audio list); None outside ComfyUI."""
    return Path(folder_paths.get_input_directory()) if IN_COMFYUI else None


def temp_directory() -> Path:
    """Where nodes keep files between nodes (ComfyUI's temp folder, emptied when ComfyUI starts; outside
    ComfyUI a wav2lip folder in the system's temporary folder)."""
    folder = Path(folder_paths.get_temp_directory()) if IN_COMFYUI else Path(tempfile.gettempdir()) / "wav2lip"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def model_search_dirs() -> list[Path]:
    """Folders searched for checkpoints, in order: ComfyUI's wav2lip folders, or the pack's weights/."""
    if IN_COMFYUI and MODEL_FOLDER in folder_paths.folder_names_and_paths:
        return [Path(p) for p in folder_paths.get_folder_paths(MODEL_FOLDER)]
    return [pack_weights_dir()]


def download_dir() -> Path:
    """Where downloaded checkpoints go: ComfyUI's models/wav2lip, or the pack's weights/ outside ComfyUI."""
    if IN_COMFYUI:
        return Path(folder_paths.models_dir) / MODEL_FOLDER
    return pack_weights_dir()


def ensure_download_dir() -> None:
    """Create ComfyUI's models/wav2lip when it is missing (it is where the messages say to put a file)."""
    if IN_COMFYUI:
        try:
            download_dir().mkdir(parents=True, exist_ok=True)
        except OSError:
            pass


def model_file_names() -> list[str]:
    """Checkpoint files in the wav2lip folders, as relative names (ComfyUI's cached listing when present)."""
    if IN_COMFYUI and MODEL_FOLDER in folder_paths.folder_names_and_paths:
        return list(folder_paths.get_filename_list(MODEL_FOLDER))
    return sorted(list_model_files(model_search_dirs()))


# ------------------------------------------------------------------------------------------------ devices

def compute_device() -> torch.device:
    """Where networks run: ComfyUI's torch device, else the engine's ``auto`` choice (CUDA, MPS or the CPU)."""
    return comfy_mm.get_torch_device() if IN_COMFYUI else pick_device("auto")


def offload_device() -> torch.device:
    """Where idle networks wait (ComfyUI's unet offload device, normally the CPU)."""
    return comfy_mm.unet_offload_device() if IN_COMFYUI else torch.device("cpu")


def intermediate_device() -> torch.device:
    """Where node outputs (IMAGE, MASK) live: ComfyUI's intermediate device, normally the CPU."""
    return comfy_mm.intermediate_device() if IN_COMFYUI else torch.device("cpu")


# Tests set this: the nodes' tensor path (see tensor_path_device) then runs on the CPU device too.
TENSOR_PATH_ON_CPU = False


def tensor_path_device() -> torch.device | None:
    """Where Detect Faces, Wav2Lip Sync and Paste Back work on frames as batched tensor operations: the compute
    device when it is a CUDA GPU (or, with TENSOR_PATH_ON_CPU, whatever it is); None: their CPU path (numpy and
    OpenCV frame by frame, exact to the original), also on Apple's MPS, where the tensor path is untested."""
    device = compute_device()
    return device if device.type == "cuda" or TENSOR_PATH_ON_CPU else None


def free_memory_bytes(device: torch.device) -> int:
    """Bytes free for working buffers on ``device`` (ComfyUI's count inside ComfyUI; CUDA's own outside it;
    the CPU: taken as plenty, batches there are bounded by other limits)."""
    if IN_COMFYUI:
        return int(comfy_mm.get_free_memory(device))
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return 2**40


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The engine's precision choice (``auto``: fp16 where it is fast, never bf16), with ComfyUI's own judgement
    of the GPU deciding where fp16 is fast."""
    fp16_preferred = bool(comfy_mm.should_use_fp16(device)) if IN_COMFYUI and device.type != "cpu" else None
    return engine_pick_dtype(precision, device, fp16_preferred)


def out_of_memory_types() -> tuple[type[BaseException], ...]:
    """ComfyUI's own out-of-memory exception type, for the engine's batch loop to recognise too."""
    if IN_COMFYUI and isinstance(comfy_mm.OOM_EXCEPTION, type) and comfy_mm.OOM_EXCEPTION is not Exception:
        return (comfy_mm.OOM_EXCEPTION,)
    return ()


def free_cached_memory() -> None:
    """Return cached blocks to the device after an out-of-memory error."""
    if IN_COMFYUI:
        comfy_mm.soft_empty_cache()
    else:
        release_cached_device_memory()


# ---------------------------------------------------------------------------------------- the wrapped models

class ManagedModel:
    """A torch network ComfyUI's model management can load onto the GPU and offload again.

    Inside ComfyUI the module is wrapped in a ``ModelPatcher`` and ``load()`` calls
    ``comfy.model_management.load_models_gpu`` (which first unloads other models if room is needed);
    ComfyUI offloads it later when something else needs the memory. Outside ComfyUI ``load()`` moves it
    to ``compute_device()``.
    """

    def __init__(self, module: torch.nn.Module, name: str = "model"):
        self.module = module.eval().requires_grad_(False)
        self.name = name
        self.load_device = compute_device()
        self.offload_device = offload_device()
        self.patcher = None
        if IN_COMFYUI:
            self.module.to(self.offload_device)
            self.patcher = comfy_patcher.ModelPatcher(self.module, load_device=self.load_device,
                                                      offload_device=self.offload_device)

    def load(self, working_memory_bytes: int = 0) -> torch.nn.Module:
        """The module on the compute device, ready to run; ``working_memory_bytes``: activations expected."""
        if self.patcher is not None:
            comfy_mm.load_models_gpu([self.patcher], memory_required=int(working_memory_bytes),
                                     force_full_load=True)
        else:
            self.module.to(self.load_device)
        return self.module

    def __repr__(self) -> str:
        return f"ManagedModel({self.name} on {self.load_device})"


# ------------------------------------------------------------------------------------- interrupts, progress

_interrupt_requested = threading.Event()


def request_interrupt() -> None:
    """Ask the running node to stop at its next batch boundary (ComfyUI's Cancel does this inside ComfyUI)."""
    if IN_COMFYUI:
        comfy_mm.interrupt_current_processing(True)
    else:
        _interrupt_requested.set()


def throw_if_interrupted() -> None:
    """Called between batches: raise if the user cancelled (ComfyUI's InterruptProcessingException inside it)."""
    if IN_COMFYUI:
        comfy_mm.throw_exception_if_processing_interrupted()
    elif _interrupt_requested.is_set():
        _interrupt_requested.clear()
        raise InterruptedByUser("processing was interrupted")


class Progress:
    """Progress of one node run in the editor (``comfy.utils.ProgressBar``); silent outside ComfyUI."""

    def __init__(self, total: int):
        self.total = max(1, int(total))
        self.done = 0
        self._bar = comfy_utils.ProgressBar(self.total) if IN_COMFYUI else None

    def set(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = max(1, int(total))
        self.done = min(int(done), self.total)
        if self._bar is not None:
            self._bar.update_absolute(self.done, self.total)

    def advance(self, count: int) -> None:
        self.set(self.done + int(count))


def interruptible_progress(progress: Progress, start: int = 0, span: int | None = None) -> Callable[[int, int], None]:
    """An engine ``progress(done, total)`` callback that honours Cancel and moves ``progress`` from ``start`` to
    ``start + span`` (default: to its end) as ``done`` goes from 0 to ``total``."""
    span = progress.total - start if span is None else span

    def callback(done: int, total: int | None) -> None:
        progress.set(start + (span * int(done)) // max(1, int(total or done or 1)))
        throw_if_interrupted()
    return callback


def byte_progress() -> Callable[[int, int | None], None]:
    """A download ``progress(done_bytes, total_bytes)`` callback drawing its own bar in the editor."""
    bar = Progress(1)

    def callback(done: int, total: int | None) -> None:
        bar.set(done, total or max(int(done), 1))
    return callback


# ------------------------------------------------------------------------------------------ disabled outputs

class DisabledOutput:
    """Stand-in for ComfyUI's ExecutionBlocker outside ComfyUI: an output switched off, with the reason."""

    def __init__(self, message: str):
        self.message = message

    def __repr__(self) -> str:
        return f"DisabledOutput({self.message!r})"


def disabled_output(message: str) -> object:
    """An output value that is switched off: a node connected to it stops with ``message`` (inside ComfyUI,
    an ExecutionBlocker; nothing happens when nothing is connected)."""
    return ExecutionBlocker(message) if IN_COMFYUI and ExecutionBlocker is not None else DisabledOutput(message)
