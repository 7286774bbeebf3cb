"""The one batch loop of the engine: work over ``total`` items in batches that halve when the device runs out
of memory, remembering the smaller size for the batches that follow. The generator (pipeline and the Wav2Lip
Sync node) and S3FD all run through ``HalvingBatches``; this is the only place that catches out-of-memory.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

ProcessBatch = Callable[[int, int], None]
"""``process(start, stop)`` handles items ``start .. stop - 1`` (writes its results itself)."""


def is_out_of_memory(error: BaseException, extra_types: tuple[type[BaseException], ...] = ()) -> bool:
    """True for a device out-of-memory error: torch.OutOfMemoryError (CUDA), a RuntimeError saying so (MPS and
    older torch builds raise plain RuntimeErrors), or one of ``extra_types`` (ComfyUI's own OOM type)."""
    out_of_memory_type = getattr(torch, "OutOfMemoryError", None)
    if out_of_memory_type is not None and isinstance(error, out_of_memory_type):
        return True
    if extra_types and isinstance(error, extra_types):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_cached_device_memory() -> None:
    """Hand cached blocks back to the device after an out-of-memory error (the default ``release``)."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class HalvingBatches:
    """Batches of at most ``size`` items (and at most ``cap``, a device's preferred size, when set); on an
    out-of-memory error the failed batch is retried at half its size, which is kept from then on.

    ``out_of_memory_types``: further exception types that mean out-of-memory (handed in by the ComfyUI nodes).
    ``release``: called after an out-of-memory error, before the retry.
    ``single_item_error``: the exception to raise when one item alone does not fit (given the out-of-memory
    error); by default that error itself goes up.
    """

    def __init__(self, size: int, *, cap: int | None = None,
                 out_of_memory_types: tuple[type[BaseException], ...] = (),
                 release: Callable[[], None] = release_cached_device_memory,
                 single_item_error: Callable[[BaseException], BaseException] | None = None):
        if int(size) < 1:
            raise ValueError(f"batch size must be at least 1, not {size}")
        self.size = int(size)
        self.cap = cap
        self.out_of_memory_types = tuple(out_of_memory_types)
        self.release = release
        self.single_item_error = single_item_error

    @property
    def current_size(self) -> int:
        """Items per batch now: ``size``, at most ``cap``."""
        return self.size if self.cap is None else max(1, min(self.size, int(self.cap)))

    def run(self, total: int, process: ProcessBatch, *, start: int = 0) -> None:
        """Call ``process(a, b)`` over ``start .. total - 1`` in order, in batches of the current size."""
        while start < total:
            stop = min(start + self.current_size, total)
            try:
                process(start, stop)
            except Exception as error:
                if not is_out_of_memory(error, self.out_of_memory_types):
                    raise
                self.release()
                if stop - start == 1:
                    if self.single_item_error is None:
                        raise
                    raise self.single_item_error(error) from error
                self.size = max(1, (stop - start) // 2)
                continue
            start = stop
