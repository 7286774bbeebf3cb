"""Reading a checkpoint file's tensors safely, whatever container it comes in.

Accepted: the official ``{"state_dict": ...}`` dict (optimizer state and counters are ignored), a bare state
dict, keys with or without DataParallel's ``module.`` prefix, ``.safetensors`` files, float16 / bfloat16
tensors. Pickles are read with ``torch.load(weights_only=True)``: a file that needs arbitrary Python objects
is refused, never executed. Errors are ``CheckpointError`` with a message meant for the user.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

StateDict = dict[str, torch.Tensor]

GET_WEIGHTS_HINT = ("`python -m wav2lip_core download --list` shows the known checkpoints, where they come from "
                    "and where they go (see weights/README.md).")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and says what to do."""


def _looks_like_text_page(head: bytes) -> bool:
    lowered = head.lstrip().lower()
    return lowered.startswith((b"<!doctype", b"<html", b"<?xml", b"{\"error", b"<head")) or b"<html" in lowered


def _read_raw(path: Path) -> object:
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes), probably a failed download. {GET_WEIGHTS_HINT}")
    with open(path, "rb") as handle:
        head = handle.read(64)
    if _looks_like_text_page(head):
        raise CheckpointError(
            f"{path}: this is a web page (HTML), not a checkpoint: the download link returned an error or a "
            f"sign-in page instead of the file. Delete it. {GET_WEIGHTS_HINT}")
    if path.suffix.lower() == ".safetensors" or (len(head) > 8 and head[8:9] == b"{"):
        try:
            from safetensors.torch import load_file
            return load_file(str(path), device="cpu")
        except Exception as error:  # safetensors raises its own error types
            raise CheckpointError(
                f"{path}: not a readable .safetensors file ({error}); it may be truncated "
                f"({size / 2**20:.1f} MiB on disk). {GET_WEIGHTS_HINT}") from error
    is_zip = head.startswith(b"PK")
    is_pickle = head[:1] == b"\x80"
    if not (is_zip or is_pickle):
        raise CheckpointError(
            f"{path}: not a PyTorch or safetensors file (it starts with {head[:16]!r}). {GET_WEIGHTS_HINT}")
    if is_zip and not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path}: the file is truncated (only {size / 2**20:.1f} MiB arrived; the official Wav2Lip "
            f"checkpoints are about 140-420 MiB). Delete it and download it again. {GET_WEIGHTS_HINT}")
    try:
        # Zip-format files are memory-mapped: tensors are read straight from the page cache, not copied twice.
        return torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused: loading it would need arbitrary Python objects to be unpickled, which could run "
            f"code on your machine. It was not executed. Use a checkpoint that holds only tensors "
            f"(or convert a trusted one to .safetensors). Detail: {str(error).splitlines()[0]}") from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch checkpoint ({str(error).splitlines()[0]}); it is probably "
            f"truncated or corrupted ({size / 2**20:.1f} MiB on disk). {GET_WEIGHTS_HINT}") from error


def _strip_prefix(key: str) -> str:
    return key[len("module."):] if key.startswith("module.") else key


def existing_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path, or a CheckpointError saying it is a folder or missing."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file.")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file. {GET_WEIGHTS_HINT}")
    return path


def read_state_dict(path: str | os.PathLike) -> StateDict:
    """Tensors of a checkpoint file, keyed by bare module names (container and ``module.`` removed)."""
    path = existing_file(path)
    raw = _read_raw(path)
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"{path}: holds {type(raw).__name__}, not a dictionary of tensors. {GET_WEIGHTS_HINT}")
    tensors = {_strip_prefix(str(key)): value for key, value in raw.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: holds no tensors (keys: {list(raw)[:5]}). {GET_WEIGHTS_HINT}")
    return tensors
