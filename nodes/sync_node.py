"""Wav2LipSync: generator + face crops/boxes + mel chunks -> the generated 96x96 faces, one per output frame.

The loop mode and what pauses in the speech do are chosen here, once: the WAV2LIP_SYNC output tells PasteBack
which input frame and box every output frame uses and how much of the generated mouth goes into it.
"""
from __future__ import annotations

import numpy as np
import torch

from wav2lip_core.compositing.faces_torch import generate_faces
from wav2lip_core.compositing.tensor_resize import to_uint8_values
from wav2lip_core.models.wav2lip import FACE_SIZE, working_memory_bytes
from wav2lip_core.pipeline import generator_batches
from wav2lip_core.runtime.devices import host_to_device
from wav2lip_core.schedule import LOOP_MODES, source_frame_indices
from wav2lip_core.silence import DEFAULT_SILENCE_DB, SILENCE_DB_RANGE, SILENCE_MODES, SilencePlan, plan_silence

from . import model_management as mm
from .tensors import check_image
from .types import CATEGORY, WAV2LIP_FACES, WAV2LIP_MEL, WAV2LIP_MODEL, WAV2LIP_SYNC, FaceBoxes, MelChunks, \
    SyncPlan, Wav2LipModel


def make_sync_plan(faces: FaceBoxes, num_output_frames: int, loop: str,
                   paste_weights: np.ndarray | None = None, fps: float | None = None) -> SyncPlan:
    """Which input frame, box and found flag every output frame uses (engine schedule, nothing else), the
    paste weights of the silence plan and the frame rate of the speech."""
    sources = source_frame_indices(faces.num_frames, num_output_frames, loop=loop)
    return SyncPlan(source_frames=sources, boxes=faces.boxes[sources], found=faces.found[sources],
                    frame_height=faces.frame_height, frame_width=faces.frame_width,
                    num_input_frames=faces.num_frames, loop=loop, paste_weights=paste_weights, fps=fps)


def silence_plan_for(mel: MelChunks, silence: str, silence_db: float) -> SilencePlan:
    """The engine's SilencePlan for these mel chunks (their loudness comes from Audio To Mel)."""
    loudness = mel.loudness_dbfs
    if loudness is None:
        if silence != "generate":
            raise ValueError(f"silence '{silence}' needs the loudness of the speech, which this mel does not carry; "
                             f"connect Wav2Lip Sync's mel to an Audio To Mel node")
        loudness = np.zeros(mel.num_frames)
    return plan_silence(loudness, mel.fps, silence, float(silence_db))


class Wav2LipSync:
    """Runs the Wav2Lip generator: a new lower face for every audio frame, batched on the GPU."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "wav2lip_model": (WAV2LIP_MODEL, {"tooltip": "From Load Wav2Lip Model."}),
            "faces": (WAV2LIP_FACES, {"tooltip": "The face boxes from Detect Faces."}),
            "face_crops": ("IMAGE", {"tooltip": "The 96x96 face crops from Detect Faces (one per frame)."}),
            "mel": (WAV2LIP_MEL, {"tooltip": "The speech, from Audio To Mel."}),
            "loop_mode": (list(LOOP_MODES), {
                "default": "loop",
                "tooltip": "When the speech is longer than the video: loop restarts the video (the original), "
                           "pingpong plays it forwards and backwards with no jump. A longer video is cut to the "
                           "speech. Paste Back follows this choice."}),
            "batch_size": ("INT", {"default": 128, "min": 1, "max": 1024,
                                   "tooltip": "Faces generated at once on the GPU. Halves by itself when the GPU runs "
                                              "out of memory; lower it to leave room for other models."}),
            "silence": (list(SILENCE_MODES), {
                "default": "generate",
                "tooltip": "Frames whose speech is a pause (quieter than silence_db for at least 0.2 s). generate: "
                           "the mouth follows whatever it hears, as the original. keep: those frames stay the input "
                           "frames, unchanged, with a short cross-fade at each pause (Paste Back follows). closed: "
                           "they are generated from true silence, so the mouth closes instead of mumbling through "
                           "breath or noise."}),
            "silence_db": ("FLOAT", {
                "default": DEFAULT_SILENCE_DB, "min": SILENCE_DB_RANGE[0], "max": SILENCE_DB_RANGE[1], "step": 1.0,
                "tooltip": "Loudness (dBFS, RMS of the audio each frame's mouth is made from) below which a frame "
                           "counts as silent. -45 sits between quiet speech (about -40 and up) and a room's noise "
                           "(about -50 and down); raise it for noisy recordings."}),
        }}

    RETURN_TYPES = ("IMAGE", WAV2LIP_SYNC)
    RETURN_NAMES = ("generated_faces", "sync")
    OUTPUT_TOOLTIPS = ("The generated 96x96 faces, one per output frame (the unchanged crop where there is no face or "
                       "a kept pause). An image-to-image node (Upscale Image (using Model)) may sit between here and "
                       "Paste Back.",
                       "Which frame and box every output frame uses; connect to Paste Back.")
    FUNCTION = "sync"
    CATEGORY = CATEGORY
    DESCRIPTION = "Generates a lip-synced mouth for every frame of the speech (Wav2Lip)."

    def sync(self, wav2lip_model: Wav2LipModel, faces: FaceBoxes, face_crops: torch.Tensor, mel: MelChunks,
             loop_mode: str = "loop", batch_size: int = 128, silence: str = "generate",
             silence_db: float = DEFAULT_SILENCE_DB):
        check_image(face_crops, "face_crops")
        if face_crops.shape[1:3] != (FACE_SIZE, FACE_SIZE):
            raise ValueError(f"face_crops must be {FACE_SIZE}x{FACE_SIZE} (from Detect Faces), got "
                             f"{face_crops.shape[2]}x{face_crops.shape[1]}")
        if face_crops.shape[0] != faces.num_frames:
            raise ValueError(f"{face_crops.shape[0]} face crops for {faces.num_frames} face boxes; connect both "
                             f"outputs of the same Detect Faces node")
        pauses = silence_plan_for(mel, silence, silence_db)
        plan = make_sync_plan(faces, mel.num_frames, loop_mode, pauses.paste_weights, mel.fps)
        chunks = pauses.generator_chunks(mel.chunks)
        generated = self._generate(wav2lip_model, face_crops, chunks, plan, max(1, int(batch_size)))
        return (generated, plan)

    @staticmethod
    def _generate(model: Wav2LipModel, face_crops: torch.Tensor, chunks: np.ndarray, plan: SyncPlan,
                  batch_size: int) -> torch.Tensor:
        """Fill one (M, 96, 96, 3) output batch by batch: generator faces where there is a face and the plan pastes
        one, the crop elsewhere (no face, or a pause kept as it is)."""
        num_outputs = plan.num_frames
        output = torch.empty((num_outputs, FACE_SIZE, FACE_SIZE, 3), dtype=torch.float32,
                             device=mm.intermediate_device())
        network = model.managed.load(working_memory_bytes(min(batch_size, max(1, num_outputs)), model.dtype))
        batches = generator_batches(batch_size, next(network.parameters()).device, mm.out_of_memory_types(),
                                    mm.free_cached_memory)
        progress = mm.Progress(num_outputs)

        # The crops are rounded to bytes and the network's input is built where the frames are worked on: the GPU
        # on the tensor path, else the CPU (the generator's input and output move to and from its own device).
        crops_device = mm.tensor_path_device() or torch.device("cpu")

        def process(start: int, stop: int) -> None:
            mm.throw_if_interrupted()
            sources = torch.tensor(plan.source_frames[start:stop], dtype=torch.long)
            crops = to_uint8_values(face_crops[sources][..., :3].to(crops_device), torch.uint8)
            batch = crops.to(torch.float32) / 255.0                          # no face: the crop, unchanged
            with_face = np.flatnonzero(plan.pasted[start:stop])
            if with_face.size:
                picked = host_to_device(with_face, crops_device)
                batch[picked] = generate_faces(network, crops[picked], chunks[start:stop][with_face]).to(crops_device)
            output[start:stop] = batch.to(output.device)
            progress.advance(stop - start)

        batches.run(num_outputs, process)
        return output
