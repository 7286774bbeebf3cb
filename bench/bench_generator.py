"""The generator alone: ms per frame per batch size, as loaded vs after fast_inference.prepare_for_inference,
prepared and asked for the lower face only (the rows the default feather paste reads, as the engine asks), and,
on CPUs with native bfloat16, prepared with a bfloat16 decoder (the opt-in --precision bf16).

One Wav2Lip forward pass costs 7.93 GFLOP per frame (multiply-adds counted as 2), so achieved GFLOP/s =
7.93 / (seconds per frame); the machine's peak is the compute bound. Inputs are random (cost does not depend
on values); the lower-face row's GFLOP/s counts the whole face's 7.93 GFLOP, so it reads as the speed-up. Each
setting is timed ``repeats`` times, interleaved with the other variant so load from other
processes hits both alike; the median is reported, the best run is given in the note.

    .venv/bin/python bench/bench_generator.py [--quick]
"""
from __future__ import annotations

import copy
import time

import torch

from common import Row, Timing, standalone_main

GFLOP_PER_FRAME = 7.93


def _inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    mel = torch.randn(batch, 1, 80, 16, generator=generator)
    faces = torch.rand(batch, 6, 96, 96, generator=generator)
    return mel, faces


def _one_pass(variant: tuple[torch.nn.Module, int], mel: torch.Tensor, faces: torch.Tensor) -> float:
    model, first_row = variant
    with torch.inference_mode():
        start = time.perf_counter()
        model(mel, faces, first_row)
        return time.perf_counter() - start


def generator_variants() -> dict[str, tuple[torch.nn.Module, int]]:
    """Name -> (generator, first output row asked for)."""
    from random_weights import random_wav2lip

    from wav2lip_core.compositing.blend import first_face_row_read
    from wav2lip_core.runtime.fast_inference import prepare_for_inference

    loaded = random_wav2lip(seed=0).eval().requires_grad_(False)
    prepared = prepare_for_inference(copy.deepcopy(loaded), "cpu", torch.float32)
    feather_row = first_face_row_read("feather", 200, 200)
    variants = {"generator (as loaded)": (loaded, 0),
                "generator (prepare_for_inference)": (prepared, 0),
                f"generator (prepared, lower face: rows {feather_row}-95)": (prepared, feather_row)}
    if _cpu_has_fast_bfloat16():
        variants["generator (prepared, bf16 decoder)"] = (
            prepare_for_inference(copy.deepcopy(loaded), "cpu", torch.bfloat16), 0)
    return variants


def _cpu_has_fast_bfloat16() -> bool:
    """AVX512-BF16 or AMX: oneDNN runs bf16 convolutions natively (elsewhere they are emulated, slower)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def run(quick: bool = False) -> list[Row]:
    batch_sizes = [8, 32] if quick else [1, 8, 32, 128]
    repeats = 3 if quick else 5
    variants = generator_variants()
    rows = []
    for batch in batch_sizes:
        mel, faces = _inputs(batch)
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for variant in variants.values():
            _one_pass(variant, mel, faces)                     # warm-up: oneDNN primitives for this shape
        for _ in range(repeats if batch < 128 else max(2, repeats - 2)):
            for name, variant in variants.items():
                seconds[name].append(_one_pass(variant, mel, faces))
        for name in variants:
            timing = Timing(seconds[name])
            per_frame = timing.median / batch
            rows.append(Row(stage=f"{name}, batch {batch}", resolution="96x96", frames=batch, ours=timing,
                            note=f"{per_frame * 1000:.0f} ms/frame, {GFLOP_PER_FRAME / per_frame:.0f} GFLOP/s "
                                 f"(best {GFLOP_PER_FRAME * batch / timing.best:.0f})"))
    return rows


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
