"""Every benchmark, one table: ``.venv/bin/python bench/run_all.py [--quick]`` (see bench/README.md).

Runs, in order: the generator alone (per batch size, as loaded vs prepare_for_inference), the audio front-end,
crop + paste per resolution, the CLI end to end against the original inference.py (--box at 256x256 and 720p,
S3FD detection at 720p), where our CLI's time goes, memory through the ComfyUI nodes at 1080p
(bench/bench_nodes_memory.py), how far key frames + flow put the boxes from detection on every frame
(bench/bench_tracking.py), and bench/bench_detection.py when present. Prints one
markdown table (stage, resolution, frames, median seconds, fps, peak memory; ours and the original side by
side) plus the machine, the load average before and after, and the method used for peak memory.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import bench_audio  # noqa: E402
import bench_chain  # noqa: E402
import bench_cli  # noqa: E402
import bench_generator  # noqa: E402
import bench_nodes_memory  # noqa: E402
import bench_paste  # noqa: E402
import bench_precision  # noqa: E402
import bench_tracking  # noqa: E402
from common import (ORIGINAL_DIR, PEAK_MEMORY_METHOD, PYTHON, format_table, machine_description,  # noqa: E402
                    original_available)

SUITES = {"generator": bench_generator.run, "audio": bench_audio.run, "paste": bench_paste.run,
          "chain": bench_chain.run, "cli": bench_cli.run}
# Every part --only can name: the suites above and the parts run by name below.
PARTS = [*SUITES, "breakdown", "nodes", "precision", "tracking", "detection"]


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def _detection_report(quick: bool) -> str:
    script = BENCH / "bench_detection.py"
    if not script.is_file():
        return "(bench/bench_detection.py is not present: detection benchmark skipped)"
    command = [PYTHON, str(script)] + (["--quick"] if quick else [])
    done = subprocess.run(command, capture_output=True, text=True, cwd=BENCH.parent)
    if done.returncode != 0:
        return f"bench_detection.py failed (exit {done.returncode}):\n{done.stderr[-1500:]}"
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, batch sizes and frames (a few minutes)")
    parser.add_argument("--only", choices=sorted(PARTS), action="append", help="run only these parts (repeatable)")
    parser.add_argument("--no-detection", action="store_true",
                        help="skip the S3FD end-to-end case and bench_detection.py (the slowest parts)")
    args = parser.parse_args()
    wanted = set(args.only or PARTS)
    if args.no_detection:
        wanted.discard("detection")

    started = time.perf_counter()
    print(f"Machine: {machine_description()}")
    print(f"Peak memory: {PEAK_MEMORY_METHOD}; in-process rows (no subprocess) show '-'.")
    if not original_available():
        print(f"The original Wav2Lip ({ORIGINAL_DIR}) is not on this machine: the 'orig' columns are empty "
              "(bench/README.md says how to get it).")
    rows = []
    for name, run in SUITES.items():
        if name not in wanted:
            continue
        print(f"... {name} (load {_load()})", file=sys.stderr, flush=True)
        if name == "cli":
            rows += run(args.quick, detection=not args.no_detection)
        else:
            rows += run(args.quick)
    print()
    print(format_table(rows))
    if "breakdown" in wanted:
        print(file=sys.stderr, flush=True)
        print()
        print(bench_cli.format_breakdown(bench_cli.breakdown(), f"Where our CLI's time goes (720p, --box, "
                                                                f"{bench_cli.output_frames()} frames, in one process):"))
    if "nodes" in wanted:
        print("\nMemory through the ComfyUI nodes, 1080p (bench/bench_nodes_memory.py; peak RSS of a fresh "
              "process holding the input IMAGE batch; face box given):", flush=True)
        results, skipped = bench_nodes_memory.run(args.quick)
        if not args.quick:
            for options in ({"mask": True}, {"detector": "s3fd"}):
                more, more_skipped = bench_nodes_memory.run(frame_counts=[100], **options)
                results, skipped = results + more, skipped + more_skipped
        print(bench_nodes_memory.format_results(results))
        for line in skipped:
            print(line)
    if "precision" in wanted:
        print("\nHalf precision against float32 on the sample (bench/bench_precision.py; fp16 too: --precision "
              "fp16 there):", flush=True)
        for line in bench_precision.run(None, "cpu", ["bf16"]):
            print(line)
    if "tracking" in wanted:
        print("\nKey frames + flow against detection on every frame (bench/bench_tracking.py):", flush=True)
        print("\n".join(bench_tracking.run(quick=args.quick)))
    if "detection" in wanted:
        print("\nFace detection (bench/bench_detection.py):")
        print(_detection_report(args.quick))
    print(f"\nLoad average at the end: {_load()}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
