"""``python -m wav2lip_core ...``: see wav2lip_core/cli.py."""
import sys

from .cli import main

sys.exit(main())
