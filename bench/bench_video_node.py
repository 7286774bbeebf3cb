"""The Lip Sync Video node (VIDEO in, VIDEO out) on long 1080p clips: how much its process grows, at several
lengths, and its speed against the command line on the same clip, speech and settings.

Clips (cache folder, made once): 20 distinct 1080p astronaut frames (common.astronaut_frames) encoded with
H.264, then looped to each length by ffmpeg's stream copy; speech: the sample speech tiled to the same length.
Every case runs in a fresh process (``--child node|cli SECONDS``), the face given as a box (the node's
manual_box, the CLI's --box: the same box), random generator weights in the official format:
- node: imports, the generator loaded as Load Wav2Lip Model does, the speech as Load Audio's AUDIO (float32
  waveform) and a VideoFromFile of the clip (ComfyUI's class, stand-in of tests/comfy_video_stand_ins.py,
  which refuses to decode the whole clip); then the node runs;
- cli: the same imports, then ``wav2lip_core.cli.run`` on the files, as ``python -m wav2lip_core`` does.
The resident set size right before the job is the baseline; a thread samples it every 2 ms during the job
(bench_nodes_memory.PeakSampler). Reported: growth = peak - baseline, and the job's wall seconds.

    .venv/bin/python bench/bench_video_node.py [--seconds 6 12 24] [--speed-seconds 12]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

from bench_nodes_memory import GB, PeakSampler, speech_audio
from common import (PYTHON, ROOT, astronaut_frames, cache_dir, child_result, face_box, machine_description,
                    write_h264)

HEIGHT, WIDTH, FPS = 1080, 1920, 25
LOOP_FRAMES = 20


def long_clip(seconds: int, height: int = HEIGHT, width: int = WIDTH) -> Path:
    """An H.264 clip of ``seconds`` at 25 fps (1080p unless told): LOOP_FRAMES astronaut frames looped (stream
    copy)."""
    size = f"{height}p" if width * 9 == height * 16 else f"{width}x{height}"
    path = cache_dir() / f"astronaut_{size}_{seconds}s_looped.mp4"
    if path.is_file():
        return path
    from wav2lip_core.runtime.ffmpeg import ffmpeg_exe

    loop = cache_dir() / f"astronaut_{size}_{LOOP_FRAMES}f_loop.mp4"
    if not loop.is_file():
        write_h264(astronaut_frames(height, width, LOOP_FRAMES), loop, FPS)
    temporary = path.with_suffix(".part.mp4")
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-stream_loop", "-1", "-i", str(loop),
                    "-frames:v", str(seconds * FPS), "-c", "copy", str(temporary)], check=True)
    temporary.replace(path)
    return path


def speech_file(seconds: int) -> Path:
    """The sample speech tiled to ``seconds`` (as many output frames as the clip has), a float WAV."""
    import soundfile

    path = cache_dir() / f"speech_{seconds}s.wav"
    if not path.is_file():
        audio = speech_audio(seconds * FPS)
        soundfile.write(str(path), audio["waveform"][0, 0].numpy(), audio["sample_rate"], subtype="FLOAT")
    return path


def random_checkpoint() -> Path:
    """Seeded random generator weights in the official format, in the cache folder (this benchmark's own file:
    the CLI verifies a file it has seen before, so a shared one must not change under it)."""
    path = cache_dir() / "video_node_random_wav2lip_seed0.pth"
    if not path.is_file():
        subprocess.run([PYTHON, str(ROOT / "tests" / "random_weights.py"), str(path), "--seed", "0"], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def box_text() -> str:
    return ", ".join(map(str, face_box(HEIGHT, WIDTH)))


def child(kind: str, seconds: int) -> dict:
    """One case in this process; returns its measurements (bytes, seconds)."""
    import pytest
    import soundfile
    import torch

    import comfy_video_stand_ins as stand_ins
    from nodes import NODE_CLASS_MAPPINGS
    from nodes import model_management as mm
    from nodes.types import Wav2LipModel
    from wav2lip_core.checkpoints import load_wav2lip
    from wav2lip_core.cli.heap import reuse_freed_heap_memory
    from wav2lip_core.cli.run import build_parser, run
    from wav2lip_core.video.reading import read_video  # noqa: F401  (imported by both, as their modules are)

    torch.set_grad_enabled(False)
    clip, speech, checkpoint = long_clip(seconds), speech_file(seconds), random_checkpoint()
    outfile = cache_dir() / f"video_node_bench_{kind}.mp4"
    result = {"kind": kind, "seconds_of_video": seconds}
    with PeakSampler() as sampler, pytest.MonkeyPatch.context() as patch:
        if kind == "node":
            stand_ins.install(patch)
            patch.setattr(mm, "temp_directory", lambda: cache_dir())
            model = Wav2LipModel(managed=mm.ManagedModel(load_wav2lip(checkpoint, device=mm.offload_device()),
                                                         name=checkpoint.name), path=checkpoint, dtype=torch.float32)
            samples, rate = soundfile.read(str(speech), dtype="float32", always_2d=True)
            audio = {"waveform": torch.from_numpy(samples.T.copy())[None], "sample_rate": rate}
            node = NODE_CLASS_MAPPINGS["LipSyncVideo"]
            spec = node.INPUT_TYPES()["required"]
            widgets = {name: options.get("default", kind_[0] if isinstance(kind_, list) else None)
                       for name, (kind_, options) in spec.items() if name not in ("video", "audio", "wav2lip_model")}

            def job() -> Path:
                (video,) = node().lipsync(video=stand_ins.VideoFromFile(str(clip)), audio=audio,
                                          wav2lip_model=model, **{**widgets, "manual_box": box_text()})
                return Path(video.get_stream_source())
        else:
            reuse_freed_heap_memory()                  # as python -m wav2lip_core does first
            args = build_parser().parse_args(["--checkpoint", str(checkpoint), "--face", str(clip), "--audio",
                                              str(speech), "--outfile", str(outfile), "--box",
                                              *box_text().split(", ")])

            def job() -> Path:
                return run(args)
        result["rss_before"] = sampler.rss()
        sampler.enter("job")
        started = time.perf_counter()
        written = job()
        result["job_seconds"] = time.perf_counter() - started
        sampler.enter("end")
    result["peak_bytes"] = sampler.peaks["job"]
    result["growth_bytes"] = result["peak_bytes"] - result["rss_before"]
    result["output_bytes"] = written.stat().st_size
    written.unlink()
    return result


def measure(kind: str, seconds: int) -> dict:
    return child_result(__file__, [kind, str(seconds)])


def format_results(results: list[dict]) -> str:
    lines = ["| what | video (1080p, 25 fps) | RSS before the job | peak RSS during it | growth | job seconds | "
             "frames per second |", "|---|---|---|---|---|---|---|"]
    for r in results:
        frames = r["seconds_of_video"] * FPS
        lines.append(f"| {'Lip Sync Video node' if r['kind'] == 'node' else 'CLI (run)'} | "
                     f"{r['seconds_of_video']} s ({frames} frames) | {r['rss_before'] / GB:.2f} GB | "
                     f"{r['peak_bytes'] / GB:.2f} GB | **{r['growth_bytes'] / GB:.2f} GB** | "
                     f"{r['job_seconds']:.0f} | {frames / r['job_seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, nargs="+", default=[6, 12, 24],
                        help="clip lengths for the node's memory (default: %(default)s)")
    parser.add_argument("--speed-seconds", type=int, default=12,
                        help="clip length of the node-against-CLI speed runs, run alternately (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    print(machine_description())
    memory = [measure("node", seconds) for seconds in args.seconds]
    print(format_results(memory), flush=True)
    speed = []
    for _ in range(args.repeats):                # alternately, so a change in the machine's load hits both
        speed += [measure("cli", args.speed_seconds), measure("node", args.speed_seconds)]
    print(format_results(speed))
    node = statistics.median(r["job_seconds"] for r in speed if r["kind"] == "node")
    cli = statistics.median(r["job_seconds"] for r in speed if r["kind"] == "cli")
    print(f"node / CLI seconds (medians of {args.repeats}): {node / cli:.3f}")


if __name__ == "__main__":
    main()
