"""Memory through the ComfyUI nodes: a 1080p clip at several lengths, peak process memory against its parts.

Each case runs in a fresh Python process (``--child``), as ComfyUI would hold the data:
1. the input IMAGE batch (N, 1080, 1920, 3) float32 RGB 0..1 is built (astronaut frames) and kept, as
   ComfyUI's cache keeps a video loader's output;
2. AudioToMel (speech giving N frames at 25 fps) -> DetectFaces -> Wav2LipSync (random generator weights in the official
   format) -> PasteBack run one after the other, the way a workflow wires them; every output stays alive;
3. the resident set size is sampled every 2 ms in a thread (and ``ru_maxrss`` read at the end): its peak
   during each node, and overall.

The target (issue: speed and memory): peak <= input IMAGE + output IMAGE (+ the MASK output when it is on) +
a constant under 1.5 GB, whatever the length: "constant" below is peak - input - outputs, and must not grow
with N. Nodes run on the CPU here (plain-torch fallback of nodes/model_management.py); the face is given as a
box (DetectFaces' manual_box) unless ``--detector s3fd`` (random S3FD weights; cost and memory do not depend
on them).

    .venv/bin/python bench/bench_nodes_memory.py [--quick] [--frames 100 400] [--mask] [--detector s3fd]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from pathlib import Path

from common import SPEECH, astronaut_frames, child_result, face_box, random_checkpoint

HEIGHT, WIDTH = 1080, 1920
FPS = 25.0
DISTINCT_FRAMES = 20          # the clip cycles through this many different astronaut frames
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
GB = 1e9


class PeakSampler:
    """Samples this process's RSS (from /proc/self/statm) every ``interval`` seconds; peak per named stage."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.stage = "start"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self.rss()
            if value > self.peaks.get(self.stage, 0):
                self.peaks[self.stage] = value
            time.sleep(self.interval)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def enter(self, stage: str) -> None:
        self.stage = stage
        self.peaks[stage] = max(self.peaks.get(stage, 0), self.rss())


def speech_audio(num_frames: int):
    """Speech giving exactly ``num_frames`` output frames at FPS (the sample, tiled), as a ComfyUI AUDIO dict
    (float32 mono 16 kHz)."""
    import numpy as np
    import torch

    from wav2lip_core.audio import SAMPLE_RATE, load_audio, num_output_frames

    wav = load_audio(SPEECH)
    needed = int(num_frames / FPS * SAMPLE_RATE)
    while num_output_frames(needed, FPS) < num_frames:
        needed += 200                                 # one mel column
    tiled = np.tile(wav, needed // len(wav) + 1)[:needed]
    return {"waveform": torch.from_numpy(tiled)[None, None].clone(), "sample_rate": SAMPLE_RATE}


def detect_inputs(detector: str, detect_every: int = 1) -> dict:
    """Detect Faces' inputs for these benchmarks: S3FD ("s3fd") or the manual box on the astronaut's face."""
    return {"detector": "s3fd", "pad_top": 0, "pad_bottom": 10, "pad_left": 0, "pad_right": 0,
            "smoothing": "centered", "smooth_window": 5, "detect_size": 0, "detect_every": detect_every,
            "on_missing": "nearest", "face_index": -1, "batch_size": 16,
            "manual_box": "" if detector == "s3fd" else ", ".join(map(str, face_box(HEIGHT, WIDTH)))}


def input_images(num_frames: int):
    """The input IMAGE batch (N, 1080, 1920, 3) float32 RGB 0..1, filled frame by frame."""
    import torch

    distinct = astronaut_frames(HEIGHT, WIDTH, min(DISTINCT_FRAMES, num_frames))
    images = torch.empty((num_frames, HEIGHT, WIDTH, 3), dtype=torch.float32)
    for index in range(num_frames):
        images[index] = torch.from_numpy(distinct[index % len(distinct)]).to(torch.float32) / 255.0
    del distinct
    return images


def child(num_frames: int, mask: bool, detector: str) -> dict:
    """One case in this process; returns the measurements (bytes, seconds)."""
    import torch

    from nodes import NODE_CLASS_MAPPINGS
    from nodes import model_management as mm
    from nodes.types import Wav2LipModel
    from wav2lip_core.checkpoints import load_wav2lip

    torch.set_grad_enabled(False)
    result: dict = {"frames": num_frames, "mask": mask, "detector": detector}
    with PeakSampler() as sampler:
        sampler.enter("imports + model")
        model_path = random_checkpoint()
        generator = Wav2LipModel(managed=mm.ManagedModel(load_wav2lip(model_path, device=mm.offload_device()),
                                                         name=model_path.name), path=model_path,
                                 dtype=torch.float32)
        audio = speech_audio(num_frames)
        result["rss_before_input"] = sampler.rss()

        sampler.enter("input IMAGE")
        images = input_images(num_frames)
        result["input_bytes"] = images.numel() * images.element_size()
        result["rss_with_input"] = sampler.rss()

        def node(name: str, **inputs):
            cls = NODE_CLASS_MAPPINGS[name]
            sampler.enter(name)
            started = time.perf_counter()
            outputs = getattr(cls(), cls.FUNCTION)(**inputs)
            result[f"seconds {name}"] = time.perf_counter() - started
            return outputs

        mel, frame_count, fps = node("AudioToMel", audio=audio, fps=FPS)
        detect = detect_inputs(detector, detect_every=5 if detector == "s3fd" else 1)
        if detector == "s3fd":
            use_random_s3fd()
        faces, crops = node("DetectFaces", images=images, frame_count=frame_count, **detect)
        generated, plan = node("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                               loop_mode="loop", batch_size=128)
        output, mask_output = node("PasteBack", images=images, generated_faces=generated, sync=plan,
                                   blend="feather", mask="changed region" if mask else "off")
        sampler.enter("end")
        result["output_image_bytes"] = output.numel() * output.element_size()
        result["output_mask_bytes"] = (mask_output.numel() * mask_output.element_size()
                                       if isinstance(mask_output, torch.Tensor) else 0)
        result["small_outputs_bytes"] = sum(t.numel() * t.element_size() for t in (crops, generated))
        result["output_frames"] = int(output.shape[0])
    result["stage_peaks"] = sampler.peaks
    result["peak_bytes"] = max(max(sampler.peaks.values()),
                               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return result


def use_random_s3fd() -> None:
    """Point the DetectFaces node at random S3FD weights in the real layout (no download, same cost)."""
    import bench_cli
    from nodes import detect_node

    path = bench_cli.random_s3fd_weights()
    detect_node.s3fd_weights = lambda *args, **kwargs: path


def measure(num_frames: int, mask: bool = False, detector: str = "manual box") -> dict:
    """Run one case in a fresh process; its measurements."""
    return child_result(__file__, [str(num_frames), "--detector", detector, *(["--mask"] if mask else [])])


def format_results(results: list[dict]) -> str:
    lines = ["| frames (1080p) | face | mask | input IMAGE | output IMAGE (+ MASK) | peak RSS | "
             "constant = peak - input - outputs | peak per node (AudioToMel / DetectFaces / Wav2LipSync / "
             "PasteBack) | seconds (Detect / Sync / Paste) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        outputs = r["output_image_bytes"] + r["output_mask_bytes"]
        constant = r["peak_bytes"] - r["input_bytes"] - outputs
        peaks = " / ".join(f"{r['stage_peaks'].get(name, 0) / GB:.2f}"
                           for name in ("AudioToMel", "DetectFaces", "Wav2LipSync", "PasteBack"))
        seconds = " / ".join(f"{r[f'seconds {name}']:.0f}" for name in ("DetectFaces", "Wav2LipSync", "PasteBack"))
        mask_text = f" + {r['output_mask_bytes'] / GB:.2f}" if r["mask"] else ""
        lines.append(f"| {r['frames']} | {r['detector']} | {'on' if r['mask'] else 'off'} | "
                     f"{r['input_bytes'] / GB:.2f} GB | {r['output_image_bytes'] / GB:.2f}{mask_text} GB | "
                     f"{r['peak_bytes'] / GB:.2f} GB | **{constant / GB:.2f} GB** | {peaks} GB | {seconds} |")
    return "\n".join(lines)


def available_memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run(quick: bool = False, frame_counts: list[int] | None = None, mask: bool = False,
        detector: str = "manual box") -> tuple[list[dict], list[str]]:
    """The measurements, and notes on the cases skipped because input + output would not fit in memory."""
    counts = frame_counts or ([25, 100] if quick else [100, 400])
    results, skipped = [], []
    for count in counts:
        needed = count * HEIGHT * WIDTH * 4 * (6 + (1 if mask else 0)) + 2 * 10**9   # input + outputs + margin
        available = available_memory_bytes()
        if available is not None and needed > available:
            skipped.append(f"{count} frames skipped: needs about {needed / GB:.1f} GB, {available / GB:.1f} GB "
                           f"available")
            continue
        results.append(measure(count, mask=mask, detector=detector))
    return results, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="25 and 100 frames instead of 100 and 400")
    parser.add_argument("--frames", type=int, nargs="+", help="clip lengths to measure")
    parser.add_argument("--mask", action="store_true", help="PasteBack's mask output on")
    parser.add_argument("--detector", default="manual box", choices=["manual box", "s3fd"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.mask, args.detector)))
        return
    results, skipped = run(args.quick, args.frames, args.mask, args.detector)
    print(format_results(results))
    for line in skipped:
        print(line)


if __name__ == "__main__":
    main()
