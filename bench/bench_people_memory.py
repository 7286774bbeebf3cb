"""The CLI's memory growth with --reference (choosing the person by photo) at several 720p clip lengths.

Beside each, the same run without ``--reference`` (today's default detection): the process's growth must not
depend on the clip's length.

Clips (cache folder, made once): 20 distinct 720p astronaut frames (common.astronaut_frames: skimage's astronaut,
a real face) encoded with H.264, then looped to each length by ffmpeg's stream copy; speech: the sample speech
tiled to the same length (bench_video_node.speech_file); the reference photo: skimage's astronaut as a PNG
(bench_cli.reference_photo), the clip's person. Every case runs in a fresh process (``--child CASE SECONDS``):
the CLI's imports and start-up, then ``wav2lip_core.cli.run`` on the files, as ``python -m wav2lip_core`` does,
with random generator weights in the official format and detection left at its defaults (S3FD, key frames +
flow) except for the detector's boxes:

- ``--detector s3fd`` (default): random S3FD weights (bench_cli.random_s3fd_weights) run on every frame the job
  asks for, for their cost and memory, and answer with dlib_hog's boxes on the same detection copy
  (bench/launch_ours.py's WAV2LIP_BENCH_BOXES_FROM, as the time row of ``bench_cli.py --identity-only``): random
  S3FD's own boxes are not on the face, so no track would be the reference's person;
- ``--detector dlib_hog``: dlib's HOG detector alone (a real detector on a real face);
- ``--detector s3fd-own-boxes``: random S3FD's own boxes (shows that ``--reference`` then finds no one).

The resident set size right before the job is the baseline; a thread samples it every 2 ms during the job
(bench_nodes_memory.PeakSampler), its peak kept apart for face finding (detection, or the survey and the
person's boxes) and for the lip-sync pass. Reported: growth = peak - baseline (the generator's load included);
what glibc's malloc has handed out and not got back (mallinfo2) before the job, after finding faces and after the
job, which leaves out freed memory the process keeps; the bytes the survey of ``--reference`` holds; the job's wall
seconds and the process's CPU seconds (with its ffmpeg children), and the load average. ``--no-heap-reuse`` leaves
malloc at its defaults instead of the CLI's setting (cli/heap.py).

    .venv/bin/python bench/bench_people_memory.py [--seconds 3 9 27] [--detector s3fd|dlib_hog] [--no-heap-reuse]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from bench_cli import ours_environment, random_s3fd_weights, reference_photo
from bench_nodes_memory import PeakSampler
from bench_video_node import long_clip, random_checkpoint, speech_file
from common import cache_dir, child_result, machine_description

HEIGHT, WIDTH, FPS = 720, 1280, 25
CASES = ("today", "reference")
DETECTORS = ("s3fd", "dlib_hog", "s3fd-own-boxes")
MB = 1e6


def looped_clip(seconds: int) -> Path:
    """A 720p H.264 clip of ``seconds`` at 25 fps (bench_video_node.long_clip's astronaut loop)."""
    return long_clip(seconds, HEIGHT, WIDTH)


def cli_arguments(case: str, seconds: int, detector: str, outfile: Path) -> list[str]:
    """The command line of one case (``python -m wav2lip_core`` takes the same)."""
    arguments = ["--checkpoint", str(random_checkpoint()), "--face", str(looped_clip(seconds)),
                 "--audio", str(speech_file(seconds)), "--outfile", str(outfile)]
    if detector == "dlib_hog":
        arguments += ["--detector", "dlib_hog"]
    if case == "reference":
        arguments += ["--reference", str(reference_photo())]
    return arguments


def child_environment(detector: str) -> dict:
    """The benchmark switches bench/launch_ours.py reads: random S3FD weights, and whose boxes they answer with."""
    if detector == "dlib_hog":
        return ours_environment()
    return ours_environment(s3fd=random_s3fd_weights(), boxes_from="dlib_hog" if detector == "s3fd" else None)


def cpu_seconds() -> float:
    """User + system seconds of this process and its waited-for children (ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def heap_in_use() -> int | None:
    """Bytes glibc's malloc has handed out and not got back (mallinfo2: uordblks + hblkhd, every arena): the
    memory C and Python code hold now, without what was freed and is kept for reuse; None without glibc."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                         "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return int(info.uordblks + info.hblkhd)


def held_bytes(value, seen: set[int] | None = None) -> int:
    """Bytes an object holds: its own size plus what it refers to (arrays with their data, containers with their
    items, dataclasses with their fields), each object counted once."""
    import sys

    import numpy as np

    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, np.ndarray):
        return size if value.base is None else size + held_bytes(value.base, seen)
    if isinstance(value, dict):
        return size + sum(held_bytes(k, seen) + held_bytes(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return size + sum(held_bytes(item, seen) for item in value)
    if hasattr(value, "__dict__"):
        return size + held_bytes(vars(value), seen)
    return size


def child(case: str, seconds: int, detector: str, heap_reuse: bool = True) -> dict:
    """One case in this process, started as the CLI's own process starts; its measurements (bytes, seconds)."""
    from wav2lip_core.runtime.startup import after_imports, before_imports

    before_imports()
    import launch_ours
    import wav2lip_core.cli.run as cli_run
    import wav2lip_core.tracks as tracks
    from wav2lip_core.cli.heap import reuse_freed_heap_memory

    launch_ours._install_switches()            # the environment's benchmark switches (child_environment)
    after_imports()
    outfile = cache_dir() / f"people_memory_{case}.mp4"
    args = cli_run.build_parser().parse_args(cli_arguments(case, seconds, detector, outfile))
    if heap_reuse:
        reuse_freed_heap_memory()              # as python -m wav2lip_core does before the job
    result = {"case": case, "seconds_of_video": seconds, "detector": detector, "heap_reuse": heap_reuse,
              "load_before": os.getloadavg()[0]}
    with PeakSampler() as sampler:
        def stage(name: str, function):
            def entered(*arguments, **keywords):
                sampler.enter(name)
                returned = function(*arguments, **keywords)
                result[f"heap_in_use_after_{name}"] = heap_in_use()
                return returned
            return entered

        # Where the peak is: face finding (today's detection, or the survey + the person's boxes), lip-sync.
        cli_run.people_boxes = stage("faces", cli_run.people_boxes)
        cli_run.detect_face_boxes = stage("faces", cli_run.detect_face_boxes)
        cli_run.write_lipsync_video = stage("lip-sync", cli_run.write_lipsync_video)
        survey_faces = tracks.survey_faces

        def surveyed(*arguments, **keywords):         # what the survey keeps of the whole clip, in bytes
            survey = survey_faces(*arguments, **keywords)
            result["survey_bytes"] = held_bytes(survey)
            return survey
        tracks.survey_faces = surveyed
        result["rss_before"], result["heap_in_use_before"] = sampler.rss(), heap_in_use()
        high_water_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        sampler.enter("start")
        cpu_before, started = cpu_seconds(), time.perf_counter()
        written = cli_run.run(args)
        result["job_seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = cpu_seconds() - cpu_before
        sampler.enter("end")
    result["stage_peaks"] = sampler.peaks
    # The sampler may miss a peak shorter than its interval; the kernel's high-water mark does not, and counts
    # where the job raised it.
    high_water = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["peak_bytes"] = max(max(sampler.peaks.values()), high_water if high_water > high_water_before else 0)
    result["growth_bytes"] = result["peak_bytes"] - result["rss_before"]
    result["load_after"] = os.getloadavg()[0]
    written.unlink()
    return result


def measure(case: str, seconds: int, detector: str, heap_reuse: bool = True) -> dict:
    return child_result(__file__, [case, str(seconds), "--detector", detector,
                                   *([] if heap_reuse else ["--no-heap-reuse"])], env=child_environment(detector))


def format_results(results: list[dict]) -> str:
    def mb(value: int | None) -> str:
        return "-" if value is None else f"{value / MB:.0f}"

    lines = ["| run | video (720p, 25 fps) | RSS before the job | peak while finding faces | peak while lip-syncing | "
             "growth (peak - before) | malloc in use before / after finding faces / after the job, MB | job s | "
             "CPU s | load (1 min) before / after |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        peaks = r["stage_peaks"]
        in_use = " / ".join(mb(r.get(key)) for key in ("heap_in_use_before", "heap_in_use_after_faces",
                                                        "heap_in_use_after_lip-sync"))
        lines.append(f"| {'`--reference`' if r['case'] == 'reference' else 'today (no --reference)'} | "
                     f"{r['seconds_of_video']} s ({r['seconds_of_video'] * FPS} frames) | "
                     f"{r['rss_before'] / MB:.0f} MB | {peaks.get('faces', 0) / MB:.0f} MB | "
                     f"{peaks.get('lip-sync', 0) / MB:.0f} MB | **{r['growth_bytes'] / MB:.0f} MB** | {in_use} | "
                     f"{r['job_seconds']:.0f} | {r['cpu_seconds']:.0f} | "
                     f"{r['load_before']:.1f} / {r['load_after']:.1f} |")
    return "\n".join(lines)


def growth_per_frame(results: list[dict]) -> str:
    """How the growth moves from each clip length to the next, per case (MB, and bytes per added frame), and what
    the survey of ``--reference`` holds per frame."""
    lines = [f"survey of {r['seconds_of_video'] * FPS} frames holds {r['survey_bytes'] / 1e3:.1f} kB "
             f"({r['survey_bytes'] / (r['seconds_of_video'] * FPS):.0f} bytes per frame)"
             for r in results if "survey_bytes" in r]
    for case in CASES:
        runs = sorted((r for r in results if r["case"] == case), key=lambda r: r["seconds_of_video"])
        steps = []
        for shorter, longer in zip(runs, runs[1:]):
            added_frames = (longer["seconds_of_video"] - shorter["seconds_of_video"]) * FPS
            change = longer["growth_bytes"] - shorter["growth_bytes"]
            steps.append(f"{shorter['seconds_of_video']} -> {longer['seconds_of_video']} s: {change / MB:+.0f} MB "
                         f"({change / added_frames:+,.0f} bytes per added frame)")
        if steps:
            growths = ", ".join(f"{r['growth_bytes'] / MB:.0f}" for r in runs)
            lines.append(f"{case}: growth {growths} MB; " + "; ".join(steps))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, nargs="+", default=[3, 9, 27],
                        help="clip lengths (default: %(default)s)")
    parser.add_argument("--detector", choices=DETECTORS, default="s3fd",
                        help="whose boxes (see the module text; default: %(default)s)")
    parser.add_argument("--no-heap-reuse", action="store_true",
                        help="leave glibc's malloc at its defaults (the CLI keeps freed heap memory for reuse: "
                             "cli/heap.py); shows how much of the growth is freed memory kept")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.detector, not args.no_heap_reuse)))
        return
    print(machine_description(), flush=True)
    for seconds in args.seconds:            # the inputs are made before any case runs
        looped_clip(seconds)
        speech_file(seconds)
    reference_photo()
    random_checkpoint()
    child_environment(args.detector)        # makes the random S3FD weights when they are used
    started = time.perf_counter()
    results = []
    for seconds in args.seconds:
        for case in CASES:                  # side by side on each length, so a change in load hits both
            results.append(measure(case, seconds, args.detector, not args.no_heap_reuse))
            print(format_results(results[-1:]).splitlines()[-1], flush=True)
    print(format_results(results))
    print(growth_per_frame(results))
    print(f"detector: {args.detector}; heap reuse {'off' if args.no_heap_reuse else 'on'}; whole benchmark "
          f"{time.perf_counter() - started:.0f} s; {machine_description()}")


if __name__ == "__main__":
    main()
