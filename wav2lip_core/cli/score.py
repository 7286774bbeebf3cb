"""``python -m wav2lip_core score VIDEO``: how well the mouth in a video matches its speech (LSE-D / LSE-C, AV offset).

By default the frames are scored as joonson/syncnet_python's ``evaluate()`` scores a video file: every frame goes
through the same JPEG round trip (``--decode reference``), so a video that already is a 224x224 face crop, scored
with ``--box 0 224 0 224``, gives the reference's numbers. ``--decode plain`` scores the frames as decoded.
Without ``--box`` every frame gets a raw face box (pads 0, no smoothing; the detector's default schedule: key
frames, the face followed between them) and is cropped with the reference pipeline's geometry.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE
from ..checkpoints import S3FD, SYNCNET, SYNCNET_V2, CheckpointError, load_syncnet, load_syncnet_v2, pack_weights_dir
from ..detection import DEFAULT_DETECTION, DETECTORS, FaceDetectionError, detect_face_boxes, fixed_box_track
from ..pipeline import check_boxes_fit
from ..runtime.devices import pick_device
from ..scoring import (DEFAULT_BATCH_SIZE, DEFAULT_VSHIFT, SCORING_DETECTION, SCORING_MODELS, SyncScore,
                       iter_reference_frames, load_reference_speech, offset_in_frames, score_lipsync)
from ..scoring.plot import offset_text, plot_score
from ..video.reading import VideoFrames, iter_video_frames, probe_video
from .arguments import reads_negative_numbers
from .checks import check_output_path
from .models import fetch_with_progress

DECODE_MODES = ("reference", "plain")
JSON_KEYS = ("av_offset", "confidence", "min_dist", "frame_confidence", "offset_dists")
_ARCHITECTURES = {"syncnet_v2": SYNCNET_V2, "lipsync_expert": SYNCNET}


def build_score_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wav2lip_core score",
        description="Lip-sync score of a video: AV offset, confidence (LSE-C) and minimum distance (LSE-D), as "
                    "syncnet_python's evaluate() computes them. Positive AV offset: the sound comes before the "
                    "mouth shows it; `python -m wav2lip_core ... --offset_frames N` corrects a lip-synced result.")
    parser.add_argument("video", help="the video to score (25 fps; other rates are scored at 25 fps by taking "
                                      "the nearest frame)")
    parser.add_argument("--audio", help="the speech to score against (default: the video's own sound track)")
    parser.add_argument("--model", choices=SCORING_MODELS, default="syncnet_v2",
                        help="syncnet_v2: SyncNet v2, the network of the published LSE-D / LSE-C numbers "
                             "(default); lipsync_expert: Wav2Lip's own expert (cosine distance, 0..1)")
    parser.add_argument("--checkpoint", help="the model's weights file (default: the known model, fetched into "
                                             "weights/ when it is not there)")
    parser.add_argument("--no-download", "--no_download", dest="no_download", action="store_true",
                        help="never download weights; say what to get and where instead")
    parser.add_argument("--box", nargs=4, type=int, metavar=("Y1", "Y2", "X1", "X2"),
                        help="the face crop the network sees on every frame, resized to its input size "
                             "(default: a detected face box for every frame)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: " + ", ".join(JSON_KEYS) + " (offset_dists in the "
                             "reference's order: offset +vshift first)")
    parser.add_argument("--plot", type=Path, help="also write the score as a picture (a .png name)")
    parser.add_argument("--decode", choices=DECODE_MODES, default="reference",
                        help="reference: frames through the JPEG round trip of syncnet_python's evaluate() "
                             "(default, its numbers); plain: the frames as decoded")
    parser.add_argument("--vshift", type=int, default=DEFAULT_VSHIFT,
                        help="offsets searched: -VSHIFT..+VSHIFT frames (default: %(default)s; a VSHIFT beyond "
                             "the clip's windows is cut to them, never below the default)")
    parser.add_argument("--batch_size", type=int, default=DEFAULT_BATCH_SIZE,
                        help="5-frame windows per network call (default: %(default)s)")
    parser.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTION.detector,
                        help="face detector when there is no --box (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps ...")
    return reads_negative_numbers(parser)


def load_scoring_model(model_name: str, checkpoint: str | None, device, allow_download: bool):
    """The network, in eval mode on ``device``, for "syncnet_v2" or "lipsync_expert"."""
    path = fetch_with_progress(checkpoint or model_name, _ARCHITECTURES[model_name], pack_weights_dir(),
                               allow_download=allow_download)
    loader = load_syncnet_v2 if model_name == "syncnet_v2" else load_syncnet
    return loader(path, device=device)


def check_score_options(args: argparse.Namespace) -> None:
    """The numbers and the output name, before any file is read (ValueError, one line each)."""
    if args.vshift < 0:
        raise ValueError(f"--vshift {args.vshift}: the offsets searched are -VSHIFT..+VSHIFT frames, so VSHIFT must "
                         f"be 0 or more (default {DEFAULT_VSHIFT})")
    if args.batch_size < 1:
        raise ValueError(f"--batch_size {args.batch_size}: at least 1 window per network call")
    if args.plot is not None:
        if args.plot.suffix.lower() != ".png":
            raise ValueError(f"--plot {args.plot}: the picture is written as PNG; give a name ending in .png")
        check_output_path(args.plot, {"the video": args.video, "--audio": args.audio}, option="--plot", example_name="score.png")


def score_video(args: argparse.Namespace) -> tuple[SyncScore, float, float]:
    """Score ``args.video``; returns (score, the video's fps, seconds of audio)."""
    from tqdm import tqdm

    if Path(args.video).is_dir():
        raise ValueError(f"{args.video} is a folder, not a video file")
    if not Path(args.video).is_file():
        raise FileNotFoundError(f"{args.video}: no such file")
    video = probe_video(args.video)
    if args.box is not None:        # the lip-sync job's rule: a box inside the frame, never silently cut to it
        check_boxes_fit(fixed_box_track(args.box, 1), video.height, video.width)
    try:                            # the speech as the reference converts it: ffmpeg, 16-bit PCM, mono, 16 kHz
        wav = load_reference_speech(args.audio or args.video)
    except ValueError as error:
        hint = "" if args.audio else " (give the speech with --audio)"
        raise ValueError(f"{'--audio ' if args.audio else ''}{error}{hint}") from error
    except FileNotFoundError as error:
        raise FileNotFoundError(f"--audio {error}") from error
    device = pick_device(args.device)
    model = load_scoring_model(args.model, args.checkpoint, device, not args.no_download)
    # The frames the speech can use: counted (for detection and the progress bar) and decoded no further.
    frames = VideoFrames(args.video, info=video, limit=int(np.ceil(len(wav) / SAMPLE_RATE * video.fps)) + 1)
    num_frames = len(frames)
    boxes = args.box
    try:
        if boxes is None:
            s3fd_weights = (fetch_with_progress("s3fd", S3FD, pack_weights_dir(), allow_download=not args.no_download)
                            if args.detector == "s3fd" else None)
            options = SCORING_DETECTION.with_changes(detector=args.detector)
            with tqdm(total=num_frames, unit="frame", desc="Face detection", file=sys.stderr) as bar:
                boxes = detect_face_boxes(frames, options, device=str(device), search_dirs=[pack_weights_dir()],
                                          weights_path=s3fd_weights, allow_download=not args.no_download,
                                          progress=lambda done, total: bar.update(done - bar.n))
    finally:
        frames.close()
    fps = video.fps
    if args.decode == "reference":
        stream = iter_reference_frames(args.video)
    else:
        _, stream = iter_video_frames(args.video, info=video)
    bars = []          # made at the scorer's first call, which knows how many windows there are

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit=" windows", desc=f"Scoring ({args.model})", file=sys.stderr))
        bars[0].total = total
        bars[0].update(done - bars[0].n)

    try:
        score = score_lipsync(model, stream, wav, boxes=boxes, fps=fps, vshift=args.vshift,
                              batch_size=args.batch_size, progress=progress, num_frames=num_frames)
    finally:
        for bar in bars:
            bar.close()
    if score.vshift != args.vshift:
        print(f"note: --vshift {args.vshift} searches further than this clip's {score.num_windows} windows reach; "
              f"searched -{score.vshift}..+{score.vshift} frames instead", file=sys.stderr)
    return score, fps, len(wav) / SAMPLE_RATE


def describe(score: SyncScore, video: str, fps: float, seconds: float) -> str:
    """The human-readable report."""
    lines = [f"{video}: {fps:g} fps, {seconds:.2f} s of audio, {score.num_windows} windows scored with {score.model}",
             f"AV offset:   {offset_text(score.av_offset)}",
             f"confidence:  {score.confidence:.3f}   (LSE-C: median - minimum distance; higher = surer)",
             f"min dist:    {score.min_dist:.3f}   (LSE-D: the distance at the AV offset; lower = better)"]
    doubt = score.offset_doubt()
    if doubt is not None:
        lines.append(f"no reliable offset was found: {doubt}; nothing to correct from this score")
    elif score.av_offset != 0:
        lines.append(f"to correct a lip-synced result, run the lip-sync job again with "
                     f"--offset_frames {offset_in_frames(score.av_offset, fps)}")
    return "\n".join(lines)


def score_main(argv: Sequence[str] | None = None) -> int:
    """``python -m wav2lip_core score ...``; returns the exit status (errors are one line, no traceback)."""
    args = build_score_parser().parse_args(argv)
    try:
        check_score_options(args)
        score, fps, seconds = score_video(args)
        if args.plot is not None:
            import cv2

            args.plot.parent.mkdir(parents=True, exist_ok=True)
            try:
                written = cv2.imwrite(str(args.plot), plot_score(score)[:, :, ::-1])
            except cv2.error:
                written = False
            if not written:
                raise ValueError(f"--plot {args.plot}: could not write the picture there")
    except (CheckpointError, FaceDetectionError, ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({key: getattr(score, key) for key in JSON_KEYS}))
    else:
        print(describe(score, args.video, fps, seconds))
    return 0
