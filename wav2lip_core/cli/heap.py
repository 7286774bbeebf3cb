"""The CLI's process-wide heap setting for streaming (never applied inside ComfyUI, whose process it is not)."""
from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1          # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
KEEP_FREED_BELOW_BYTES = 1 << 30


def reuse_freed_heap_memory() -> bool:
    """Ask glibc to serve large blocks from the heap and keep freed ones for reuse (mallopt M_MMAP_THRESHOLD and
    M_TRIM_THRESHOLD at 1 GiB). Every batch allocates activations and frame buffers of tens of MB; by default
    each is a fresh mapping whose pages the kernel faults in and zeroes again; kept, they are reused at the same
    peak memory (bench/README.md, "Buffer reuse", has the page-fault counts and the time saved).

    Returns True when the setting took effect (Linux with glibc), False elsewhere (nothing changes).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, KEEP_FREED_BELOW_BYTES)) and \
            bool(libc.mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_BELOW_BYTES))
    except (OSError, AttributeError):        # musl or another libc without mallopt
        return False
