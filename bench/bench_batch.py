"""Many short jobs: ``python -m wav2lip_core batch`` against one ``python -m wav2lip_core`` process per job, and
the same batch on a local Ray cluster with two workers (its outputs compared with the plain batch's, byte for byte).

Rows: one 256x256 astronaut clip (bench/common.py's make_clip, 25 frames) and ROWS different stretches of the
sample speech (SPEECH_SECONDS each), ``--box`` given (no detection), a seeded random checkpoint. Every run is a
fresh process timed wall-clock (start-up, imports, model load, all rows); rows per hour = rows / wall time.
The Ray run starts its cluster in this process first (not timed), on 127.0.0.1 with all cores, two workers of
half the cores each; its time includes connecting and starting the workers (each loads torch and the model).

    .venv/bin/python bench/bench_batch.py [--quick] [--no-ray]
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import time

from common import PYTHON, ROOT, SPEECH, cache_dir, face_box, machine_description, make_clip

ROWS = 20
SPEECH_SECONDS = 0.5
CLIP = (256, 256, 25)           # height, width, frames


def _write_rows(folder, rows: int) -> list[dict]:
    import soundfile

    wav, rate = soundfile.read(SPEECH, dtype="float32")
    length, step = int(SPEECH_SECONDS * rate), (len(wav) - int(SPEECH_SECONDS * rate)) // rows
    (folder / "speech").mkdir(parents=True, exist_ok=True)
    jobs = []
    for index in range(rows):
        audio = folder / "speech" / f"s{index:02d}.wav"
        soundfile.write(audio, wav[index * step:index * step + length], rate)
        jobs.append({"face": str(make_clip(*CLIP)), "audio": str(audio), "outfile": f"batch/r{index:02d}.mp4"})
    return jobs


def _own_checkpoint(folder) -> str:
    """A seeded random checkpoint of this benchmark's own (a file shared with other runs could change under it)."""
    import subprocess

    path = folder / "random_wav2lip_seed0.pth"
    subprocess.run([PYTHON, str(ROOT / "tests" / "random_weights.py"), str(path), "--seed", "0"], check=True,
                   stdout=subprocess.DEVNULL)
    return str(path)


def _common(folder) -> list[str]:
    return ["--checkpoint", _own_checkpoint(folder), "--box", *map(str, face_box(CLIP[0], CLIP[1]))]


def _timed(command: list[str]) -> float:
    import subprocess

    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} ... exited {done.returncode}: {done.stderr[-1500:]}")
    return time.perf_counter() - start


def _manifest(folder, jobs: list[dict], outputs: str) -> str:
    path = folder / f"{outputs}.csv"
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, ["face", "audio", "outfile"])
        writer.writeheader()
        writer.writerows({**job, "outfile": job["outfile"].replace("batch/", f"{outputs}/")} for job in jobs)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 rows instead of 20")
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray run")
    options = parser.parse_args()
    rows = 6 if options.quick else ROWS
    folder = cache_dir() / "batch_bench"
    shutil.rmtree(folder, ignore_errors=True)
    jobs = _write_rows(folder, rows)
    common = _common(folder)
    print(machine_description())
    print(f"{rows} rows: {CLIP[1]}x{CLIP[0]} clip, {SPEECH_SECONDS} s of speech each, --box\n")

    separate = 0.0
    for job in jobs:
        separate += _timed([PYTHON, "-m", "wav2lip_core", *common, "--face", job["face"], "--audio", job["audio"],
                            "--outfile", str(folder / job["outfile"].replace("batch/", "separate/"))])
    batch = _timed([PYTHON, "-m", "wav2lip_core", "batch", _manifest(folder, jobs, "batch"), *common])
    results = [("separate CLI runs", separate), ("batch", batch)]
    print(f"separate CLI runs {separate:.1f} s, batch {batch:.1f} s", flush=True)
    identical = None
    if not options.no_ray:
        import ray

        cores = os.cpu_count() or 2
        ray.init(num_cpus=cores, _node_ip_address="127.0.0.1", include_dashboard=False, logging_level="WARNING")
        try:
            address = ray.get_runtime_context().gcs_address
            on_ray = _timed([PYTHON, "-m", "wav2lip_core", "batch", _manifest(folder, jobs, "ray"), "--ray", address,
                             "--cpus_per_worker", str(max(1, cores // 2)), *common])
        finally:
            ray.shutdown()
        results.append(("batch --ray, 2 workers", on_ray))
        from wav2lip_core.batch.journal import file_sha256

        identical = sum(file_sha256(folder / "ray" / f"r{i:02d}.mp4") == file_sha256(folder / "batch" / f"r{i:02d}.mp4")
                        for i in range(rows))
    print(f"{'run':24s} {'wall s':>8s} {'rows/hour':>10s} {'vs separate':>12s}")
    for name, seconds in results:
        print(f"{name:24s} {seconds:8.1f} {rows / seconds * 3600:10.0f} {separate / seconds:11.2f}x")
    if identical is not None:
        print(f"\nRay outputs byte-identical to the plain batch's: {identical}/{rows}")
    sys.exit(0 if identical in (None, rows) else 1)


if __name__ == "__main__":
    main()
