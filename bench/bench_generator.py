"""The generator alone: ms per frame per batch size, as loaded vs after fast_inference.prepare_for_inference
(and, on CPUs with native bfloat16, prepared with a bfloat16 decoder: the opt-in --precision bf16).

One Wav2Lip forward pass costs 7.93 GFLOP per frame (multiply-adds counted as 2), so achieved GFLOP/s =
7.93 / (seconds per frame); the machine's peak is the compute bound. Inputs are random (cost does not depend
on values). Each setting is timed ``repeats`` times, interleaved with the other variant so load from other
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


def _one_pass(model: torch.nn.Module, mel: torch.Tensor, faces: torch.Tensor) -> float:
    with torch.inference_mode():
        start = time.perf_counter()
        model(mel, faces)
        return time.perf_counter() - start


def generator_variants() -> dict[str, torch.nn.Module]:
    from random_weights import random_wav2lip

    from wav2lip_core.fast_inference import prepare_for_inference

    loaded = random_wav2lip(seed=0).eval().requires_grad_(False)
    variants = {"generator (as loaded)": loaded,
                "generator (prepare_for_inference)": prepare_for_inference(copy.deepcopy(loaded), "cpu",
                                                                           torch.float32)}
    if _cpu_has_fast_bfloat16():
        variants["generator (prepared, bf16 decoder)"] = prepare_for_inference(copy.deepcopy(loaded), "cpu",
                                                                              torch.bfloat16)
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
        for model in variants.values():
            _one_pass(model, mel, faces)                       # warm-up: oneDNN primitives for this shape
        for _ in range(repeats if batch < 128 else max(2, repeats - 2)):
            for name, model in variants.items():
                seconds[name].append(_one_pass(model, mel, faces))
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
