"""``python -m wav2lip_core ...``: the lip-sync job or a subcommand (see wav2lip_core.cli)."""
import gc
import os
import sys

# This process is ours, so two settings for it alone, made before torch is imported:
# * OpenMP threads that wait for work sleep instead of spinning: the generator shares the cores with ffmpeg's
#   decoder and encoder, and threads spinning at every layer's barrier take their time (unless the user set it);
# * no garbage collection while torch and the rest import (they build many objects and no garbage; collecting
#   costs a fifth of the import time), and what they built is then left out of later collections (gc.freeze).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
gc.disable()
from .cli import main  # noqa: E402

gc.freeze()
gc.enable()
sys.exit(main())
