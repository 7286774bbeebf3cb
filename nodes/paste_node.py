"""PasteBack: original frames + generated faces + the sync plan -> lip-synced frames (IMAGE) and a MASK."""
from __future__ import annotations

import numpy as np
import torch

from wav2lip_core.blend import BLEND_MODES, changed_region_mask, paste_face
from wav2lip_core.models.wav2lip import FACE_SIZE

from . import model_management as mm
from .tensors import check_image, image_to_uint8, image_to_unit_float, uint8_to_image
from .types import CATEGORY, WAV2LIP_SYNC, SyncPlan

PASTE_BATCH = 16   # output frames converted and written at a time (bounds the temporary uint8 copies)


class PasteBack:
    """Puts every generated face back into its frame; one output frame per audio frame."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE", {"tooltip": "The original frames: the same images that went into Detect Faces."}),
            "generated_faces": ("IMAGE", {"tooltip": "The generated faces from Wav2Lip Sync."}),
            "sync": (WAV2LIP_SYNC, {"tooltip": "From Wav2Lip Sync: which frame and box each output frame uses "
                                               "(it carries the loop mode)."}),
            "blend": (list(BLEND_MODES), {
                "default": "feather",
                "tooltip": "feather: blends the new mouth and chin in with soft edges, keeping the original eyes "
                           "and no visible box seam (recommended). original: the original Wav2Lip's hard paste of "
                           "the whole box (for comparisons)."}),
        }}

    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("images", "mask")
    OUTPUT_TOOLTIPS = ("The lip-synced frames, one per audio frame; connect to Create Video with the speech.",
                       "Where each frame was changed (1 = generated face, 0 = original), e.g. for a face "
                       "restorer that should only touch the mouth.")
    FUNCTION = "paste"
    CATEGORY = CATEGORY
    DESCRIPTION = "Pastes the generated mouths back into the full frames."

    def paste(self, images: torch.Tensor, generated_faces: torch.Tensor, sync: SyncPlan, blend: str = "feather"):
        check_image(images, "images")
        check_image(generated_faces, "generated_faces")
        if blend not in BLEND_MODES:
            raise ValueError(f"blend must be one of {BLEND_MODES}, not {blend!r}")
        height, width = int(images.shape[1]), int(images.shape[2])
        if (height, width) != (sync.frame_height, sync.frame_width):
            raise ValueError(f"images are {width}x{height} but the faces were found in {sync.frame_width}x"
                             f"{sync.frame_height} frames; connect the images that went into Detect Faces")
        if images.shape[0] < sync.num_input_frames:
            raise ValueError(f"{images.shape[0]} images, but the faces were found in {sync.num_input_frames} frames; "
                             f"connect the images that went into Detect Faces")
        if generated_faces.shape[0] != sync.num_frames or generated_faces.shape[1:3] != (FACE_SIZE, FACE_SIZE):
            raise ValueError(f"expected {sync.num_frames} generated {FACE_SIZE}x{FACE_SIZE} faces from the Wav2Lip "
                             f"Sync node that made this sync plan, got {tuple(generated_faces.shape[:3])}")

        device = mm.intermediate_device()
        output = torch.empty((sync.num_frames, height, width, 3), dtype=torch.float32, device=device)
        mask = torch.zeros((sync.num_frames, height, width), dtype=torch.float32, device=device)
        progress = mm.Progress(sync.num_frames)
        for start in range(0, sync.num_frames, PASTE_BATCH):
            mm.throw_if_interrupted()
            stop = min(start + PASTE_BATCH, sync.num_frames)
            frames = image_to_uint8(images[torch.tensor(sync.source_frames[start:stop], dtype=torch.long)])   # new copies
            faces = image_to_unit_float(generated_faces[start:stop])
            for offset in np.flatnonzero(sync.found[start:stop]):
                box = tuple(int(v) for v in sync.boxes[start + offset])
                paste_face(frames[offset], faces[offset], box, blend)
                mask[start + offset] = torch.from_numpy(changed_region_mask(height, width, box, blend))
            output[start:stop] = uint8_to_image(frames, device)
            progress.advance(stop - start)
        return (output, mask)
