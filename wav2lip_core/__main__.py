"""``python -m wav2lip_core ...``: the lip-sync job or a subcommand (see wav2lip_core.cli)."""
import sys

from .startup import after_imports, before_imports

before_imports()
from .cli import main  # noqa: E402

after_imports()
sys.exit(main())
