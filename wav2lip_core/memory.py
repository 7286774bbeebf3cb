"""Recognising out-of-memory errors, for the batch-halving fallbacks of the generator and the face detector."""
from __future__ import annotations

import torch


def is_out_of_memory(error: BaseException) -> bool:
    """True for a device out-of-memory error: torch.OutOfMemoryError (CUDA), or a RuntimeError saying so
    (MPS and older torch builds raise plain RuntimeErrors)."""
    out_of_memory_type = getattr(torch, "OutOfMemoryError", None)
    if out_of_memory_type is not None and isinstance(error, out_of_memory_type):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
