"""LipSyncScore: lip-synced frames + the speech -> confidence (LSE-C), min distance (LSE-D), AV offset, a plot and a
line of text, with SyncNet v2 (the papers' metric) or Wav2Lip's own lip-sync expert."""
from __future__ import annotations

import torch

from wav2lip_core.audio import FRAME_RATE_RANGE, check_frame_rate
from wav2lip_core.checkpoints import (SYNCNET, SYNCNET_V2, CheckpointError, find_known_model, load_syncnet,
                                      load_syncnet_v2, resolve_checkpoint, verify_checkpoint)
from wav2lip_core.detection import FaceTrack
from wav2lip_core.models.syncnet_v2 import working_memory_bytes
from wav2lip_core.runtime.batching import HalvingBatches
from wav2lip_core.scoring import (DEFAULT_BATCH_SIZE, SCORING_DETECTION, SyncScore, offset_in_frames,
                                  score_lipsync, waveform_reference_speech)
from wav2lip_core.scoring.plot import plot_score, summary_line
from wav2lip_core.scoring.score import needs_resampling

from . import model_management as mm
from .detect_node import DetectFaces
from .fps_check import score_fps_mismatch
from .loader import choice_to_request, list_choices, validate_choice
from .model_check import detector_problem, is_wired, model_problem, queued_inputs
from .tensors import Uint8Frames, audio_to_numpy, check_image, uint8_to_image
from .types import CATEGORY, WAV2LIP_FACES, WAV2LIP_SYNC, FaceBoxes, SyncPlan

SCORING_ARCHITECTURES = (SYNCNET_V2, SYNCNET)       # SyncNet v2 first: the default choice
_scoring_models: dict[str, mm.ManagedModel] = {}


def scoring_choices() -> list[str]:
    """Known scoring models (on disk, then marked "(will be downloaded)"), SyncNet v2 first; then files of the
    folders that are no known model (they are checked when chosen)."""
    file_names = mm.model_file_names()
    known, unknown = [], []
    for architecture in SCORING_ARCHITECTURES:
        for choice in list_choices(file_names, architecture):
            target = known if find_known_model(choice_to_request(choice)) is not None else unknown
            if choice not in target:
                target.append(choice)
    return known + unknown


SYNC_ADVICE = "Or connect Wav2Lip Sync's sync output to Lip Sync Score's sync: its boxes are used, nothing is detected."


def scoring_models_check(model: str, detects: bool) -> bool | str:
    """True when the scoring model (and S3FD, when ``detects``: neither sync nor faces is wired) can be had."""
    valid = validate_choice(model, mm.model_file_names(), mm.model_search_dirs(), SCORING_ARCHITECTURES,
                            "Lip-sync scoring model")
    if valid is not True:
        return valid
    problems = [problem for problem in (model_problem(choice_to_request(model), None),
                                        detector_problem(SCORING_DETECTION.detector, SYNC_ADVICE) if detects else None)
                if problem is not None]
    return True if not problems else "Lip Sync Score: " + " ".join(problems)


def managed_scoring_model(choice: str) -> mm.ManagedModel:
    """The chosen SyncNet v2 or lip-sync expert, fetched if it is a known model not on disk, loaded once per file."""
    request = choice_to_request(choice)
    path = resolve_checkpoint(request, search_dirs=mm.model_search_dirs(), download_dir=mm.download_dir(),
                              allow_download=True, progress=mm.byte_progress())
    architecture = verify_checkpoint(path).architecture
    if architecture not in SCORING_ARCHITECTURES:
        raise CheckpointError(f"{path}: this file is not a lip-sync scoring model; choose syncnet_v2.model (SyncNet "
                              f"v2) or lipsync_expert.pth (Wav2Lip's expert)")
    key = str(path)
    if key not in _scoring_models:
        loader = load_syncnet_v2 if architecture == SYNCNET_V2 else load_syncnet
        _scoring_models[key] = mm.ManagedModel(loader(path, device=mm.offload_device()), name=path.name)
    return _scoring_models[key]


def output_face_track(frames: Uint8Frames, faces: FaceBoxes | None, sync: SyncPlan | None) -> FaceTrack | None:
    """The face box of every lip-synced frame: from the sync plan (one per output frame), else from Detect Faces'
    boxes when output frame i is input frame i (no loop), else None (detect)."""
    if sync is not None:
        plan_size = (sync.frame_height, sync.frame_width)
        if (frames.height, frames.width) != plan_size or len(frames) != sync.num_frames:
            raise ValueError(f"the sync plan is for {sync.num_frames} frames of {sync.frame_width}x"
                             f"{sync.frame_height}, but {len(frames)} images of {frames.width}x{frames.height} came "
                             f"in; connect Paste Back's images and the sync output of the same Wav2Lip Sync node")
        return FaceTrack(sync.boxes, sync.found)
    if faces is not None:
        if (frames.height, frames.width) != (faces.frame_height, faces.frame_width):
            raise ValueError(f"the faces were found in {faces.frame_width}x{faces.frame_height} frames, but the "
                             f"images are {frames.width}x{frames.height}")
        if faces.num_frames < len(frames):
            raise ValueError(f"Detect Faces gave boxes for {faces.num_frames} frames, but there are {len(frames)} "
                             f"images: the video was looped to the length of the speech. Connect Wav2Lip Sync's "
                             f"sync output instead (it knows which frame every output frame shows).")
        return FaceTrack(faces.boxes[:len(frames)], faces.found[:len(frames)])
    return None


class LipSyncScore:
    """Measures whether the mouth is in sync with the speech, as lip-sync papers do (SyncNet's LSE-C / LSE-D)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The lip-synced frames (Paste Back's images), or any talking-face "
                                                "video."}),
                "audio": ("AUDIO", {"tooltip": "The speech the frames should match (the same audio as Audio To "
                                               "Mel's)."}),
                "fps": ("FLOAT", {"default": 25.0, "min": FRAME_RATE_RANGE[0], "max": FRAME_RATE_RANGE[1],
                                  "step": 0.001,
                                  "tooltip": "Frame rate of the images (Audio To Mel's fps output). Scores are "
                                             "measured at 25 fps; other rates use the frame nearest each 40 ms."}),
                "model": (scoring_choices(), {
                    "tooltip": "syncnet_v2.model: SyncNet v2, the network behind the LSE-C / LSE-D numbers of "
                               "lip-sync papers (recommended; about 52 MB, downloaded into models/wav2lip on first "
                               "use). lipsync_expert.pth: Wav2Lip's own expert, the judge Wav2Lip was trained "
                               "against (distance = 1 - cosine similarity, not comparable with SyncNet v2's)."}),
            },
            "optional": {
                "sync": (WAV2LIP_SYNC, {"tooltip": "Wav2Lip Sync's sync output: the face box of every output frame "
                                                   "(best). Not connected: faces, else detected with S3FD."}),
                "faces": (WAV2LIP_FACES, {"tooltip": "Detect Faces' boxes, when the images are the detected frames "
                                                     "themselves (no loop); else connect sync."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model):
        # S3FD is needed only by a queued score node with neither sync nor faces wired (unknown: not asked).
        nodes = queued_inputs("LipSyncScore", "model", model) or []
        detects = any(not is_wired(node.get("sync")) and not is_wired(node.get("faces")) for node in nodes)
        return scoring_models_check(model, detects)

    RETURN_TYPES = ("FLOAT", "FLOAT", "INT", "IMAGE", "STRING")
    RETURN_NAMES = ("confidence", "min_distance", "av_offset", "plot", "text")
    OUTPUT_TOOLTIPS = (
        "LSE-C: how much better the best offset matches than the typical one (higher = more confidently in sync).",
        "LSE-D: the mean audio-mouth distance at the best offset (lower = better).",
        "The offset with the best match, in frames of this video: positive = the mouth shows the sound late. Type "
        "it into Audio To Mel's offset_frames and run again to correct it; 0 = in sync. When the text says no "
        "reliable offset was found (best offset at the edge of the search, or confidence near 0), leave it.",
        "Distance per offset and confidence over time, as a picture: connect to Preview Image.",
        "The scores in one line.")
    FUNCTION = "score"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Scores the lip sync of a video against its speech with SyncNet (LSE-C confidence, LSE-D distance "
                   "and the audio-video offset), as lip-sync papers measure it.")

    def score(self, images: torch.Tensor, audio: dict, fps: float, model: str, sync: SyncPlan | None = None,
              faces: FaceBoxes | None = None):
        check_image(images, "images")
        fps = check_frame_rate(fps, "fps (the images' frame rate)")
        frames = Uint8Frames(images)        # converted to uint8 one frame at a time, never the whole clip
        samples, sample_rate = audio_to_numpy(audio)
        # int16 mono 16 kHz, converted by ffmpeg as the reference converts a file: the CLI's numbers on a file
        wav = waveform_reference_speech(samples, sample_rate)
        managed = managed_scoring_model(model)
        track = output_face_track(frames, faces, sync)
        if track is None:                   # raw boxes: the reference geometry does its own smoothing
            track = DetectFaces._detect(frames, SCORING_DETECTION, mm.Progress(len(frames)))
        network = managed.load(working_memory_bytes(DEFAULT_BATCH_SIZE))
        progress = mm.Progress(1)

        def on_progress(done: int, total: int) -> None:
            progress.set(done, total)
            mm.throw_if_interrupted()

        batches = HalvingBatches(DEFAULT_BATCH_SIZE, out_of_memory_types=mm.out_of_memory_types(),
                                 release=mm.free_cached_memory)
        result = score_lipsync(network, frames, wav, boxes=track, fps=float(fps), progress=on_progress,
                               batches=batches)
        offset_frames = offset_in_frames(result.av_offset, float(fps))
        plot = uint8_to_image(plot_score(result)[None], mm.intermediate_device())
        text = score_text(result, float(fps), offset_frames)
        if (fps_warning := score_fps_mismatch(float(fps), sync)) is not None:
            mm.log.warning("ComfyUI-Wav2Lip: %s", fps_warning)
            text = f"{fps_warning} {text}"
        return (float(result.confidence), float(result.min_dist), int(offset_frames), plot, text)


def score_text(result: SyncScore, fps: float, offset_frames: int) -> str:
    """The one-line summary, with the correction in this video's frames when it runs at another rate."""
    text = summary_line(result)
    doubt = result.offset_doubt()
    if doubt is not None:
        text += f"; no reliable offset was found ({doubt}): nothing to correct"
    elif result.av_offset != 0:
        text += f"; to correct: Audio To Mel offset_frames {offset_frames:+d}"
        if needs_resampling(fps):
            text += f" (frames at {fps:g} fps)"
    return text

