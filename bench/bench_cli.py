"""End to end: our CLI vs the original inference.py on the same clip, audio, checkpoint and settings.

Each run is a fresh process (start-up, imports, checkpoint load, decode, audio, face boxes, generator, paste,
encode, mux all counted), timed wall-clock, with the peak RSS of its largest process. The original runs where
its checkout is ($WAV2LIP_ORIGINAL_DIR, default /work/orig), through bench/run_original.py, with random weights
in its format; when it is absent its columns read "-". Clips: skimage's astronaut, 3 s at 25 fps (75 frames),
H.264, made into the cache folder; audio: workflows/media/wav2lip_sample_speech.wav (real speech, 2.98 s -> 71
output frames; both programs use the first 71 video frames).

- ``--box``: the face box given; 256x256 and 720p.
- detection: 720p, bench/motion_clip.py's moving camera with a cut (quick: its first 8 frames, which loop
  under the audio, as in both programs); S3FD with the same random weights on both sides (the network's cost does not
  depend on them; their classifier is scaled so that ~0.1 % of anchors pass the 0.05 threshold, as with a real
  face, see S3FD_LOGIT_SCALE), handed over by bench/launch_ours.py and bench/run_original.py
  (WAV2LIP_BENCH_S3FD). Two rows: S3FD on every frame (``--detect_every 1``: what the original does) and our
  default (key frames + flow), where random S3FD's boxes would be noise, so S3FD runs for its cost and
  dlib_hog's boxes are used (WAV2LIP_BENCH_BOXES_FROM); the original's run is the same for both rows.

- identity: the default-detection row again, without and with ``--reference`` (what face tracks and
  identity cost).

Also ``breakdown()``: where our CLI spends its time, by wrapping its stages in-process.

    .venv/bin/python bench/bench_cli.py [--quick] [--breakdown-only]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import (ORIGINAL_DIR, ORIGINAL_RUNNER, PYTHON, ROOT, SPEECH, CommandFailed, Row, Timing, cache_dir,
                    face_box, format_table, make_clip, original_available, random_checkpoint, run_measured)
from motion_clip import make_motion_clip

CLIP_FRAMES = 75
BOX_CASES = {"256x256": (256, 256), "720p": (720, 1280)}


def output_frames(audio: Path = SPEECH, fps: float = 25.0) -> int:
    """Frames both programs write for ``audio``: the original's count (71 for the sample speech at 25 fps; ours
    runs with ``--length original`` so both do the same work)."""
    from wav2lip_core.audio import load_audio, num_output_frames

    return num_output_frames(len(load_audio(audio)), fps, "original")

LAUNCHER = Path(__file__).resolve().parent / "launch_ours.py"
# Random S3FD weights as they come give every anchor a face score near 0.6: both programs would then time
# NMS over ~77,000 random boxes per 720p frame instead of face detection. So the classifier logits are
# scaled by S3FD_LOGIT_SCALE and shifted so that a face-minus-background logit of S3FD_LOGIT_CENTRE (the
# ~99.99th percentile on the astronaut clip) scores 0.5: ~0.1 % of anchors (~80) pass the 0.05 candidate
# threshold and a few pass 0.5 on every frame, like a real detector on a frame with one face.
S3FD_LOGIT_SCALE = 20.0
S3FD_LOGIT_CENTRE = 0.95


def ours_command(clip: Path, outfile: Path, box: tuple[int, int, int, int] | None,
                 extra: list[str] | None = None, audio: Path = SPEECH) -> list[str]:
    command = [PYTHON, str(LAUNCHER), "--checkpoint", str(random_checkpoint()), "--face", str(clip),
               "--audio", str(audio), "--outfile", str(outfile), "--length", "original"]
    if box is not None:
        command += ["--box", *map(str, box)]
    return command + (extra or [])


def ours_environment(s3fd: Path | None = None, boxes_from: str | None = None) -> dict:
    """Environment for launch_ours.py: the benchmark switches (S3FD weights, whose boxes), nothing else."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WAV2LIP_BENCH_")}
    if s3fd is not None:
        env["WAV2LIP_BENCH_S3FD"] = str(s3fd)
    if boxes_from is not None:
        env["WAV2LIP_BENCH_BOXES_FROM"] = boxes_from
    return env


def original_command(clip: Path, outfile: Path, box: tuple[int, int, int, int] | None,
                     audio: Path = SPEECH) -> list[str]:
    command = [PYTHON, str(ORIGINAL_RUNNER), "inference", "--checkpoint_path", str(random_checkpoint()),
               "--face", str(clip.resolve()), "--audio", str(Path(audio).resolve()), "--outfile",
               str(outfile.resolve())]
    if box is not None:
        command += ["--box", *map(str, box)]
    return command


def _measure_alternately(runs: list[tuple[list[str], Path, dict]], repeats: int) -> list[tuple[Timing | None, str]]:
    """(timing, note) of each (command, cwd, env), run in turn ``repeats`` times (A B A B ...), so that both
    sides of a row see the same load on a shared machine; a command that fails is not run again."""
    timings: list[Timing | None] = [Timing([]) for _ in runs]
    notes = [""] * len(runs)
    for _ in range(repeats):
        for index, (command, cwd, env) in enumerate(runs):
            if timings[index] is None:
                continue
            try:
                wall, peak_mb = run_measured(command, cwd=cwd, env=env)
            except CommandFailed as error:
                last = [line for line in str(error).strip().splitlines() if line.strip()][-1:] or ["?"]
                timings[index], notes[index] = None, f"failed: {last[0][:120]}"
                continue
            timing = timings[index]
            timing.seconds.append(wall)
            timing.peak_mb = max(timing.peak_mb or 0.0, peak_mb)
    return list(zip(timings, notes))


def _best(ours: Timing | None, original: Timing | None) -> str:
    """The fastest run of each side (less sensitive to other load on a shared machine than the median)."""
    if ours is None or original is None:
        return ""
    return f"best {ours.best:.2f} s vs {original.best:.2f} s ({original.best / ours.best:.2f}x)"


def _rows_for_case(stage: str, label: str, clip: Path, box, repeats: int, s3fd: Path | None = None,
                   ours_extra: list[str] | None = None, audio: Path = SPEECH, frames: int | None = None,
                   boxes_from: str | None = None,
                   original_run: tuple[Timing | None, str] | None = None) -> list[Row]:
    """One row, ours against the original; ``original_run`` (timing, note) reuses an earlier run of the
    original on the same command instead of running it again."""
    frames = output_frames(audio) if frames is None else frames
    out = cache_dir() / "out"
    out.mkdir(exist_ok=True)
    label_for_files = f"{label}_{'box' if box is not None else 'detect'}_{frames}"
    runs = [(ours_command(clip, out / f"ours_{label_for_files}.mp4", box, ours_extra, audio), ROOT,
             ours_environment(s3fd=s3fd, boxes_from=boxes_from))]
    run_original = original_run is None and original_available()
    if run_original:
        runs.append((original_command(clip, out / f"orig_{label_for_files}.mp4", box, audio), ORIGINAL_DIR,
                     ours_environment(s3fd=s3fd)))
    measured = _measure_alternately(runs, repeats)
    (ours, note), (original, original_note) = measured[0], (None, "original not on this machine")
    if run_original:
        original, original_note = measured[1]
    elif original_run is not None:
        original, original_note = original_run
    return [Row(stage=stage, resolution=label, frames=frames, ours=ours, original=original,
                note="; ".join(n for n in (note, original_note, f"median of {repeats}, runs alternating",
                                           _best(ours, original)) if n))]


def random_s3fd_weights() -> Path:
    """Random S3FD weights in the real layout (seed 0), in the cache folder."""
    import torch
    from random_s3fd import random_s3fd_state_dict

    path = cache_dir() / f"random_s3fd_seed0_scale{S3FD_LOGIT_SCALE:g}_centre{S3FD_LOGIT_CENTRE:g}.pth"
    if not path.is_file():
        state = random_s3fd_state_dict(seed=0)
        for key in [k for k in state if "mbox_conf" in k]:
            state[key] = state[key] * S3FD_LOGIT_SCALE
            if key.endswith(".bias"):
                state[key][-1] -= S3FD_LOGIT_SCALE * S3FD_LOGIT_CENTRE   # the last channel is "face"
        torch.save(state, path)
    return path


def box_rows(label: str, height: int, width: int, repeats: int) -> list[Row]:
    """The --box row on a 3 s clip of height x width (CLIP_FRAMES frames), ours against the original."""
    clip = make_clip(height, width, CLIP_FRAMES)
    return _rows_for_case("CLI end to end, --box", label, clip, face_box(height, width), repeats)


def detection_rows(quick: bool = False) -> list[Row]:
    """The S3FD rows on the 720p moving-camera clip: S3FD on every frame (ours and the original), then ours with
    the default detection (key frames + flow) against that same run of the original."""
    # Full run: a clip as long as the speech (what a user's video costs); the original detects on every frame,
    # about 5 minutes on 2 CPU cores, so one run each. Quick: 8 frames, looped.
    clip_frames = 8 if quick else CLIP_FRAMES
    clip = make_motion_clip(cache_dir(), 720, 1280, clip_frames, timeline=CLIP_FRAMES)
    detected = min(clip_frames, output_frames())
    every_frame = _rows_for_case(f"CLI end to end, S3FD on every frame ({detected} frames, --detect_every 1)",
                                 "720p", clip, None, 1, s3fd=random_s3fd_weights(),
                                 ours_extra=["--detector", "s3fd", "--detect_every", "1"])
    return every_frame + _rows_for_case(
        f"CLI end to end, S3FD, default detection (key frames + flow, {detected} frames)", "720p", clip, None,
        1, s3fd=random_s3fd_weights(), ours_extra=["--detector", "s3fd"], boxes_from="dlib_hog",
        original_run=(every_frame[0].original, "original not on this machine" if every_frame[0].original is None
                      else "original: its S3FD-on-every-frame run of the row above"))


def reference_photo() -> Path:
    """skimage's astronaut as a photo file (the motion clip's person), in the cache folder."""
    import cv2
    from skimage.data import astronaut

    path = cache_dir() / "astronaut_reference.png"
    if not path.is_file():
        cv2.imwrite(str(path), astronaut()[:, :, ::-1])
    return path


def _cpu_seconds_of(command: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the process and its children) of one run. CPU time moves far
    less than wall time when other work shares the machine, so it is the fairer measure of an added cost there."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise CommandFailed(result.stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def identity_rows(quick: bool = False, repeats: int = 3) -> list[Row]:
    """What choosing the person by a photo costs: the default-detection run on the 720p moving-camera clip (S3FD
    for its cost, dlib_hog's boxes, as in detection_rows) without and with ``--reference``, run alternately, wall
    and CPU time. The original's columns are not used: both rows are ours."""
    import statistics

    clip_frames = 8 if quick else CLIP_FRAMES
    clip = make_motion_clip(cache_dir(), 720, 1280, clip_frames, timeline=CLIP_FRAMES)
    out = cache_dir() / "out"
    out.mkdir(exist_ok=True)
    base = ["--detector", "s3fd"]
    env = ours_environment(s3fd=random_s3fd_weights(), boxes_from="dlib_hog")
    commands = {"today": ours_command(clip, out / "ours_today.mp4", None, base),
                "reference": ours_command(clip, out / "ours_reference.mp4", None,
                                          base + ["--reference", str(reference_photo())])}
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            measured[name].append(_cpu_seconds_of(command, ROOT, env))
    frames = output_frames()
    cpu = {name: statistics.median(c for _, c in runs) for name, runs in measured.items()}
    wall = {name: statistics.median(w for w, _ in runs) for name, runs in measured.items()}
    rows = []
    for name, stage in (("today", "CLI end to end, default detection (today)"),
                        ("reference", "CLI end to end, default detection + --reference (face tracks + identity)")):
        note = f"median of {repeats}, runs alternating; CPU {cpu[name]:.1f} s"
        if name == "reference":
            note += (f"; {wall['reference'] / wall['today']:.3f}x today's wall time, "
                     f"{cpu['reference'] / cpu['today']:.3f}x its CPU time")
        rows.append(Row(stage=stage, resolution="720p", frames=frames, ours=Timing([w for w, _ in measured[name]]),
                        note=note))
    return rows


def run(quick: bool = False, detection: bool = True) -> list[Row]:
    repeats = 1 if quick else 3
    rows = []
    for label, (height, width) in BOX_CASES.items():
        rows += box_rows(label, height, width, repeats)
    if not quick:
        # Memory must not grow with the clip: a 30 s 720p video (750 frames) under 30 s of speech, --box.
        from bench_audio import long_speech

        speech = Path(long_speech())
        frames = output_frames(speech)
        clip = make_clip(720, 1280, frames)
        rows += _rows_for_case(f"CLI end to end, --box, {frames / 25:.0f} s clip", "720p", clip, face_box(720, 1280),
                               1, audio=speech, frames=frames)
    if detection:
        rows += detection_rows(quick) + identity_rows(quick, repeats)
    return rows


# ------------------------------------------------------------------------------------------ time breakdown
def breakdown(height: int = 720, width: int = 1280) -> list[tuple[str, float]]:
    """(stage, seconds) of one in-process run of our CLI with --box on the 720p clip, plus the import time
    measured in a fresh process. Wraps the functions cli.run calls; 'other' is the unaccounted rest."""
    import wav2lip_core.cli as cli
    import wav2lip_core.cli.run as cli_run
    import wav2lip_core.pipeline as pipeline

    spent: dict[str, float] = {}

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    class TimedWriter(cli_run.Mp4Writer):
        write = timed("ffmpeg encode (waiting on the pipe + close)", cli_run.Mp4Writer.write)
        close = timed("ffmpeg encode (waiting on the pipe + close)", cli_run.Mp4Writer.close)

    from wav2lip_core.video import reading as video_io

    candidates = [(video_io.VideoFrames, "__getitem__", "decode video (ffmpeg -> numpy)"),
                  (cli_run, "load_audio", "audio: read + mel + chunks"),
                  (cli_run, "melspectrogram", "audio: read + mel + chunks"),
                  (cli_run, "mel_chunks", "audio: read + mel + chunks"),
                  (cli_run, "fetch_with_progress", "checkpoint look-up + verification"),
                  (pipeline, "generate_faces_batched", "generator"),
                  (pipeline, "crop_face", "crop + paste"),
                  (pipeline, "paste_face", "crop + paste")]
    patches = [(owner, name, timed(label, getattr(owner, name)))
               for owner, name, label in candidates if hasattr(owner, name)]
    patches += [(cli_run, "load_wav2lip", timed("checkpoint load", cli_run.load_wav2lip)),
                (cli_run, "Mp4Writer", TimedWriter)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, replacement in patches:
        setattr(module, name, replacement)
    clip = make_clip(height, width, CLIP_FRAMES)
    outfile = cache_dir() / "out" / "breakdown.mp4"
    outfile.parent.mkdir(exist_ok=True)
    argv = ["--checkpoint", str(random_checkpoint()), "--face", str(clip), "--audio", str(SPEECH),
            "--outfile", str(outfile), "--box", *map(str, face_box(height, width)), "--length", "original"]
    start = time.perf_counter()
    try:
        with open(os.devnull, "w") as quiet:
            saved_stderr, sys.stderr = sys.stderr, quiet
            try:
                code = cli.main(argv)
            finally:
                sys.stderr = saved_stderr
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
    total = time.perf_counter() - start
    if code != 0:
        raise RuntimeError("the CLI failed during the breakdown run")
    import_seconds = float(subprocess.run(
        [PYTHON, "-c", "import time; t = time.perf_counter(); import wav2lip_core.cli; "
                       "print(time.perf_counter() - t)"], cwd=ROOT, capture_output=True, text=True,
        check=True).stdout.strip())
    stages = sorted(spent.items(), key=lambda item: -item[1])
    stages.append(("other (frame copies, stacking, tqdm, ...)", total - sum(spent.values())))
    return [("import wav2lip_core.cli (fresh process)", import_seconds)] + stages + [("total in-process", total)]


def format_breakdown(stages: list[tuple[str, float]], title: str) -> str:
    total = dict(stages)["total in-process"]
    lines = [f"{title}", "| stage | seconds | share of in-process total |", "|---|---|---|"]
    for name, seconds in stages:
        share = "-" if name.startswith("import") or name.startswith("total") else f"{seconds / total:.0%}"
        lines.append(f"| {name} | {seconds:.2f} | {share} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-detection", action="store_true")
    parser.add_argument("--breakdown-only", action="store_true")
    parser.add_argument("--identity-only", action="store_true", help="only the rows with and without --reference")
    args = parser.parse_args()
    if args.identity_only:
        print(format_table(identity_rows(args.quick, 1 if args.quick else 3)))
        return
    if not args.breakdown_only:
        print(format_table(run(args.quick, detection=not args.no_detection)))
    print(format_breakdown(breakdown(), f"Our CLI, 720p, --box, {output_frames()} frames, in one process:"))


if __name__ == "__main__":
    main()
