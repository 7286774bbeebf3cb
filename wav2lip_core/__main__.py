"""``python -m wav2lip_core ...`` (lip-sync, see cli.py) or ``python -m wav2lip_core download [NAME ...]``."""
import sys

if len(sys.argv) > 1 and sys.argv[1] == "download":
    from .download import download_main
    sys.exit(download_main(sys.argv[2:]))

from .cli import main  # noqa: E402

sys.exit(main())
