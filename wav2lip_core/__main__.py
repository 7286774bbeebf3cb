"""``python -m wav2lip_core ...``: the lip-sync job or a subcommand (see wav2lip_core.cli)."""
import sys

from .cli import main

sys.exit(main())
