"""Our CLI as the benchmarks run it: ``python bench/launch_ours.py CLI-ARGS...``.

Same as ``python -m wav2lip_core CLI-ARGS...``, with two optional benchmark-only switches from the environment:
- ``WAV2LIP_BENCH_PREPARE=1``: apply fast_inference.prepare_for_inference to the generator after loading
  (for comparison until the engine calls it itself);
- ``WAV2LIP_BENCH_SUBBATCH=1``: call the generator in sub-batches of at most
  fast_inference.preferred_generator_batch(device) frames (the proposed engine default);
- ``WAV2LIP_BENCH_S3FD=PATH``: use the S3FD weights file PATH (random weights in the real layout: the detector's
  cost does not depend on the weights), instead of looking for / downloading the real one.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wav2lip_core import checkpoint, cli, fast_inference  # noqa: E402


def _install_switches() -> None:
    if os.environ.get("WAV2LIP_BENCH_PREPARE") == "1":
        load = checkpoint.load_wav2lip
        checkpoint.load_wav2lip = lambda *args, **kwargs: fast_inference.prepare_for_inference(load(*args, **kwargs))
    if os.environ.get("WAV2LIP_BENCH_SUBBATCH") == "1":
        from wav2lip_core import pipeline

        generate = pipeline.generate_faces_batched

        def generate_in_sub_batches(model, faces_rgb, chunks, batch_size):
            cap = fast_inference.preferred_generator_batch(next(model.parameters()).device)
            return generate(model, faces_rgb, chunks, min(batch_size, cap) if cap else batch_size)
        pipeline.generate_faces_batched = generate_in_sub_batches
    s3fd_path = os.environ.get("WAV2LIP_BENCH_S3FD")
    if s3fd_path and hasattr(cli, "fetch_if_known"):
        fetch = cli.fetch_if_known
        cli.fetch_if_known = lambda name, architecture, allow_download: (
            Path(s3fd_path) if architecture == checkpoint.S3FD else fetch(name, architecture, allow_download))


if __name__ == "__main__":
    _install_switches()
    sys.exit(cli.main(sys.argv[1:]))
