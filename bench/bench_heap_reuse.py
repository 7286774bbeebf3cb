"""Page faults of one generator batch with and without the CLI's heap setting (``cli.heap.reuse_freed_heap_memory``).

    .venv/bin/python bench/bench_heap_reuse.py [--repeats 3]

Each measurement is a fresh process (one torch thread, three warm-up batches of 8 faces, then the faults of one
more batch, from getrusage). Without reuse every batch maps its tens of MB anew and the kernel faults in and zeroes
the pages; with reuse the freed blocks serve the next batch. Linux with glibc only. The counts depend on the
machine and its allocator's own adaptive threshold, which is why this is a benchmark and not a test.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_ONE_BATCH_FAULTS = """
import resource, sys
import torch
torch.set_num_threads(1)                                     # one heap arena: fewer run-to-run differences
from wav2lip_core.cli.heap import reuse_freed_heap_memory
from wav2lip_core.models.wav2lip import Wav2Lip
if sys.argv[1] == "reuse":
    assert reuse_freed_heap_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
model = Wav2Lip().eval()
mel, faces = torch.zeros(8, 1, 80, 16), torch.zeros(8, 6, 96, 96)
with torch.inference_mode():
    for _ in range(3):
        model(mel, faces)                                    # the first batches map their memory
    before = faults()
    model(mel, faces)                                        # the next batch: fresh pages again, or reused ones?
print(faults() - before)
"""


def faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _ONE_BATCH_FAULTS, mode], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    return int(done.stdout.strip())


def run(repeats: int = 3) -> list[tuple[str, list[int]]]:
    return [(mode, [faults(mode) for _ in range(repeats)]) for mode in ("default", "reuse")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("glibc's mallopt: Linux only")
        return
    print("| heap | page faults of one generator batch of 8 (each run a fresh process) |")
    print("|---|---|")
    for mode, counts in run(args.repeats):
        print(f"| {mode} | {', '.join(f'{count:,}' for count in counts)} |")


if __name__ == "__main__":
    main()
