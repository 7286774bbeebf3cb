"""The whole lip-sync job on arrays: frames + speech -> lip-synced frames.

Frames are uint8 RGB NHWC (N, H, W, 3); speech is float32 mono 16 kHz; the output has one frame per mel chunk
(the audio decides the length), uint8 RGB NHWC.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from .audio import mel_chunks, melspectrogram
from .blend import BLEND_MODES, paste_face
from .detection import FaceTrack, detect_face_boxes, fixed_box_track
from .faces import crop_face, generate_faces
from .fast_inference import preferred_generator_batch
from .memory import is_out_of_memory
from .models.wav2lip import FACE_SIZE
from .schedule import source_frame_indices

Progress = Callable[[int, int], None]   # (frames done, frames total)

# Full frames held at once per step (input copies being pasted into); bounds memory on 1080p and larger clips.
MAX_STEP_BYTES = 512 * 2**20


def check_boxes_fit(boxes: FaceTrack, frame_height: int, frame_width: int) -> None:
    """Raise a clear error for a box that is empty or reaches outside the frame."""
    found_boxes = boxes.boxes[boxes.found]
    if found_boxes.size == 0:
        return
    y1, y2, x1, x2 = found_boxes.T
    bad = (y1 < 0) | (x1 < 0) | (y2 > frame_height) | (x2 > frame_width) | (y2 <= y1) | (x2 <= x1)
    if bad.any():
        first = tuple(int(v) for v in found_boxes[int(np.argmax(bad))])
        raise ValueError(f"face box (y1, y2, x1, x2) = {first} does not fit inside the {frame_width}x{frame_height} "
                         f"frame (it must satisfy 0 <= y1 < y2 <= height and 0 <= x1 < x2 <= width)")


def frames_per_step(batch_size: int, frame_bytes: int, device: torch.device) -> int:
    """How many output frames iter_lipsync decodes, generates and pastes per step: at most ``batch_size`` and
    MAX_STEP_BYTES of full frames; on CPU also at most two generator sub-batches (16 frames), so the encoder
    downstream works on one step while the next is generated instead of waiting for one big batch at the end."""
    step = min(batch_size, MAX_STEP_BYTES // max(1, frame_bytes))
    preferred = preferred_generator_batch(device)
    if preferred is not None:
        step = min(step, 2 * preferred)
    return max(1, step)


def generate_faces_in_parts(model: torch.nn.Module, faces_rgb: np.ndarray, chunks: np.ndarray,
                            part_size: int | None) -> np.ndarray:
    """generate_faces with at most ``part_size`` faces per network call (None: all in one call)."""
    if len(faces_rgb) == 0:
        return np.zeros((0, FACE_SIZE, FACE_SIZE, 3), np.float32)
    step = len(faces_rgb) if part_size is None else max(1, int(part_size))
    parts = [generate_faces(model, faces_rgb[i:i + step], chunks[i:i + step]) for i in range(0, len(faces_rgb), step)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def generate_faces_batched(model: torch.nn.Module, faces_rgb: np.ndarray, chunks: np.ndarray,
                           batch_size: int) -> np.ndarray:
    """generate_faces over a batch in sub-batches (at most ``batch_size``, and at most the device's preferred
    generator batch: 8 on CPU, where bigger batches only cost cache misses), halving the sub-batch size on
    out-of-memory instead of failing."""
    preferred = preferred_generator_batch(next(model.parameters()).device)
    if preferred is not None:
        batch_size = min(batch_size, preferred)
    while True:
        try:
            return generate_faces_in_parts(model, faces_rgb, chunks, batch_size)
        except RuntimeError as error:
            if not is_out_of_memory(error) or batch_size == 1:
                raise
            batch_size //= 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def iter_lipsync(frames: np.ndarray | Sequence[np.ndarray], chunks: np.ndarray, model: torch.nn.Module,
                 boxes: FaceTrack, *, static: bool = False, loop: str = "loop", blend: str = "feather",
                 batch_size: int = 128, progress: Progress | None = None) -> Iterator[np.ndarray]:
    """Yield the lip-synced frames in order, one batch (B, H, W, 3) uint8 RGB at a time.

    frames: uint8 RGB (N, H, W, 3), or any sequence of such frames with len() and [i] (e.g. VideoFrames);
    chunks: (M, 80, 16) mel chunks, one per output frame; boxes: one per input frame.
    Batches hold at most batch_size frames and at most MAX_STEP_BYTES of full frames.
    Output frame i shows input frame source_frame_indices(...)[i] with its mouth generated from chunk i.
    """
    if blend not in BLEND_MODES:
        raise ValueError(f"blend must be one of {BLEND_MODES}, not {blend!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    num_outputs = len(chunks)
    sources = source_frame_indices(len(frames), num_outputs, loop=loop, static=static)
    step = frames_per_step(batch_size, frames[0].nbytes, next(model.parameters()).device)
    for start in range(0, num_outputs, step):
        batch_sources = sources[start:start + step]
        batch_chunks = chunks[start:start + step]
        outputs = np.stack([frames[i] for i in batch_sources])            # copies: inputs stay untouched
        with_face = np.flatnonzero(boxes.found[batch_sources])
        if with_face.size:
            crops = np.stack([crop_face(outputs[j], boxes.boxes[batch_sources[j]]) for j in with_face])
            generated = generate_faces_batched(model, crops, batch_chunks[with_face], batch_size)
            for face, j in zip(generated, with_face):
                paste_face(outputs[j], face, tuple(boxes.boxes[batch_sources[j]]), blend)
        if progress is not None:
            progress(start + len(batch_sources), num_outputs)
        yield outputs


def lipsync(frames: np.ndarray, wav: np.ndarray, fps: float, model: torch.nn.Module, *,
            box: Sequence[int] | None = None, static: bool = False, blend: str = "feather",
            batch_size: int = 128, loop: str = "loop", face_boxes: FaceTrack | None = None,
            detector: str = "s3fd", pads: tuple[int, int, int, int] = (0, 10, 0, 0), on_missing: str = "nearest",
            smoothing: str = "centered", detect_options: dict | None = None,
            progress: Progress | None = None) -> np.ndarray:
    """Lip-sync ``frames`` to ``wav``; returns (M, H, W, 3) uint8 RGB, M = number of mel chunks of the audio.

    frames: uint8 RGB (N, H, W, 3) video frames (or one still image with static=True); wav: float32 mono
    16 kHz; fps: frame rate of the output (and of the video).
    box: a fixed (y1, y2, x1, x2) face box used verbatim with no pads (the original's --box); None detects
    faces with ``detector`` (on the model's device), adding ``pads`` (top, bottom, left, right), applying
    ``on_missing`` ("nearest", "skip", "error") and ``smoothing`` ("centered", "original", "none"); further
    options of wav2lip_core.detection.detect_face_boxes go in ``detect_options``.
    face_boxes: boxes you already have (a FaceTrack), one per input frame.
    With blend="original" the result reproduces the original inference.py with --box.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB (N, H, W, 3), got {frames.dtype} {frames.shape}")
    chunks = mel_chunks(melspectrogram(wav), fps)
    frames = frames[:1] if static else frames[:len(chunks)]   # frames past the audio's end are never used
    if face_boxes is None:
        if box is not None:
            face_boxes = fixed_box_track(box, len(frames))
        else:
            options = {"device": str(next(model.parameters()).device), **(detect_options or {})}
            face_boxes = detect_face_boxes(frames, detector=detector, pads=pads, on_missing=on_missing,
                                           smoothing=smoothing, **options)
    elif len(face_boxes.boxes) < len(frames):
        raise ValueError(f"{len(face_boxes.boxes)} face boxes for {len(frames)} frames")
    check_boxes_fit(face_boxes, frames.shape[1], frames.shape[2])
    output = np.empty((len(chunks),) + frames.shape[1:], dtype=np.uint8)
    done = 0
    for batch in iter_lipsync(frames, chunks, model, face_boxes, static=static, loop=loop, blend=blend,
                              batch_size=batch_size, progress=progress):
        output[done:done + len(batch)] = batch
        done += len(batch)
    return output
