"""The whole lip-sync job on arrays: frames + speech -> lip-synced frames.

Frames are uint8 RGB NHWC (N, H, W, 3); speech is float32 mono 16 kHz; the output has one frame per mel chunk
(the audio decides the length: by default one per 1/fps of it, see audio.num_output_frames), uint8 RGB NHWC.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from .audio import DEFAULT_LENGTH, speech_mel_chunks
from .compositing.blend import check_blend_mode, first_face_row_read, paste_face
from .compositing.faces import boxes_misfit, crop_face, generate_faces
from .detection import DEFAULT_DETECTION, DetectionOptions, FaceTrack, detect_face_boxes, fixed_box_track
from .models.wav2lip import FACE_SIZE
from .runtime.batching import HalvingBatches, release_cached_device_memory
from .runtime.fast_inference import preferred_generator_batch
from .schedule import source_frame_indices
from .silence import DEFAULT_SILENCE_DB, SilencePlan, pasted_frames, plan_silence_for_audio

Progress = Callable[[int, int], None]   # (frames done, frames total)

# Full frames held at once per step (input copies being pasted into); bounds memory on 1080p and larger clips.
MAX_STEP_BYTES = 512 * 2**20


def check_boxes_fit(boxes: FaceTrack, frame_height: int, frame_width: int) -> None:
    """Raise a clear error for a box that is empty or reaches outside the frame."""
    found_boxes = boxes.boxes[boxes.found]
    if found_boxes.size == 0:
        return
    bad = boxes_misfit(found_boxes, frame_height, frame_width)
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


def speech_chunks(wav: np.ndarray, fps: float, silence: str, silence_db: float,
                  length: str = DEFAULT_LENGTH) -> tuple[np.ndarray, SilencePlan]:
    """(the generator's mel chunks, float32 (N, 80, 16), one per output frame; the pause plan) of float32 mono
    16 kHz speech: N as the ``length`` rule says (audio.num_output_frames), the chunks of paused frames as the
    plan says (silence.py)."""
    pauses = plan_silence_for_audio(wav, fps, silence, silence_db, length)
    return pauses.generator_chunks(speech_mel_chunks(wav, fps, length)), pauses


def generator_batches(batch_size: int, device: torch.device | str,
                      out_of_memory_types: tuple[type[BaseException], ...] = (),
                      release: Callable[[], None] = release_cached_device_memory) -> HalvingBatches:
    """The generator's batches: at most ``batch_size`` faces per network call, and at most the device's preferred
    batch (8 on the CPU, where bigger batches only cost cache misses), halving on out-of-memory."""
    return HalvingBatches(batch_size, cap=preferred_generator_batch(device), out_of_memory_types=out_of_memory_types,
                          release=release)


def generate_faces_batched(model: torch.nn.Module, faces_rgb: np.ndarray, chunks: np.ndarray,
                           batches: HalvingBatches, first_row: int = 0) -> np.ndarray:
    """generate_faces over any number of faces, in ``batches``: (B, 96, 96, 3) uint8 RGB crops + (B, 80, 16) mel
    chunks -> (B, 96, 96, 3) float32 RGB 0..1 (rows above ``first_row`` not generated, see generate_faces)."""
    generated = np.empty((len(faces_rgb), FACE_SIZE, FACE_SIZE, 3), np.float32)

    def process(start: int, stop: int) -> None:
        generated[start:stop] = generate_faces(model, faces_rgb[start:stop], chunks[start:stop], first_row)

    batches.run(len(faces_rgb), process)
    return generated


def iter_lipsync(frames: np.ndarray | Sequence[np.ndarray], chunks: np.ndarray, model: torch.nn.Module,
                 boxes: FaceTrack, *, static: bool = False, loop: str = "loop", blend: str = "feather",
                 color_match: bool = False, paste_weights: np.ndarray | None = None, batch_size: int = 128,
                 progress: Progress | None = None) -> Iterator[np.ndarray]:
    """Yield the lip-synced frames in order, one batch (B, H, W, 3) uint8 RGB at a time.

    frames: uint8 RGB (N, H, W, 3), or any sequence of such frames with len() and [i] (e.g. VideoFrames);
    chunks: (M, 80, 16) mel chunks, one per output frame; boxes: one per input frame.
    paste_weights: (M,) 0..1, how much of the generated mouth each output frame gets (SilencePlan.paste_weights;
    default all 1); a frame at 0 is its input frame, unchanged, and nothing is generated for it.
    Batches hold at most batch_size frames and at most MAX_STEP_BYTES of full frames.
    Output frame i shows input frame source_frame_indices(...)[i] with its mouth generated from chunk i.
    """
    yield from iter_lipsync_people(frames, [(chunks, boxes, paste_weights)], model, static=static, loop=loop,
                                   blend=blend, color_match=color_match, batch_size=batch_size, progress=progress)


def iter_lipsync_people(frames: np.ndarray | Sequence[np.ndarray],
                        people: Sequence[tuple[np.ndarray, FaceTrack, np.ndarray | None]], model: torch.nn.Module, *,
                        static: bool = False, loop: str = "loop", blend: str = "feather", color_match: bool = False,
                        batch_size: int = 128, progress: Progress | None = None) -> Iterator[np.ndarray]:
    """iter_lipsync for several people in one pass over the frames: ``people`` holds, per person, (chunks (M, 80,
    16), their boxes (one per input frame), paste weights (M,) or None); every person has the same M chunks (one
    per output frame). Each person's face is cut from the input frame, so a neighbour's new mouth never enters it.
    """
    check_blend_mode(blend)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    num_outputs = len(people[0][0])
    parts = []
    for chunks, boxes, paste_weights in people:
        weights = np.ones(num_outputs, np.float32) if paste_weights is None else np.asarray(paste_weights, np.float32)
        if len(chunks) != num_outputs or weights.shape != (num_outputs,):
            raise ValueError(f"{len(chunks)} chunks and {weights.shape} paste weights for {num_outputs} output frames")
        parts.append((chunks, boxes, weights))
    sources = source_frame_indices(len(frames), num_outputs, loop=loop, static=static)
    device = next(model.parameters()).device
    step = frames_per_step(batch_size, frames[0].nbytes, device)
    batches = generator_batches(batch_size, device)
    for start in range(0, num_outputs, step):
        batch_sources = sources[start:start + step]
        outputs = np.stack([frames[i] for i in batch_sources])            # copies: inputs stay untouched
        inputs = outputs.copy() if len(parts) > 1 else outputs
        for chunks, boxes, weights in parts:
            _paste_mouths(outputs, inputs, batch_sources, chunks[start:start + step], weights[start:start + step],
                          boxes, model, batches, blend, color_match)
        if progress is not None:
            progress(start + len(batch_sources), num_outputs)
        yield outputs


def _paste_mouths(outputs: np.ndarray, inputs: np.ndarray, batch_sources: np.ndarray, batch_chunks: np.ndarray,
                  batch_weights: np.ndarray, boxes: FaceTrack, model: torch.nn.Module, batches: HalvingBatches,
                  blend: str, color_match: bool) -> None:
    """One person's generated mouths pasted into a batch of output frames (B, H, W, 3) uint8 RGB, in place; the
    faces are cut from ``inputs`` (the same frames before any paste)."""
    with_face = np.flatnonzero(pasted_frames(boxes.found[batch_sources], batch_weights))
    if with_face.size:
        batch_boxes = boxes.boxes[batch_sources[with_face]]
        crops = np.stack([crop_face(inputs[j], box) for j, box in zip(with_face, batch_boxes)])
        # Only the face rows the paste reads are generated (for the default blend, the lower ~60 %).
        first_row = min(first_face_row_read(blend, y2 - y1, x2 - x1, color_match) for y1, y2, x1, x2 in batch_boxes)
        generated = generate_faces_batched(model, crops, batch_chunks[with_face], batches, int(first_row))
        for face, j, box in zip(generated, with_face, batch_boxes):
            paste_face(outputs[j], face, tuple(box), blend, color_match=color_match,
                       strength=float(batch_weights[j]))


def lipsync(frames: np.ndarray, wav: np.ndarray, fps: float, model: torch.nn.Module, *,
            box: Sequence[int] | None = None, face_boxes: FaceTrack | None = None,
            detection: DetectionOptions = DEFAULT_DETECTION, static: bool = False, blend: str = "feather",
            color_match: bool = False, silence: str = "generate", silence_db: float = DEFAULT_SILENCE_DB,
            batch_size: int = 128, loop: str = "loop", length: str = DEFAULT_LENGTH,
            progress: Progress | None = None) -> np.ndarray:
    """Lip-sync ``frames`` to ``wav``; returns (M, H, W, 3) uint8 RGB, M = number of mel chunks of the audio:
    with length="speech" (default) one per 1/fps of it, ceil(seconds * fps); "original": the original's count.

    frames: uint8 RGB (N, H, W, 3) video frames (or one still image with static=True); wav: float32 mono
    16 kHz; fps: frame rate of the output (and of the video).
    Face boxes: ``face_boxes`` you already have (a FaceTrack, one per input frame); else ``box``, a fixed
    (y1, y2, x1, x2) used verbatim with no pads (the original's --box); else detected as ``detection`` says,
    on the model's device.
    blend, color_match: see compositing/blend.py; silence, silence_db: what pauses in the speech do (see silence.py).
    With blend="original" and length="original" the result reproduces the original inference.py with --box.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB (N, H, W, 3), got {frames.dtype} {frames.shape}")
    chunks, pauses = speech_chunks(wav, fps, silence, silence_db, length)
    frames = frames[:1] if static else frames[:len(chunks)]   # frames past the audio's end are never used
    if face_boxes is None:
        if box is not None:
            face_boxes = fixed_box_track(box, len(frames))
        else:
            face_boxes = detect_face_boxes(frames, detection, device=str(next(model.parameters()).device))
    elif len(face_boxes.boxes) < len(frames):
        raise ValueError(f"{len(face_boxes.boxes)} face boxes for {len(frames)} frames")
    check_boxes_fit(face_boxes, frames.shape[1], frames.shape[2])
    output = np.empty((len(chunks),) + frames.shape[1:], dtype=np.uint8)
    done = 0
    for batch in iter_lipsync(frames, chunks, model, face_boxes, static=static, loop=loop, blend=blend,
                              color_match=color_match, paste_weights=pauses.paste_weights, batch_size=batch_size,
                              progress=progress):
        output[done:done + len(batch)] = batch
        done += len(batch)
    return output
