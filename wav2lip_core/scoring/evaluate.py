"""Offset search and scores of a lip-sync network over a clip: LSE-D, LSE-C, AV offset, framewise confidence.

This is the arithmetic of ``SyncNetInstance.evaluate`` in joonson/syncnet_python (MIT), re-derived (no code
copied), with the features computed in a stream so that a long clip is never held whole as float:

* windows: video window ``i`` = frames ``i .. i+4``, audio window ``i`` = the 200 ms starting at frame ``i``
  (25 fps video, 16 kHz audio: 640 samples per frame). Like the reference, ``min_length - 5`` windows are
  scored, ``min_length = min(frames, samples // 640)``: the last complete window is left out.
* distances: each video embedding against the audio embeddings of the windows ``vshift`` before to ``vshift``
  after it; audio beyond either end of the clip is a zero vector (the reference zero-pads). Distance index
  ``k`` compares video window ``i`` with audio window ``i + k - vshift``.
* ``offset_dists[k]`` = mean over windows of distance ``k``; LSE-D = ``min_dist`` = its minimum;
  ``av_offset = vshift - argmin``; LSE-C = ``confidence`` = median - minimum (torch's median: the lower
  middle value for an even count).
* ``frame_confidence[i]`` = median of offset_dists - distance of window ``i`` at the best offset, then a
  9-tap median filter (zero-padded at the ends, as the reference's scipy ``medfilt``).

Sign of ``av_offset``: video window ``i`` matches audio window ``i - av_offset``. Positive: the sound comes
``av_offset`` frames (40 ms each) before the mouth shows it (audio leads); 0: in sync.

Search width: offsets of ``vshift`` or more frames compare every window with padding only, so a ``vshift``
beyond the clip is cut to ``searched_vshift``: never narrower than the reference's default 15, never wider than
the windows allow (``SyncScore.vshift`` is the width searched).

Distances are Euclidean (``torch.pairwise_distance``, eps 1e-6, as the reference) for SyncNet v2, and
``1 - cosine similarity`` for Wav2Lip's lip-sync expert (whose embeddings are compared by cosine): zero-padded
audio then scores similarity 0, distance 1.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..audio.rates import SAMPLE_RATE
from ..models.syncnet_v2 import LIP_WINDOW_FRAMES, MFCC_WINDOW_FRAMES
from ..runtime.batching import HalvingBatches
from .median_filter import zero_padded_median_filter
from .mfcc import INT16_SCALE, mfcc

VIDEO_FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // VIDEO_FPS     # 640
WINDOW_FRAMES = LIP_WINDOW_FRAMES                        # 5 frames = 200 ms
MFCC_FRAMES_PER_VIDEO_FRAME = MFCC_WINDOW_FRAMES // WINDOW_FRAMES   # 4 (10 ms MFCC steps, 40 ms frames)
DEFAULT_VSHIFT = 15                                      # offsets -15..+15 frames (+-0.6 s)
DEFAULT_BATCH_SIZE = 20                                  # windows per forward pass (the reference's default)
FRAME_CONFIDENCE_KERNEL = 9
METRICS = ("euclidean", "cosine")
# Below this share of the median distance the best offset matches no better than the typical one: a confidence
# "near 0". A share, not a fixed number, because the two models' distances have different scales.
NEAR_ZERO_CONFIDENCE = 0.01


@dataclass(frozen=True)
class SyncScore:
    """Lip-sync scores of one clip.

    av_offset: frames (40 ms at 25 fps); video window i matches audio window i - av_offset (positive: audio leads).
    confidence: LSE-C, median - minimum of offset_dists (higher = more confidently in sync at av_offset).
    min_dist: LSE-D, minimum of offset_dists (lower = better; Euclidean for syncnet_v2, 1 - cosine for
        lipsync_expert, so the two models' values are not comparable).
    frame_confidence: per scored window, median-filtered (kernel 9).
    offset_dists: mean distance per offset, in the reference's order: index k is offset ``vshift - k``
        (+vshift first, -vshift last); see ``offsets``.
    """
    av_offset: int
    confidence: float
    min_dist: float
    frame_confidence: list[float]
    offset_dists: list[float]
    vshift: int = DEFAULT_VSHIFT
    model: str = "syncnet_v2"
    num_windows: int = 0

    @property
    def offsets(self) -> list[int]:
        """The AV offset each entry of ``offset_dists`` stands for."""
        return [self.vshift - index for index in range(2 * self.vshift + 1)]

    def offset_doubt(self) -> str | None:
        """Why ``av_offset`` is no offset to act on, or None when it is one. It is not when the best offset lies
        at the edge of the search (the true one may lie beyond it), when at that offset every window is compared
        with the padding past an end of the audio (nothing was heard there), or when the confidence is near 0 (every
        offset matches about as well: a clip too short or a face that does not speak)."""
        median = float(np.median(self.offset_dists)) if self.offset_dists else 0.0
        if self.confidence <= NEAR_ZERO_CONFIDENCE * abs(median):
            return f"the confidence is near 0 ({self.confidence:.3f}): every offset matches about as well"
        if self.av_offset != 0 and abs(self.av_offset) >= self.vshift:
            return (f"the best offset ({self.av_offset:+d}) is at the edge of the searched -{self.vshift}..+"
                    f"{self.vshift}: the true offset may lie beyond it")
        if abs(self.av_offset) >= self.num_windows:
            return (f"at the best offset ({self.av_offset:+d}) each of the {self.num_windows} windows is compared "
                    f"with the silence past an end of the audio")
        return None

    def as_dict(self) -> dict:
        return {"model": self.model, "av_offset": self.av_offset, "confidence": self.confidence,
                "min_dist": self.min_dist, "num_windows": self.num_windows, "vshift": self.vshift,
                "offset_dists": list(self.offset_dists), "frame_confidence": list(self.frame_confidence)}


def audio_window_limit(num_samples: int) -> int:
    """Windows the audio allows: ``samples // 640 - 5`` (the reference's rule; may be <= 0)."""
    return int(num_samples) // SAMPLES_PER_FRAME - WINDOW_FRAMES


def iter_window_batches(crops: Iterable[np.ndarray], max_windows: int, batch_size: int = DEFAULT_BATCH_SIZE
                        ) -> Iterator[np.ndarray]:
    """Group a stream of crops into 5-frame windows, ``batch_size`` windows at a time.

    crops: per-frame arrays of one shape (e.g. uint8 RGB (224, 224, 3)), consumed lazily.
    Yields arrays (B, 5, *crop_shape) for windows 0, 1, 2, ... in order. Window i is yielded when frame i + 5
    exists and i < max_windows (the reference's ``min_length - 5`` rule). At most ``batch_size + 5`` crops
    are held at a time, and no crop is read beyond frame ``max_windows + 4``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    held: list[np.ndarray] = []      # crops first_window, first_window + 1, ...
    first_window = 0
    frames_seen = 0
    crop_iterator = iter(crops)
    frames_needed = max_windows + WINDOW_FRAMES
    while first_window < max_windows:
        crop = next(crop_iterator, None) if frames_seen < frames_needed else None
        if crop is not None:
            held.append(crop)
            frames_seen += 1
        finished = crop is None or frames_seen >= frames_needed
        ready = min(frames_seen - WINDOW_FRAMES, max_windows) - first_window
        if ready >= batch_size or (finished and ready > 0):
            count = min(ready, batch_size)
            yield np.stack([np.stack(held[offset:offset + WINDOW_FRAMES]) for offset in range(count)])
            del held[:count]
            first_window += count
        elif finished:
            return


def searched_vshift(vshift: int, num_windows: int) -> int:
    """The search width used for ``vshift`` on ``num_windows`` windows: ``vshift``, cut to ``num_windows - 1``
    (further offsets compare only padding) but never below DEFAULT_VSHIFT, the reference's own width."""
    if vshift < 0:
        raise ValueError(f"vshift must be >= 0, got {vshift}")
    return min(int(vshift), max(DEFAULT_VSHIFT, int(num_windows) - 1))


def expected_windows(num_samples: int, num_frames: int | None) -> int:
    """Windows a clip gives: ``min(frames, samples // 640) - 5`` (the reference's rule; >= 0); with
    ``num_frames`` None (not known ahead) the audio's limit."""
    limit = audio_window_limit(num_samples)
    if num_frames is not None:
        limit = min(limit, int(num_frames) - WINDOW_FRAMES)
    return max(0, limit)


def offset_distances(video_embeddings: torch.Tensor, audio_embeddings: torch.Tensor, vshift: int,
                     metric: str = "euclidean") -> torch.Tensor:
    """(N, D) video and audio embeddings of the same windows -> (N, 2 vshift + 1) float32 distances.

    Column k compares video window i with audio window i + k - vshift (a zero vector outside the clip).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    count = len(video_embeddings)
    video = video_embeddings.float()
    padded_audio = F.pad(audio_embeddings.float(), (0, 0, vshift, vshift))
    columns = []
    for k in range(2 * vshift + 1):
        audio = padded_audio[k:k + count]
        if metric == "euclidean":
            columns.append(F.pairwise_distance(video, audio))
        else:
            columns.append(1.0 - F.cosine_similarity(video, audio, dim=1))
    return torch.stack(columns, dim=1)


def summarise(distances: torch.Tensor, vshift: int, model: str) -> SyncScore:
    """(N, 2 vshift + 1) distances -> SyncScore (the reference's offset, confidence and framewise confidence)."""
    distances = distances.detach().float().cpu()
    offset_dists = distances.mean(dim=0)
    best = int(torch.argmin(offset_dists))
    min_dist = offset_dists[best]
    median = torch.median(offset_dists)
    frame_confidence = (median - distances[:, best]).numpy()
    smoothed = zero_padded_median_filter(frame_confidence, FRAME_CONFIDENCE_KERNEL)
    return SyncScore(av_offset=vshift - best, confidence=float(median - min_dist), min_dist=float(min_dist),
                     frame_confidence=[float(v) for v in smoothed],
                     offset_dists=[float(v) for v in offset_dists], vshift=vshift, model=model,
                     num_windows=len(distances))


EmbedBatch = Callable[[np.ndarray, int], tuple[torch.Tensor, torch.Tensor]]
Progress = Callable[[int, int], None]    # (windows done, windows in all)


def score_windows(crops: Iterable[np.ndarray], num_samples: int, embed_batch: EmbedBatch, *, vshift: int,
                  batch_size: int, metric: str, model: str, progress: Progress | None = None,
                  batches: HalvingBatches | None = None, num_frames: int | None = None) -> SyncScore:
    """Stream crops through ``embed_batch(windows (B, 5, ...) uint8, first_window) -> (video (B, D), audio (B, D))``
    and score the embeddings. Only embeddings accumulate (2 x windows x D floats), never frames.

    ``batch_size`` windows are gathered at a time; ``batches`` (default: ``HalvingBatches(batch_size)``) runs the
    network over them and halves its batch on out-of-memory. ``progress(done, total)`` is called before the first
    batch and after each; ``total`` counts ``num_frames`` crops when given (else as many as the audio allows), and
    the last call has ``done == total`` even when the crops end sooner.
    """
    searched_vshift(vshift, 0)                     # refuses a negative width before any work
    batches = batches if batches is not None else HalvingBatches(batch_size)
    max_windows = audio_window_limit(num_samples)
    total = expected_windows(num_samples, num_frames)
    if progress is not None:
        progress(0, total)
    video_parts: list[torch.Tensor] = []
    audio_parts: list[torch.Tensor] = []
    first_window = 0
    for windows in iter_window_batches(crops, max_windows, batch_size):
        def process(start: int, stop: int) -> None:
            video, audio = embed_batch(windows[start:stop], first_window + start)
            video_parts.append(video.detach().float().cpu())
            audio_parts.append(audio.detach().float().cpu())

        batches.run(len(windows), process)
        first_window += len(windows)
        if progress is not None:
            progress(first_window, max(total, first_window))
    if progress is not None and first_window != total:
        progress(first_window, first_window)
    if first_window == 0:
        raise ValueError(
            f"too short to score: lip-sync scoring needs at least {WINDOW_FRAMES + 1} frames at {VIDEO_FPS} fps and "
            f"{(WINDOW_FRAMES + 1) * SAMPLES_PER_FRAME / SAMPLE_RATE:.2f} s of audio")
    vshift = searched_vshift(vshift, first_window)
    distances = offset_distances(torch.cat(video_parts), torch.cat(audio_parts), vshift, metric)
    return summarise(distances, vshift, model)


def mono_samples(wav_16k: np.ndarray) -> np.ndarray:
    """Check the audio is 1-D, non-empty and finite; returns it as an array (dtype kept)."""
    samples = np.asarray(wav_16k)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"wav_16k must be non-empty mono 16 kHz audio (samples,), got shape {samples.shape}")
    if np.issubdtype(samples.dtype, np.floating) and not np.isfinite(samples).all():
        raise ValueError("wav_16k contains NaN or inf samples")
    return samples


def model_device_dtype(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    parameter = next(model.parameters())
    return parameter.device, parameter.dtype


def score_syncnet_v2(model: torch.nn.Module, face_crops: Iterable[np.ndarray], wav_16k: np.ndarray, *,
                     vshift: int = DEFAULT_VSHIFT, batch_size: int = DEFAULT_BATCH_SIZE,
                     progress: Progress | None = None, batches: HalvingBatches | None = None,
                     num_frames: int | None = None) -> SyncScore:
    """LSE-D / LSE-C / AV offset with SyncNet v2, as syncnet_python's ``evaluate()`` computes them.

    model: a SyncNetV2 (or anything with ``forward_lips`` / ``forward_audio`` of the same layouts), eval mode.
    face_crops: uint8 RGB (224, 224, 3) crops, one per video frame at 25 fps, in order (any iterable; read lazily).
    wav_16k: mono 16 kHz audio, int16 samples (what the reference reads: ``reference_audio`` converts files and
        waveforms as it does) or float in [-1, 1] (scaled by 32768, not rounded).
    num_frames: how many crops come, when known (only sizes the progress total).
    """
    samples = mono_samples(wav_16k)
    int16_scale = samples if np.issubdtype(samples.dtype, np.integer) else samples.astype(np.float64) * INT16_SCALE
    coefficients = torch.from_numpy(mfcc(int16_scale).T.astype(np.float32))   # (13, T)
    device, dtype = model_device_dtype(model)

    def embed_batch(windows_rgb: np.ndarray, first_window: int) -> tuple[torch.Tensor, torch.Tensor]:
        # (B, 5, H, W, 3) RGB uint8 -> (B, 3, 5, H, W) BGR float 0..255, the reference's cv2 frames as floats;
        # reordered while still uint8 and sent to the device before the 4x larger float copy is made.
        lips_rgb = torch.from_numpy(windows_rgb).permute(0, 4, 1, 2, 3).contiguous()
        windows = range(first_window, first_window + len(windows_rgb))
        starts = [MFCC_FRAMES_PER_VIDEO_FRAME * window for window in windows]
        # (B, 1, 13, 20): the 200 ms of MFCC frames from the window's first video frame on
        audio = torch.stack([coefficients[:, start:start + MFCC_WINDOW_FRAMES] for start in starts])[:, None]
        with torch.inference_mode():
            return (model.forward_lips(lips_rgb.to(device).flip(1).to(dtype)),
                    model.forward_audio(audio.to(device=device, dtype=dtype)))

    return score_windows(face_crops, len(samples), embed_batch, vshift=vshift, batch_size=batch_size,
                         metric="euclidean", model="syncnet_v2", progress=progress, batches=batches,
                         num_frames=num_frames)
