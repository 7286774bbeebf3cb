"""One entry point for lip-sync scoring: full frames + speech + face boxes + a scoring network -> SyncScore.

Frames: uint8 RGB (H, W, 3) 0..255, any iterable (an NHWC array, ``VideoFrames``, ``iter_reference_frames``...),
read once, lazily. Audio: mono 16 kHz, float in [-1, 1] (or int16). Boxes: (y1, y2, x1, x2) full-frame pixels.
Networks: ``SyncNetV2`` (LSE-D / LSE-C as the lip-sync papers report them) or Wav2Lip's ``SyncNetColor`` expert.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Sequence

import numpy as np
import torch

from ..audio.rates import check_frame_rate
from ..detection import FaceTrack
from ..detection.boxes import fill_missing_nearest
from ..models import SyncNetColor, SyncNetV2
from ..runtime.batching import HalvingBatches
from .crops import CROP_SIZE, GEOMETRIES, crop_box, iter_face_crops
from .evaluate import DEFAULT_BATCH_SIZE, DEFAULT_VSHIFT, VIDEO_FPS, Progress, SyncScore, score_syncnet_v2
from .expert import EXPERT_FACE_SIZE, score_lipsync_expert

SCORING_MODELS = ("syncnet_v2", "lipsync_expert")
_FPS_TOLERANCE = 0.01


def scoring_model_name(model: torch.nn.Module) -> str:
    """"syncnet_v2" for a SyncNetV2 (or a stand-in with its ``forward_lips`` / ``forward_audio``),
    "lipsync_expert" for SyncNetColor."""
    if isinstance(model, SyncNetColor):
        return "lipsync_expert"
    if isinstance(model, SyncNetV2) or (hasattr(model, "forward_lips") and hasattr(model, "forward_audio")):
        return "syncnet_v2"
    raise TypeError(f"{type(model).__name__} is not a lip-sync scoring network (SyncNetV2 or SyncNetColor)")


def scoring_rate_source(index: int, fps: float) -> int:
    """The source frame shown at 25 fps frame ``index``: the one nearest in time (``round(index * fps / 25)``)."""
    return int(np.floor(index * float(fps) / VIDEO_FPS + 0.5))


def needs_resampling(fps: float) -> bool:
    """Whether a ``fps`` clip is brought to 25 fps; ValueError naming the rate outside FRAME_RATE_RANGE."""
    return abs(check_frame_rate(fps) - VIDEO_FPS) > _FPS_TOLERANCE


def count_at_scoring_rate(num_frames: int, fps: float) -> int:
    """How many 25 fps frames ``at_scoring_rate`` makes of ``num_frames`` frames at ``fps``."""
    if not needs_resampling(fps):
        return int(num_frames)
    count = max(0, int(np.ceil((num_frames - 0.5) * VIDEO_FPS / float(fps))))
    while count > 0 and scoring_rate_source(count - 1, fps) >= num_frames:     # the estimate's float rounding
        count -= 1
    while scoring_rate_source(count, fps) < num_frames:
        count += 1
    return count


def at_scoring_rate(frames: Iterable[np.ndarray], fps: float) -> Iterator[np.ndarray]:
    """The frames of a ``fps`` clip at 25 fps, nearest frame in time (frames repeat below 25 fps and are
    dropped above it), streamed; unchanged at 25 fps."""
    if not needs_resampling(fps):
        yield from frames
        return
    output_index = 0
    for source_index, frame in enumerate(frames):
        while scoring_rate_source(output_index, fps) == source_index:
            yield frame
            output_index += 1


def boxes_at_scoring_rate(rows: np.ndarray, fps: float) -> np.ndarray:
    """Per-frame box rows of a ``fps`` clip -> the rows of its 25 fps frames (see ``at_scoring_rate``)."""
    if not needs_resampling(fps) or len(rows) == 1:
        return rows
    sources = [scoring_rate_source(index, fps) for index in range(count_at_scoring_rate(len(rows), fps))]
    return rows[np.asarray(sources, dtype=np.int64)]


def offset_in_frames(av_offset: int, fps: float) -> int:
    """An AV offset (25 fps frames, as the scores count them) in frames of a ``fps`` video, rounded: what
    ``offset_frames`` (the lip-sync job's speech shift) needs to undo it."""
    return int(round(av_offset * float(fps) / VIDEO_FPS))


def _whole_frame_crops(frames: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Frames that already are face crops: each frame resized to (size, size) (unchanged when it has that size)."""
    for frame in frames:
        yield crop_box(frame, (0, frame.shape[0], 0, frame.shape[1]), size)


def _box_rows(boxes: FaceTrack | np.ndarray | Sequence) -> np.ndarray:
    """(N, 4) int64 rows. A FaceTrack's frames without a face borrow the nearest found box (scoring needs a
    crop on every frame); a track with no face at all is refused."""
    if isinstance(boxes, FaceTrack):
        if not boxes.found.any():
            raise ValueError("no frame has a face box: there is no mouth to score")
        return fill_missing_nearest(boxes.boxes, boxes.found)[0]
    return np.asarray(boxes, dtype=np.int64).reshape(-1, 4)


def face_crops(frames: Iterable[np.ndarray], model_name: str, boxes: FaceTrack | np.ndarray | Sequence | None = None,
               geometry: str | None = None) -> Iterator[np.ndarray]:
    """uint8 RGB crops in the size the model takes (224 for syncnet_v2, 96 for lipsync_expert), lazily.

    boxes None: the frames are face crops already. One box: the same box on every frame ("box" geometry only).
    Per-frame boxes: geometry "reference" (syncnet_python's padded square, the default for syncnet_v2) or
    "box" (the box resized, the default for lipsync_expert, which was trained on plain face-box crops).
    """
    size = CROP_SIZE if model_name == "syncnet_v2" else EXPERT_FACE_SIZE
    if boxes is None:
        if geometry not in (None, "box"):
            raise ValueError("without face boxes the whole frame is the crop; geometry must be None or 'box'")
        return _whole_frame_crops(frames, size)
    rows = _box_rows(boxes)
    if geometry is None:
        geometry = "reference" if model_name == "syncnet_v2" and len(rows) > 1 else "box"
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {GEOMETRIES}, not {geometry!r}")
    if geometry == "reference" and len(rows) == 1:
        raise ValueError("the reference geometry smooths per-frame boxes; give one box per frame or geometry='box'")
    return iter_face_crops(frames, rows, geometry, size)


def score_lipsync(model: torch.nn.Module, frames: Iterable[np.ndarray], wav_16k: np.ndarray, *,
                  boxes: FaceTrack | np.ndarray | Sequence | None = None, geometry: str | None = None,
                  fps: float = VIDEO_FPS, vshift: int = DEFAULT_VSHIFT, batch_size: int = DEFAULT_BATCH_SIZE,
                  progress: Progress | None = None, batches: HalvingBatches | None = None,
                  num_frames: int | None = None) -> SyncScore:
    """Score how well the mouth in ``frames`` matches ``wav_16k`` (see SyncScore for the fields).

    model: ``SyncNetV2`` (checkpoints.load_syncnet_v2) or ``SyncNetColor`` (checkpoints.load_syncnet), eval mode,
        any device.
    wav_16k: mono 16 kHz speech: int16 as the reference reads it (``load_reference_speech`` /
        ``waveform_reference_speech``), or float in [-1, 1].
    frames: uint8 RGB (H, W, 3) full frames at ``fps`` (1..240, FRAME_RATE_RANGE). Scores are defined on 25 fps
        video (5-frame windows = 200 ms); other rates are brought to 25 fps by taking the frame nearest in time, as the reference
        pipeline does with ``ffmpeg -r 25`` (not bit-exact with ffmpeg's choice at every frame). For parity with
        syncnet_python on a video file, pass ``iter_reference_frames(path)`` (the reference's JPEG round trip)
        instead of plainly decoded frames.
    boxes / geometry: see ``face_crops``; boxes are per source frame (before any rate change). Frames after the
        last box are not read.
    vshift: offsets -vshift..+vshift frames are searched (15 = +-0.6 s, the reference's default); a width beyond
        the clip is cut (``evaluate.searched_vshift``; the score's ``vshift`` says what was searched).
    progress: called as progress(windows_done, windows_in_all) before the first batch and after each.
    num_frames: how many frames ``frames`` holds when it has no ``len()`` (only sizes the progress total).
    batches: runs the network over each batch of windows, halving on out-of-memory (default: a HalvingBatches of
        ``batch_size``; the nodes pass one that knows ComfyUI's out-of-memory type).
    Only 5-frame windows of one batch are held as float at a time: memory does not grow with the clip length.
    """
    model_name = scoring_model_name(model)
    resample = needs_resampling(fps)
    if num_frames is None and hasattr(frames, "__len__"):
        num_frames = len(frames)
    if boxes is not None:
        rows = _box_rows(boxes)
        if len(rows) > 1:                                   # frames after the last box are not read
            num_frames = len(rows) if num_frames is None else min(num_frames, len(rows))
        if resample:
            boxes = boxes_at_scoring_rate(rows, fps)
    if num_frames is not None:
        num_frames = count_at_scoring_rate(num_frames, fps)
    crops = face_crops(at_scoring_rate(frames, fps) if resample else frames, model_name, boxes, geometry)
    scorer = score_syncnet_v2 if model_name == "syncnet_v2" else score_lipsync_expert
    return scorer(model, crops, wav_16k, vshift=vshift, batch_size=batch_size, progress=progress, batches=batches,
                  num_frames=num_frames)
