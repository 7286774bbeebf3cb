"""What the lip-sync job checks before any work: its inputs exist, its output never lands on an input, its rates
are sane, and every model file and detector package it needs is there (all that is missing named in one
message)."""
from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

from ..audio import check_frame_rate
from ..checkpoints import S3FD, WAV2LIP, CheckpointError, unobtainable
from ..detection import missing_detector_package
from ..silence import check_silence_options
from ..video.reading import check_input_file, is_image_path
from ..video_job import DEFAULT_LIPSYNC
from .models import fetch_with_progress

NO_BOX = (-1, -1, -1, -1)


class JobError(ValueError):
    """The job cannot start as asked; the message says everything that is wrong."""


def uses_fixed_box(args: argparse.Namespace) -> bool:
    """The original's rule: ``--box`` is used unless its first value is -1."""
    return args.box[0] != -1


def box_note(args: argparse.Namespace) -> str | None:
    """A note when ``--box`` was given but starts with -1, which means "detect" (so the other values are unused)."""
    if args.box[0] == -1 and tuple(args.box) != NO_BOX:
        return (f"note: --box {' '.join(map(str, args.box))} starts with -1, which means no fixed box: faces are "
                f"detected instead (give all four values y1 y2 x1 x2 >= 0 to use a fixed box)")
    return None


def _same_file(first: Path, second: Path) -> bool:
    """Whether two paths name the same file: after resolving links, or as one file on disk (hard links)."""
    if first.resolve() == second.resolve():
        return True
    try:
        return first.exists() and second.exists() and os.path.samefile(first, second)
    except OSError:
        return False


def check_output_path(outfile: str | os.PathLike, inputs: dict[str, str | os.PathLike | None],
                      option: str = "--outfile", example_name: str = "result.mp4") -> Path:
    """``outfile`` (given as ``option``) as a Path, or JobError when it is one of ``inputs`` ({option: path}, after
    links), a folder (``example_name``: the file name the message suggests in it), or lies under a file (where
    no folder can be made)."""
    out = Path(outfile).expanduser()
    for name, path in inputs.items():
        if path is not None and _same_file(out, Path(path).expanduser()):
            raise JobError(f"{option} {outfile} is the same file as {name} {path}; the output never replaces an "
                           f"input. Choose another output name.")
    if out.is_dir():
        raise JobError(f"{option} {outfile} is a folder; give a file name such as {out / example_name}")
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise JobError(f"{option} {outfile}: {ancestor} is a file, so no folder can be made there for the output")
    return out


def chosen_silence(args: argparse.Namespace) -> str:
    """--silence as given, else its default: keep when dubbing --speaker tracks (a person's mouth moves only while
    their own track speaks), else the engine's default (generate, as the original)."""
    if args.silence is not None:
        return args.silence
    return "keep" if getattr(args, "speaker", None) else DEFAULT_LIPSYNC.silence


def no_face_warning(num_frames: int) -> str:
    """The line for a job that found no face in any frame (a face_index beyond the faces found is an error
    raised by the detection itself, which names them)."""
    return (f"warning: no face was found in any of the {num_frames} face frame(s), so the output shows them "
            f"unchanged, with the new audio. Try the other detector (--detector), a larger --detect_size, or a fixed "
            f"--box y1 y2 x1 x2; --on_missing_face error makes this an error.")


def check_inputs(args: argparse.Namespace) -> None:
    """Everything about the job's own files and numbers, before any model file is looked at (JobError)."""
    problems = []
    for option, path in (("--face", args.face), ("--audio", args.audio)):
        if path is None:                    # --audio may be left out with --speaker (cli/people.py checks those)
            continue
        try:
            check_input_file(path)
        except OSError as error:
            problems.append(f"{option} {error}")
    if len(problems) > 1:
        raise JobError("\n  ".join(["neither input file can be used:"] + problems))
    if problems:
        raise JobError(problems[0])
    checkpoint = Path(args.checkpoint).expanduser()
    inputs = {"--face": args.face, "--audio": args.audio,
              "--checkpoint": checkpoint if checkpoint.is_file() else None}
    for number, (option, path) in enumerate(getattr(args, "people_inputs", ())):
        inputs[f"{option} #{number + 1}" if option == "--speaker" else option] = path
    check_output_path(args.outfile, inputs)
    if is_image_path(args.face):
        check_frame_rate(args.fps, "--fps")
    try:
        check_silence_options(chosen_silence(args), args.silence_db)
    except ValueError as error:
        raise JobError(f"--silence_db: {error}") from error


def offline_detector_hint() -> str:
    """How to run without S3FD's weights: the offline detector (and how to install it when it is not)."""
    install = "" if importlib.util.find_spec("dlib") is not None else " after pip install dlib-bin"
    return (f"To run without s3fd.pth, use the offline face detector: add --detector dlib_hog{install} (no weights "
            f"file; a little weaker on small or turned faces), or give a fixed face box with --box y1 y2 x1 x2.")


def resolve_model_files(args: argparse.Namespace, detector: str, weights_dir: Path) -> tuple[Path, Path | None]:
    """(generator checkpoint, S3FD weights or None when not needed), fetched when missing and allowed. Every file
    or package that cannot be had is named in one JobError, with where to get it (and, when S3FD cannot run, the
    offline detector)."""
    allow_download = not args.no_download
    detects = not uses_fixed_box(args)
    needs_s3fd = detector == "s3fd" and detects
    wanted = [(args.checkpoint, WAV2LIP)] + ([("s3fd", S3FD)] if needs_s3fd else [])
    package = missing_detector_package(detector) if detects else None
    # First what cannot be had at all (nothing is downloaded while another file is missing for good), then fetch.
    unavailable = {architecture: message for name, architecture in wanted
                   if (message := unobtainable(name, search_dirs=[weights_dir], download_dir=weights_dir,
                                               allow_download=allow_download, architecture=architecture))}
    found: dict[str, Path] = {}
    problems = [str(missing) for missing in unavailable.values()]
    for name, architecture in wanted:
        if unavailable or package:
            break
        try:
            found[architecture] = fetch_with_progress(name, architecture, weights_dir, allow_download)
        except CheckpointError as error:
            problems.append(str(error))
    problems = [text.replace("\n", "\n    ") for text in problems] + ([package] if package else [])
    if problems:
        lines = [f"this run needs {len(problems)} thing(s) that are missing:"] + [f"- {text}" for text in problems]
        if needs_s3fd and (S3FD in unavailable or (S3FD not in found and not unavailable) or package):
            lines.append(offline_detector_hint())
        raise JobError("\n  ".join(lines))
    return found[WAV2LIP], found.get(S3FD)
