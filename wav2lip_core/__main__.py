"""``python -m wav2lip_core ...``: the lip-sync job or a subcommand (see wav2lip_core.cli)."""
from .runtime.startup import after_imports, before_imports, exit_now

before_imports()
from .cli import main  # noqa: E402

after_imports()
exit_now(main())
