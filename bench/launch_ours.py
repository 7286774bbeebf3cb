"""Our CLI as the benchmarks run it: ``python bench/launch_ours.py CLI-ARGS...``.

Same as ``python -m wav2lip_core CLI-ARGS...``, with one optional benchmark-only switch from the environment:
``WAV2LIP_BENCH_S3FD=PATH`` uses the S3FD weights file PATH (random weights in the real layout: the detector's
cost does not depend on the weights), instead of looking for / downloading the real one.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wav2lip_core import cli  # noqa: E402
from wav2lip_core.checkpoints import S3FD  # noqa: E402
from wav2lip_core.cli import run as cli_run  # noqa: E402


def _install_switches() -> None:
    s3fd_path = os.environ.get("WAV2LIP_BENCH_S3FD")
    if s3fd_path:
        fetch = cli_run.fetch_with_progress
        cli_run.fetch_with_progress = lambda name, architecture, folder, allow_download: (
            Path(s3fd_path) if architecture == S3FD else fetch(name, architecture, folder, allow_download))


if __name__ == "__main__":
    _install_switches()
    sys.exit(cli.main(sys.argv[1:]))
