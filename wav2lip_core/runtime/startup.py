"""How our own command-line process starts (``python -m wav2lip_core``; bench/launch_ours.py starts the same way).
Imports nothing heavy: it runs before torch is imported.

The process is ours, so three settings for it alone:
* OpenMP threads that wait for work sleep instead of spinning: the generator shares the cores with ffmpeg's
  decoder and encoder, and threads spinning at every layer's barrier take their time (unless the user set it);
* no garbage collection while torch and the rest import (they build many objects and no garbage; collecting
  costs a fifth of the import time), and what they built is then left out of later collections (gc.freeze);
* once the job is done, the process ends without the interpreter's teardown (``exit_now``).
"""
from __future__ import annotations

import atexit
import gc
import os
import sys
from typing import NoReturn


def before_imports() -> None:
    """Call first, before torch or the command line's modules are imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    gc.disable()


def after_imports() -> None:
    """Call once the command line's modules are imported."""
    gc.freeze()
    gc.enable()


def exit_now(status: int) -> NoReturn:
    """End the process with ``status`` once the command has returned: stdout and stderr are flushed and the
    atexit handlers run, as at a normal exit, but the interpreter does not tear down every module and torch's
    globals one by one, which keeps the user waiting after the output file is already closed and in place
    (bench/README.md, "Where our CLI's time goes"). Threads still running are stopped where they are."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):         # a closed pipe or stream: nothing more can reach the reader
            pass
    os._exit(status)
