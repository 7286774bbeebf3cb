"""The ``convert`` subcommand: a checkpoint written as a bare-key .safetensors copy, never over its source."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..checkpoints import CheckpointError, convert_to_safetensors
from ..runtime.devices import PRECISIONS
from .checks import check_output_path


def convert_main(argv: Sequence[str] | None = None) -> int:
    """``python -m wav2lip_core convert IN.pth OUT.safetensors [--dtype fp16|fp32|bf16]``; returns the exit
    status (errors are one line, no traceback)."""
    parser = argparse.ArgumentParser(prog="python -m wav2lip_core convert",
                                     description="Write a checkpoint as .safetensors (bare keys).")
    parser.add_argument("source", help="a checkpoint in any container the loader accepts (e.g. the official .pth)")
    parser.add_argument("destination", help="output .safetensors file (never the source itself)")
    parser.add_argument("--dtype", choices=PRECISIONS, default="fp16", help="tensor precision (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        # The same rule as the lip-sync job's --outfile: an output that is an input (after links) is refused.
        check_output_path(args.destination, {"source": args.source}, option="destination",
                          example_name="converted.safetensors")
        written = convert_to_safetensors(args.source, args.destination, PRECISIONS[args.dtype])
    except (CheckpointError, ValueError, OSError) as error:        # JobError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(written)
    return 0
