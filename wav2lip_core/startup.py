"""How our own command-line process starts (``python -m wav2lip_core``; bench/launch_ours.py starts the same way).
Imports nothing heavy: it runs before torch is imported.

The process is ours, so two settings for it alone:
* OpenMP threads that wait for work sleep instead of spinning: the generator shares the cores with ffmpeg's
  decoder and encoder, and threads spinning at every layer's barrier take their time (unless the user set it);
* no garbage collection while torch and the rest import (they build many objects and no garbage; collecting
  costs a fifth of the import time), and what they built is then left out of later collections (gc.freeze).
"""
from __future__ import annotations

import gc
import os


def before_imports() -> None:
    """Call first, before torch or the command line's modules are imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    gc.disable()


def after_imports() -> None:
    """Call once the command line's modules are imported."""
    gc.freeze()
    gc.enable()
