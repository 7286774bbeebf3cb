"""Command line of the engine: ``python -m wav2lip_core [lip-sync options]`` or ``python -m wav2lip_core
SUBCOMMAND ...`` (``SUBCOMMANDS`` names them, and ``--help`` lists them)."""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from .convert import convert_main
from .models import download_main
from .run import build_parser, run_main
from .score import score_main

def batch_main(argv: Sequence[str]) -> int:
    from ..batch.command import batch_main as main_of_batch     # imported when used: the batch modules

    return main_of_batch(argv)


SUBCOMMANDS: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "download": (download_main, "fetch and verify the known checkpoints ahead of time (--list: what is on disk)"),
    "convert": (convert_main, "write a checkpoint as a bare-key .safetensors file"),
    "batch": (batch_main, "many jobs from a CSV or JSONL manifest, the model loaded once; resumable; --ray for a "
                          "cluster"),
    "score": (score_main, "lip-sync score of a video: AV offset, confidence (LSE-C), min distance (LSE-D)"),
}


def subcommands_help() -> str:
    """The end of ``--help``: every subcommand and what it does."""
    lines = [f"  python -m wav2lip_core {name + ' ...':13s} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "subcommands (each has its own --help):\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand or the lip-sync job; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in SUBCOMMANDS:
        command, _ = SUBCOMMANDS[arguments[0]]
        return command(arguments[1:])
    return run_main(arguments, epilog=subcommands_help())


__all__ = ["SUBCOMMANDS", "build_parser", "main"]
