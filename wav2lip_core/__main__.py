"""``python -m wav2lip_core ...``: lip-sync (see cli.py), or the subcommands
``download [NAME ...]`` (fetch known checkpoints) and ``convert IN.pth OUT.safetensors`` (bare-key safetensors)."""
import sys

command = sys.argv[1] if len(sys.argv) > 1 else None
if command == "download":
    from .download import download_main
    sys.exit(download_main(sys.argv[2:]))
if command == "convert":
    from .cli import convert_main
    sys.exit(convert_main(sys.argv[2:]))

from .cli import main  # noqa: E402

sys.exit(main())
