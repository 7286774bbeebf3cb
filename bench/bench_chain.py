"""The sharper-mouth chain: Wav2Lip Sync -> an image-to-image model -> Paste Back, per frame.

1. Each model alone, per face, run through spandrel one face per call as ComfyUI's "Upscale Image (using Model)"
   does for images that fit one tile, with random weights in the real architectures (cost does not depend on
   weight values): Real-ESRGAN Compact as in ``realesr-general-x4v3.pth`` (64 features, 32 convolutions) and
   RRDBNet as in ``RealESRGAN_x4plus.pth`` (23 blocks, 64 features), both 96 -> 384; GFPGAN v1.4's network
   (512 -> 512, after an "Upscale Image" to 512, not timed; fed NCHW memory, since in ComfyUI 0.8.0's node it
   stops with "view size is not compatible", ComfyUI issue #11851). Beside them, Wav2Lip's own generator as the
   yardstick: absolute times on a shared CPU move with its load, ratios much less, and the repeats go round all
   of them in turn. 4 faces per run (2 with --quick), median of 5 runs (1).
2. The chain through the node functions at 720p: Audio To Mel, Detect Faces (manual box), Wav2Lip Sync (random
   generator), the Compact x4v3 stand-in, Paste Back (mouth, color_match): seconds per stage for 22 frames (7
   with --quick), one run after a warm-up.

    .venv/bin/python bench/bench_chain.py [--quick]
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from common import SPEECH, Row, Timing, astronaut_frames, face_box, standalone_main


def _random_state_dict(network: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    for module in network.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.normal_(module.weight, std=0.02)
    return network.state_dict()


def model_stand_ins() -> dict[str, tuple[object, int]]:
    """{label: (spandrel descriptor, input side in px)} with random weights in the real architectures."""
    from upscale_models import import_spandrel, load_upscale_model

    import_spandrel()
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.GFPGAN import GFPGAN

    gfpgan = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                    fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    return {
        "Real-ESRGAN Compact x4 (as realesr-general-x4v3)":
            (load_upscale_model(_random_state_dict(Compact(num_feat=64, num_conv=32, upscale=4))), 96),
        "RRDBNet x4 (as RealESRGAN_x4plus)":
            (load_upscale_model(_random_state_dict(ESRGAN(num_filters=64, num_blocks=23, scale=4))), 96),
        "GFPGAN v1.4 network (512 px)": (load_upscale_model(_random_state_dict(gfpgan)), 512),
    }


def gflop_per_call(function, *inputs) -> float:
    """GFLOP of one call (multiply-adds counted as 2), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        function(*inputs)
    return counter.get_total_flops() / 1e9


def model_rows(quick: bool) -> list[Row]:
    """Per face: the yardstick (Wav2Lip's generator, prepared, one batch of 8) and each model, one face per call;
    the repeats go round all of them in turn, so a burst of load from elsewhere hits every row alike."""
    from random_weights import random_wav2lip
    from upscale_models import scale_like_comfyui, upscale_like_comfyui

    from wav2lip_core.runtime.fast_inference import prepare_for_inference

    faces = 2 if quick else 4
    repeats = 1 if quick else 5
    generator = prepare_for_inference(random_wav2lip(seed=0).eval(), "cpu", torch.float32)
    mel, crops = torch.randn(8, 1, 80, 16), torch.rand(8, 6, 96, 96)

    def run_generator() -> None:
        with torch.inference_mode():
            generator(mel, crops)

    cases = {"yardstick: Wav2Lip generator (prepared), batch 8": (run_generator, 8, "96x96",
                                                                   gflop_per_call(generator, mel[:1], crops[:1]), "")}
    for label, (descriptor, side) in model_stand_ins().items():
        generated = torch.rand(faces, 96, 96, 3, generator=torch.Generator().manual_seed(0))
        if side != 96:     # "Upscale Image" to 512; GFPGAN needs NCHW memory (see scale_like_comfyui)
            images = scale_like_comfyui(generated, side).movedim(-1, 1).contiguous().movedim(1, -1)
        else:
            images = generated
        out_side = side * descriptor.scale
        parameters = sum(p.numel() for p in descriptor.model.parameters()) / 1e6
        cases[f"model per face: {label}"] = (
            lambda descriptor=descriptor, images=images: upscale_like_comfyui(descriptor, images), faces,
            f"{side}->{out_side}", gflop_per_call(descriptor, images[:1].movedim(-1, 1).contiguous()),
            f", {parameters:.1f} M parameters")
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for name, (function, *_rest) in cases.items():
        function()                                                       # warm-up
    for _ in range(repeats):
        for name, (function, *_rest) in cases.items():
            start = time.perf_counter()
            function()
            seconds[name].append(time.perf_counter() - start)
    rows = []
    yardstick = Timing(seconds[next(iter(cases))]).median / 8
    for name, (_, count, resolution, gflop, extra) in cases.items():
        timing = Timing(seconds[name])
        per_face = timing.median / count
        rows.append(Row(stage=name, resolution=resolution, frames=count, ours=timing,
                        note=f"{per_face * 1000:.0f} ms/face ({per_face / yardstick:.1f}x the generator), "
                             f"{gflop:.1f} GFLOP/face, {gflop / per_face:.0f} GFLOP/s{extra}, median of {repeats}"))
    return rows


def chain_rows(quick: bool) -> list[Row]:
    """Seconds per node for a 720p clip through the whole chain (one run, after a warm-up run on 6 frames that
    loads and prepares the generator)."""
    import soundfile

    from nodes import NODE_CLASS_MAPPINGS
    from nodes import model_management as mm
    from nodes.types import Wav2LipModel
    from random_weights import random_wav2lip
    from upscale_models import upscale_like_comfyui

    height, width = 720, 1280
    y1, y2, x1, x2 = face_box(height, width)
    speech, rate = soundfile.read(SPEECH, dtype="float32")
    model = Wav2LipModel(managed=mm.ManagedModel(random_wav2lip(seed=0).eval(), "random"), path=Path("random.pth"),
                         dtype=torch.float32)
    compact = model_stand_ins()["Real-ESRGAN Compact x4 (as realesr-general-x4v3)"][0]
    node = {name: cls() for name, cls in NODE_CLASS_MAPPINGS.items()}

    def chain(num_frames: int) -> tuple[dict[str, float], int]:
        images = torch.from_numpy(astronaut_frames(height, width, num_frames)).float() / 255.0
        audio = {"waveform": torch.from_numpy(speech[:int(num_frames / 25 * rate)])[None, None],
                 "sample_rate": rate}
        stages: dict[str, float] = {}

        def timed(stage: str, function, *args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            stages[stage] = time.perf_counter() - start
            return result

        mel, frame_count, _ = timed("Audio To Mel", node["AudioToMel"].convert, audio, 25.0)
        faces, crops = timed("Detect Faces (manual box)", node["DetectFaces"].detect, images,
                             manual_box=f"{y1}, {y2}, {x1}, {x2}", frame_count=frame_count)
        generated, plan = timed("Wav2Lip Sync", node["Wav2LipSync"].sync, model, faces, crops, mel)
        upscaled = timed("Upscale Image (using Model), Compact x4v3", upscale_like_comfyui, compact, generated)
        timed("Paste Back (mouth, color_match, 384 px faces)", node["PasteBack"].paste, images, upscaled, plan,
              blend="mouth", color_match=True)
        return stages, plan.num_frames

    chain(6)
    stages, frames = chain(10 if quick else 25)
    rows = [Row(stage=f"chain: {stage}", resolution="720p", frames=frames, ours=Timing([seconds]),
                note=f"{seconds / frames * 1000:.0f} ms/frame") for stage, seconds in stages.items()]
    total = sum(stages.values())
    rows.append(Row(stage="chain: all nodes", resolution="720p", frames=frames, ours=Timing([total]),
                    note=f"{total / frames * 1000:.0f} ms/frame, one run"))
    return rows


def run(quick: bool = False) -> list[Row]:
    return model_rows(quick) + chain_rows(quick)


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
