"""``python -m wav2lip_core ...``: the lip-sync job or a subcommand (see wav2lip_core.cli)."""
import gc
import sys

# This process is ours: no garbage collection while torch and the rest import (they build many objects and no
# garbage; collecting costs a fifth of the import time), and what they built is then left out of later
# collections (gc.freeze).
gc.disable()
from .cli import main  # noqa: E402

gc.freeze()
gc.enable()
sys.exit(main())
