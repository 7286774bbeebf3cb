"""The GPU benchmark (issue 15), in one process: the node chain at 1080p, the generator, then the CLI beside
the original, printed as one table. bench/gpu.sh runs it on the device machine (bench/README.md says how).

- nodes: Audio To Mel -> Detect Faces -> Wav2Lip Sync -> Paste Back through the node functions, outside
  ComfyUI (nodes/model_management.py's plain-torch fallback: the compute device is the GPU), on an IMAGE batch
  already in memory ((N, 1080, 1920, 3) float32 RGB 0..1, bench_nodes_memory's astronaut frames), first with a
  manual box, then with S3FD on every frame (random weights scaled as bench_cli's). Seconds and fps per node
  and for the chain, after a short warm-up run (model upload, cuDNN autotuning). Memory: the GPU's peak per node
  at N / 4 and at N frames with the box (flat: the same at both lengths) and the process's peak RSS.
- generator: Wav2Lip alone on random inputs already on the GPU, fp32 and fp16 (prepare_for_inference: decoder
  in half), batch 128 and 512, cudnn.benchmark on (devices.tuned_convolutions), fp16 replayed from a CUDA
  graph and fp16 with every convolution unit as one cuDNN call, to see whether either pays.
- profile: one more pass of each chain on a few frames under torch.profiler; the operators by host and by device
  time are written to $OUT/profile_<chain>.txt (they come back from the device machine with the log).
- CLI: bench_cli's end-to-end rows (a fresh process per run; ours and, where .orig holds the original checkout,
  the original): 720p --box, 720p S3FD (every frame, and the default key frames + flow), 1080p --box.

    python3 bench/bench_gpu.py [--frames 747] [--skip-cli] [--cpu-smoke]

``--cpu-smoke``: a few frames on the CPU, the nodes forced onto their tensor path, batch 8, no CLI: checks that
the script runs end to end where there is no GPU (its numbers mean nothing).
"""
from __future__ import annotations

import argparse
import copy
import gc
import os
import resource
import time
from pathlib import Path

import torch

import bench_cli
from bench_nodes_memory import FPS, GB, HEIGHT, WIDTH, detect_inputs, input_images, speech_audio, use_random_s3fd
from common import Row, Timing, face_box, format_table, machine_description, random_checkpoint, time_calls

SHORTEST_CLIP = 8            # frames: the speech for fewer is too short for one mel chunk
NODES = ("AudioToMel", "DetectFaces", "Wav2LipSync", "PasteBack")
PROFILE_FRAMES = 128         # frames of the profiled chains (the profiler's own cost grows with them)
# Batch sizes run nowhere else in this benchmark (the chain runs 512, 235, 186, 32, 16; the generator rows 128
# and 512), per precision: (on cuDNN's heuristics, with cudnn.benchmark).
NEW_SHAPE_BATCHES = {"fp32": (233, 237), "fp16": (239, 241)}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _gpu_peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / GB if device.type == "cuda" else None


def _reset_gpu_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


# ------------------------------------------------------------------------------------------------ node chain
def run_chain(images: torch.Tensor, generator, detector: str, batch_size: int) -> dict:
    """One pass of the four nodes over ``images``; seconds and GPU peak per node, output frames."""
    from nodes import NODE_CLASS_MAPPINGS
    from nodes import model_management as mm

    device = mm.compute_device()
    count = int(images.shape[0])
    result: dict = {"frames": count, "seconds": {}, "gpu_peak_gb": {}}

    def node(name: str, **inputs):
        cls = NODE_CLASS_MAPPINGS[name]
        _synchronize(device)
        _reset_gpu_peak(device)
        started = time.perf_counter()
        with torch.profiler.record_function(f"node {name}"):     # a row of its own in profile_notes' tables
            outputs = getattr(cls(), cls.FUNCTION)(**inputs)
        _synchronize(device)
        result["seconds"][name] = time.perf_counter() - started
        result["gpu_peak_gb"][name] = _gpu_peak_gb(device)
        return outputs

    mel, frame_count, _ = node("AudioToMel", audio=speech_audio(count), fps=FPS)
    detect = detect_inputs(detector)
    faces, crops = node("DetectFaces", images=images, frame_count=frame_count, **detect)
    generated, plan = node("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                           loop_mode="loop", batch_size=batch_size)
    output, _ = node("PasteBack", images=images, generated_faces=generated, sync=plan, blend="feather",
                     mask="off")
    result["output_frames"] = int(output.shape[0])
    result["found"] = int(faces.found.sum())
    del output, generated, crops
    gc.collect()
    return result


def load_generator():
    """The random generator checkpoint loaded as Load Wav2Lip Model does (precision auto)."""
    from nodes import model_management as mm
    from nodes.types import Wav2LipModel
    from wav2lip_core.checkpoints import load_wav2lip

    path = random_checkpoint()
    dtype = mm.pick_dtype("auto", mm.compute_device())
    module = load_wav2lip(path, device=mm.offload_device(), dtype=dtype)
    return Wav2LipModel(managed=mm.ManagedModel(module, name=path.name), path=path, dtype=dtype), dtype


def chain_rows(frames: int, batch_size: int, smoke: bool) -> tuple[list[Row], list[str]]:
    """The node chain with a manual box (at frames // 4 and frames, for memory) and with S3FD; rows and notes."""
    from nodes import model_management as mm

    device = mm.compute_device()
    generator, dtype = load_generator()
    use_random_s3fd()
    started = time.perf_counter()
    images = input_images(frames)
    notes = [f"input IMAGE {tuple(images.shape)} float32 built in {time.perf_counter() - started:.1f} s "
             f"({images.numel() * 4 / GB:.1f} GB); nodes on {device} ({dtype}), tensor path "
             f"{'on' if mm.tensor_path_device() is not None else 'off'}"]
    warm = min(frames, SHORTEST_CLIP if smoke else 32)
    for detector in ("manual box", "s3fd"):                # warm-up: uploads, cuDNN autotuning, allocator
        run_chain(images[:warm], generator, detector, batch_size)
    quarter = max(SHORTEST_CLIP, frames // 4)
    runs = [("manual box", quarter), ("manual box", frames), ("s3fd", frames)]
    rows, memory = [], []
    for detector, count in runs:
        result = run_chain(images[:count], generator, detector, batch_size)
        chain_seconds = sum(result["seconds"][name] for name in NODES[1:])
        for name in NODES:
            seconds = result["seconds"][name]
            rows.append(Row(stage=f"nodes, {detector}: {name}", resolution="1080p", frames=count,
                            ours=Timing([seconds]), note=_gpu_note(result["gpu_peak_gb"][name])))
        rows.append(Row(stage=f"nodes, {detector}: Detect + Sync + Paste", resolution="1080p", frames=count,
                        ours=Timing([chain_seconds]),
                        note=f"faces found on {result['found']} of {count} frames; one run after a warm-up on "
                             f"{warm} frames (batch sizes it did not run are tuned inside this run)"))
        peaks = " / ".join("-" if result["gpu_peak_gb"][n] is None else f"{result['gpu_peak_gb'][n]:.2f}"
                           for n in NODES)
        memory.append(f"GPU peak GB per node ({' / '.join(NODES)}), {detector}, {count} frames: {peaks}")
    notes += memory
    notes.append(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB "
                 f"(input IMAGE + one output IMAGE + the rest)")
    notes += agreement_notes(images)
    del images
    gc.collect()
    return rows, notes


def profile_notes(frames: int, batch_size: int) -> list[str]:
    """One more pass of each chain on ``frames`` frames under torch.profiler, for a later session without the
    device: the operators by host time and by device time go to $OUT (else /tmp) as profile_<chain>.txt; the
    notes name the files and the three operators with the most host time."""
    from torch.profiler import ProfilerActivity, profile

    generator, _ = load_generator()
    images = input_images(frames)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    folder = Path(os.environ.get("OUT") or "/tmp")
    folder.mkdir(parents=True, exist_ok=True)
    notes = []
    for detector in ("manual box", "s3fd"):
        with profile(activities=activities) as profiled:
            run_chain(images, generator, detector, batch_size)
        averages = profiled.key_averages()
        tables = [averages.table(sort_by="self_cpu_time_total", row_limit=30)]
        if ProfilerActivity.CUDA in activities:
            tables.append(averages.table(sort_by="self_device_time_total", row_limit=30))
        path = folder / f"profile_{detector.replace(' ', '_')}.txt"
        path.write_text("\n\n".join(tables))
        top = sorted(averages, key=lambda event: event.self_cpu_time_total, reverse=True)[:3]
        notes.append(f"profile, {detector}, {frames} frames: most host time in "
                     + ", ".join(f"{event.key} {event.self_cpu_time_total / 1e3:.0f} ms" for event in top)
                     + f" ({path})")
    return notes


def _gpu_note(peak: float | None) -> str:
    return "" if peak is None else f"GPU peak {peak:.2f} GB"


# ------------------------------------------------------------------------------------------------- agreement
class cpu_path:
    """Context: the nodes take their CPU path (numpy / OpenCV), whatever device there is."""

    def __enter__(self):
        from nodes import model_management as mm

        self._mm, self._saved = mm, (mm.compute_device, mm.TENSOR_PATH_ON_CPU)
        mm.compute_device, mm.TENSOR_PATH_ON_CPU = (lambda: torch.device("cpu")), False
        return self

    def __exit__(self, *exc_info):
        self._mm.compute_device, self._mm.TENSOR_PATH_ON_CPU = self._saved
        return False


def agreement_notes(images: torch.Tensor, frames: int = 16) -> list[str]:
    """The tensor path against the CPU path on the first ``frames`` frames: Detect Faces' crops (manual box) and
    Paste Back's frames for every blend, color_match off and on, 96 and 384 px faces (the crops themselves as
    faces); max |difference| in 1/255 (issue 15: at most 2 on pasted frames)."""
    from nodes import NODE_CLASS_MAPPINGS
    from nodes.sync_node import make_sync_plan
    from wav2lip_core.compositing.blend import BLEND_MODES

    def call(name: str, **inputs):
        cls = NODE_CLASS_MAPPINGS[name]
        return getattr(cls(), cls.FUNCTION)(**inputs)

    def levels(a: torch.Tensor, b: torch.Tensor) -> int:
        return int(((a.float() * 255).round() - (b.float() * 255).round()).abs().max())

    sample = images[:frames]
    detect = {"detector": "s3fd", "manual_box": ", ".join(map(str, face_box(HEIGHT, WIDTH)))}
    faces, crops = call("DetectFaces", images=sample, **detect)
    with cpu_path():
        _, crops_on_cpu = call("DetectFaces", images=sample, **detect)
    plan = make_sync_plan(faces, int(sample.shape[0]), "loop")
    large = torch.nn.functional.interpolate(crops.permute(0, 3, 1, 2), size=(384, 384), mode="bicubic")
    face_sets = {96: crops, 384: large.clamp(0, 1).permute(0, 2, 3, 1).contiguous()}
    worst, found = 0, [f"agreement, {int(sample.shape[0])} frames at 1080p: Detect Faces' crops differ by "
                       f"{levels(crops, crops_on_cpu)}/255; Paste Back, max |GPU - CPU| in 1/255 "
                       f"(color_match off/on):"]
    for size, generated in face_sets.items():
        for blend in BLEND_MODES:
            differences = []
            for color_match in (False, True):
                inputs = dict(images=sample, generated_faces=generated, sync=plan, blend=blend, mask="off",
                              color_match=color_match)
                pasted = call("PasteBack", **inputs)[0]
                with cpu_path():
                    differences.append(levels(pasted, call("PasteBack", **inputs)[0]))
            worst = max(worst, *differences)
            found.append(f"  {blend} {size} px: {differences[0]}/{differences[1]}")
    found.append(f"agreement: {'OK' if worst <= 2 else 'FAILED'} (worst {worst}/255, limit 2/255)")
    return found


# ------------------------------------------------------------------------------------------------- generator
def _time_passes(function, device: torch.device, repeats: int) -> Timing:
    """``function`` timed to the end of its device work, after 3 passes for cuDNN autotuning and the allocator."""
    return time_calls(lambda: (function(), _synchronize(device)), repeats, warmup=3)


def generator_rows(device: torch.device, batches: list[int], repeats: int) -> list[Row]:
    """Generator fps by precision and batch (inputs already on the device); at fp16's largest batch also the lower
    face alone, from a CUDA graph and as fused cuDNN units."""
    from random_weights import random_wav2lip

    from wav2lip_core.compositing.blend import first_face_row_read
    from wav2lip_core.runtime.devices import tuned_convolutions
    from wav2lip_core.runtime.fast_inference import prepare_for_inference

    loaded = random_wav2lip(seed=0).eval().requires_grad_(False)
    feather_row = first_face_row_read("feather", 200, 200)
    precisions = {"fp32": torch.float32}
    if device.type == "cuda":
        precisions["fp16"] = torch.float16
    rows, tuning = [], "cudnn.benchmark; " if device.type == "cuda" else ""
    for label, dtype in precisions.items():
        model = prepare_for_inference(copy.deepcopy(loaded), device, dtype)
        parameter_dtype = next(model.parameters()).dtype
        for batch in batches:
            mel = torch.randn(batch, 1, 80, 16, device=device, dtype=parameter_dtype)
            faces = torch.rand(batch, 6, 96, 96, device=device, dtype=parameter_dtype)

            def one_pass(first_row: int = 0):
                with torch.inference_mode(), tuned_convolutions(device):
                    model(mel, faces, first_row)

            timing = _time_passes(one_pass, device, repeats)
            rows.append(Row(stage=f"generator {label}, batch {batch}", resolution="96x96", frames=batch,
                            ours=timing, note=f"{tuning}median of {repeats}, best {batch / timing.best:.0f} fps"))
            if label == list(precisions)[-1] and batch == max(batches):     # fp16 on CUDA (the smoke: fp32)
                lower = _time_passes(lambda: one_pass(feather_row), device, repeats)
                rows.append(Row(stage=f"generator {label}, batch {batch}, lower face (rows {feather_row}-95)",
                                resolution="96x96", frames=batch, ours=lower,
                                note=f"what the CLI's feather paste asks for; best {batch / lower.best:.0f} fps"))
            if label == "fp16" and batch == max(batches):
                rows.append(_graph_row(model, mel, faces, device, repeats, batch))
                rows.append(_cudnn_fused_row(model, mel, faces, device, repeats, batch))
        if device.type == "cuda":
            rows.append(_new_shape_row(model, device, label, parameter_dtype))
        del model
    return rows


def _new_shape_row(model, device: torch.device, label: str, dtype: torch.dtype) -> Row:
    """What a batch size the process has not run yet costs (a clip's short last batch): one pass on cuDNN's
    heuristics at one such size, then two passes at another with cudnn.benchmark, the first timing every layer's
    algorithms. Two sizes, because cuDNN keeps the plan it first used for a shape, heuristic or timed; none of
    them is run anywhere else in this benchmark (NEW_SHAPE_BATCHES)."""
    from wav2lip_core.runtime.devices import tuned_convolutions

    heuristic_batch, tuned_batch = NEW_SHAPE_BATCHES[label]
    stage = f"generator {label}, a batch size not run before, cuDNN heuristics"

    def one_pass(batch: int) -> float:
        mel = torch.randn(batch, 1, 80, 16, device=device, dtype=dtype)
        faces = torch.rand(batch, 6, 96, 96, device=device, dtype=dtype)
        started = time.perf_counter()
        with torch.inference_mode():
            model(mel, faces)
        _synchronize(device)
        return time.perf_counter() - started

    try:
        saved = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = False
        try:
            heuristic = one_pass(heuristic_batch)
        finally:
            torch.backends.cudnn.benchmark = saved
        with tuned_convolutions(device):
            first, second = one_pass(tuned_batch), one_pass(tuned_batch)
        return Row(stage=stage, resolution="96x96", frames=heuristic_batch, ours=Timing([heuristic]),
                   note=f"with cudnn.benchmark at {tuned_batch}: first pass {first:.4f} s (timing the algorithms), "
                        f"second {second:.4f} s")
    except Exception as error:                              # report, do not stop the benchmark
        return Row(stage=stage, resolution="96x96", frames=heuristic_batch, ours=None,
                   note=f"failed: {str(error).splitlines()[0][:120]}")


def _graph_row(model, mel, faces, device, repeats: int, batch: int) -> Row:
    """The same pass captured once in a CUDA graph and replayed (no per-layer launch overhead)."""
    from wav2lip_core.runtime.devices import tuned_convolutions

    try:
        with torch.inference_mode(), tuned_convolutions(device):
            stream = torch.cuda.Stream(device)
            stream.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(stream):
                for _ in range(3):
                    model(mel, faces)
            torch.cuda.current_stream(device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                model(mel, faces)
        timing = _time_passes(graph.replay, device, repeats)
        return Row(stage=f"generator fp16, batch {batch}, CUDA graph", resolution="96x96", frames=batch,
                   ours=timing, note=f"median of {repeats}, best {batch / timing.best:.0f} fps")
    except Exception as error:                              # report, do not stop the benchmark
        return Row(stage=f"generator fp16, batch {batch}, CUDA graph", resolution="96x96", frames=batch,
                   ours=None, note=f"failed: {str(error).splitlines()[0][:120]}")


def _cudnn_fused_row(model, mel, faces, device, repeats: int, batch: int) -> Row:
    """The same pass with every convolution unit as one cuDNN call (convolution, bias, residual add and ReLU:
    torch.cudnn_convolution_add_relu / _relu) instead of a convolution and two passes over its output: whether
    the engine should take this up on CUDA, with the largest difference from the plain pass."""
    from wav2lip_core.models.blocks import ConvBnRelu
    from wav2lip_core.runtime.devices import tuned_convolutions

    plain_unit = ConvBnRelu.forward

    def fused_unit(self, x: torch.Tensor) -> torch.Tensor:
        """A folded unit's relu(conv(x) + bias [+ x]) as one cuDNN call (the CPU's fused oneDNN call, on CUDA)."""
        conv = self.conv_block[0]
        if not isinstance(self.conv_block[1], torch.nn.Identity):      # BatchNorm not folded: as it is
            return plain_unit(self, x)
        geometry = (list(conv.stride), list(conv.padding), list(conv.dilation), conv.groups)
        if self.residual:
            return torch.cudnn_convolution_add_relu(x, conv.weight, x, 1.0, conv.bias, *geometry)
        return torch.cudnn_convolution_relu(x, conv.weight, conv.bias, *geometry)

    stage = f"generator fp16, batch {batch}, cuDNN fused units"
    try:
        with torch.inference_mode(), tuned_convolutions(device):
            plain = model(mel, faces).float()
        ConvBnRelu.forward = fused_unit                     # the fused units fall back to it off the CPU
        try:
            with torch.inference_mode(), tuned_convolutions(device):
                difference = float((model(mel, faces).float() - plain).abs().max())

                def one_pass():
                    model(mel, faces)

                timing = _time_passes(one_pass, device, repeats)
        finally:
            ConvBnRelu.forward = plain_unit
        return Row(stage=stage, resolution="96x96", frames=batch, ours=timing,
                   note=f"median of {repeats}, best {batch / timing.best:.0f} fps; max |fused - plain| "
                        f"{difference * 255:.2f}/255")
    except Exception as error:                              # report, do not stop the benchmark
        return Row(stage=stage, resolution="96x96", frames=batch, ours=None,
                   note=f"failed: {str(error).splitlines()[0][:120]}")


# ------------------------------------------------------------------------------------------------------- CLI
def cli_rows() -> list[Row]:
    """bench_cli's end-to-end rows on the GPU: 720p --box, the 720p S3FD rows (every frame, default detection),
    1080p --box."""
    return (bench_cli.box_rows("720p", 720, 1280, 1) + bench_cli.detection_rows()
            + bench_cli.box_rows("1080p", 1080, 1920, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=747, help="frames through the node chain (747: 30 s)")
    parser.add_argument("--batch-size", type=int, default=512, help="Wav2Lip Sync's batch_size")
    parser.add_argument("--skip-cli", action="store_true", help="no CLI rows")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="a few frames on the CPU through the tensor path: checks the script runs")
    args = parser.parse_args()
    args.frames = max(SHORTEST_CLIP, args.frames)
    from nodes import model_management as mm

    if args.cpu_smoke:
        mm.TENSOR_PATH_ON_CPU = True
        mm.compute_device = lambda: torch.device("cpu")
        args.frames, args.batch_size, args.skip_cli = SHORTEST_CLIP, 8, True
    device = mm.compute_device()
    if device.type != "cuda" and not args.cpu_smoke:
        raise SystemExit(f"no CUDA device (compute device {device}); use --cpu-smoke to check the script on a CPU")
    torch.set_grad_enabled(False)
    print(machine_description(), flush=True)
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}, torch {torch.__version__}, "
              f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}", flush=True)
    huge_pages = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if huge_pages.is_file():        # how the kernel backs fresh output memory (Paste Back's first touch)
        print(f"transparent huge pages: {huge_pages.read_text().strip()}", flush=True)
    rows, notes = chain_rows(args.frames, args.batch_size, args.cpu_smoke)
    batches = [8] if args.cpu_smoke else [128, 512]
    rows += _or_failure("generator", lambda: generator_rows(device, batches, 2 if args.cpu_smoke else 10))
    if not args.skip_cli:
        rows += _or_failure("CLI", cli_rows)
    print(format_table(rows))
    for note in notes:
        print(f"- {note}")
    # Last, after everything timed is printed: the profiler can leave the device slower behind it.
    for note in _or_failure_note("profile", lambda: profile_notes(min(args.frames, PROFILE_FRAMES), args.batch_size)):
        print(f"- {note}", flush=True)


def _or_failure_note(part: str, notes) -> list[str]:
    """``notes()``, or one note saying why that part failed."""
    try:
        return notes()
    except Exception as error:
        return [f"{part}: failed ({type(error).__name__}: {str(error).splitlines()[0][:150] if str(error) else ''})"]


def _or_failure(part: str, rows) -> list[Row]:
    """``rows()``, or one row saying why that part failed (the table printed either way)."""
    try:
        return rows()
    except Exception as error:
        import traceback

        traceback.print_exc()
        return [Row(stage=f"{part}: failed", resolution="-", frames=0, ours=None,
                    note=f"{type(error).__name__}: {str(error).splitlines()[0][:150] if str(error) else ''}")]


if __name__ == "__main__":
    main()
