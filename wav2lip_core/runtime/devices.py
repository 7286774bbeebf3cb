"""Where the networks run and in which precision (one meaning of ``auto`` for the CLI and the nodes), and how
host arrays reach a device."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
PRECISION_CHOICES = ("auto", *PRECISIONS)
# fp16 convolutions are fast from this CUDA compute capability on (Pascal); older cards emulate them.
MIN_FP16_CUDA_CAPABILITY = 6


DEVICE_TYPES = ("cpu", "cuda", "mps")   # where the networks can run; others (meta, xpu ...) are refused


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, else Apple's MPS, else the CPU; any other name is a torch device ("cpu", "cuda:1") that
    this machine has (ValueError saying why not, otherwise)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    choices = "auto, cpu, cuda, cuda:N or mps"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {name!r} is not a device name; use {choices}") from None
    if device.type not in DEVICE_TYPES:
        raise ValueError(f"device {name!r}: the networks cannot run on {device.type!r}; use {choices}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "is built without CUDA" if torch.version.cuda is None else "finds no CUDA GPU"
            raise ValueError(f"device {name!r}: this torch ({torch.__version__}) {why}; use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: there are only {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device {name!r}: Apple's MPS is not available here; use cpu or auto")
    return device


def fp16_suits(device: torch.device) -> bool:
    """Whether half precision is the fast choice on ``device`` by itself: CUDA from Pascal on, and MPS."""
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return major >= MIN_FP16_CUDA_CAPABILITY
    return device.type == "mps"


def pick_dtype(precision: str, device: torch.device, fp16_preferred: bool | None = None) -> torch.dtype:
    """The generator's dtype for ``precision`` on ``device``.

    ``auto``: fp32 on the CPU; fp16 where it is fast (``fp16_preferred`` when the host application knows
    better, e.g. ComfyUI's own judgement of the GPU; else ``fp16_suits``); fp32 otherwise. bf16 is never picked
    by itself: it moves the picture more than fp16 does, so it stays the user's explicit choice.
    ``fp32`` / ``fp16`` / ``bf16``: that precision (half precision applies to the decoder only).
    """
    if precision in PRECISIONS:
        return PRECISIONS[precision]
    if precision != "auto":
        raise ValueError(f"precision must be one of {', '.join(PRECISION_CHOICES)}; not {precision!r}")
    if device.type == "cpu":
        return torch.float32
    half = fp16_suits(device) if fp16_preferred is None else fp16_preferred
    return torch.float16 if half else torch.float32


@contextlib.contextmanager
def _switched(namespace, name: str, value, when: bool = True) -> Iterator[None]:
    """Context: ``namespace.name`` set to ``value`` for its duration (when ``when``), restored afterwards."""
    if not when:
        yield
        return
    saved = getattr(namespace, name)
    setattr(namespace, name, value)
    try:
        yield
    finally:
        setattr(namespace, name, saved)


def tuned_convolutions(device: torch.device | str) -> contextlib.AbstractContextManager:
    """Context: on a CUDA device, cuDNN times its convolution algorithms for each new input shape and keeps the
    fastest (``torch.backends.cudnn.benchmark``) while our networks run; the setting is restored afterwards.

    The flag is global to the process, and ComfyUI leaves it to its user (``--fast autotune``), so it is only
    switched on around our own calls, whose shapes repeat (fixed batches of 96x96 faces, one detection size per
    clip): each shape is tuned once, then every later batch of it runs on the fastest kernels. Elsewhere
    (CPU, MPS) nothing changes.
    """
    return _switched(torch.backends.cudnn, "benchmark", True, when=torch.device(device).type == "cuda")


def full_float32_matmul() -> contextlib.AbstractContextManager:
    """Context: CUDA matrix products in full float32 for its duration (TF32 off), restored afterwards."""
    return _switched(torch.backends.cuda.matmul, "allow_tf32", False)


def host_to_device(array: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """A numpy array as a tensor on ``device`` (on the CPU: the array's own memory, unless it is read-only). On a
    CUDA device the copy goes through pinned memory and does not wait: a plain copy from pageable memory first
    waits for all the work queued on the stream, so every small index or weight table sent up between kernels
    would stall the host."""
    array = np.ascontiguousarray(array)
    tensor = torch.from_numpy(array if array.flags.writeable else array.copy())   # a read-only table: a copy
    if torch.device(device).type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)
