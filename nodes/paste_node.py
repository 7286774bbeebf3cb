"""PasteBack: original frames + generated faces + the sync plan -> lip-synced frames (IMAGE) and a MASK."""
from __future__ import annotations

import torch

from wav2lip_core.compositing.blend import BLEND_MODES, changed_region_mask, check_blend_mode, paste_face
from wav2lip_core.models.wav2lip import FACE_SIZE

from . import model_management as mm
from .fps_check import warn_about_video_fps
from .paste_device import paste_on_device
from .tensors import check_image, image_to_uint8, image_to_unit_float, uint8_to_image
from .types import CATEGORY, WAV2LIP_SYNC, SyncPlan

PASTE_BATCH = 16   # output frames per step (between interruption checks and progress updates)
MASK_MODES = ("off", "changed region")
MASK_OFF_MESSAGE = ("Paste Back's mask output is off (it would hold a full-size float frame per output frame). "
                    "Set Paste Back's 'mask' to 'changed region' to use it.")


def check_generated_faces(generated_faces: torch.Tensor, sync: SyncPlan) -> None:
    """Square faces of at least 96 px with finite values, one per output frame of the sync plan; else say what to
    connect (the frames holding NaN or infinite values are named)."""
    count, height, width = (int(v) for v in generated_faces.shape[:3])
    if count != sync.num_frames:
        raise ValueError(f"{count} generated faces for a sync plan of {sync.num_frames} output frames: connect "
                         f"generated_faces and sync from the same Wav2Lip Sync node (a node in between must keep "
                         f"one face per frame, in order)")
    if height != width:
        raise ValueError(f"the generated faces are {width}x{height}, not square: a node between Wav2Lip Sync and "
                         f"Paste Back must keep them square (scale both sides alike, e.g. Upscale Image to "
                         f"512x512)")
    if height < FACE_SIZE:
        raise ValueError(f"the generated faces are {width}x{height}, smaller than Wav2Lip's {FACE_SIZE}x{FACE_SIZE}: "
                         f"connect Wav2Lip Sync's generated_faces, directly or through an upscaler")
    # Both paste paths would turn NaN into black pixels (numpy's cast, the GPU's clamp): refuse them here, once.
    # A sum per face holds a NaN or inf of any of its values (faces are 0..1, so no sum overflows float32).
    sums = generated_faces[..., :3].sum(dim=(1, 2, 3), dtype=torch.float32)
    bad = torch.nonzero(~torch.isfinite(sums)).flatten().tolist()
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise ValueError(f"generated_faces: {len(bad)} of {count} faces hold NaN or infinite values (frame(s) "
                         f"{shown}, counting from 0); the node that made them produced invalid pixels (an upscaler "
                         f"or face restorer in half precision, say). Fix or bypass that node: pasted, these would be "
                         f"black patches")


class PasteBack:
    """Puts every generated face back into its frame; one output frame per audio frame."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE", {"tooltip": "The original frames: the same images that went into Detect Faces."}),
            "generated_faces": ("IMAGE", {"tooltip": "The generated faces from Wav2Lip Sync: directly (96x96), or "
                                                     "through an upscaler or face restorer (Upscale Image (using "
                                                     "Model)): any square size from 96 up, one face per frame."}),
            "sync": (WAV2LIP_SYNC, {"tooltip": "From Wav2Lip Sync: which frame and box each output frame uses "
                                               "(it carries the loop mode)."}),
            "blend": (list(BLEND_MODES), {
                "default": "feather",
                "tooltip": "feather: blends the new mouth and chin in with soft edges, keeping the original eyes "
                           "and no visible box seam (recommended). original: the original Wav2Lip's hard paste of "
                           "the whole box (for comparisons). mouth: only the mouth and jaw, feathered; the nose, "
                           "cheeks and collar stay the original's (best with an upscaled or restored face)."}),
            "mask": (list(MASK_MODES), {
                "default": "off",
                "tooltip": "changed region: the mask output shows where each frame was changed (1 = generated "
                           "face), e.g. for a face restorer that should only touch the mouth; it costs as much "
                           "memory as a third of the output images (8 MB per 1080p frame). off: no mask (saves "
                           "that memory); a node connected to the mask then stops with a message saying so."}),
            "color_match": ("BOOLEAN", {
                "default": False,
                "tooltip": "Match the generated face's colours (brightness, contrast, tint) to the frame's along the "
                           "blend's edge before blending. Turn it on after a face restorer or upscaler, which "
                           "often shift colours."}),
        }, "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("images", "mask")
    OUTPUT_TOOLTIPS = ("The lip-synced frames, one per audio frame; connect to Create Video with the speech, and "
                       "Audio To Mel's fps to Create Video's fps.",
                       "Where each frame was changed (1 = generated face, 0 = original), e.g. for a face "
                       "restorer that should only touch the mouth.")
    FUNCTION = "paste"
    CATEGORY = CATEGORY
    DESCRIPTION = "Pastes the generated mouths back into the full frames."

    def paste(self, images: torch.Tensor, generated_faces: torch.Tensor, sync: SyncPlan, blend: str = "feather",
              mask: str = "off", color_match: bool = False, prompt: dict | None = None, unique_id: str | None = None):
        """Output IMAGE (M, H, W, 3) float32 RGB 0..1 and MASK (M, H, W) float32 0..1 (or a disabled output)."""
        check_image(images, "images")
        check_image(generated_faces, "generated_faces")
        check_blend_mode(blend)
        if mask not in MASK_MODES:
            raise ValueError(f"mask must be one of {MASK_MODES}, not {mask!r}")
        height, width = int(images.shape[1]), int(images.shape[2])
        if (height, width) != (sync.frame_height, sync.frame_width):
            raise ValueError(f"images are {width}x{height} but the faces were found in {sync.frame_width}x"
                             f"{sync.frame_height} frames; connect the images that went into Detect Faces")
        if images.shape[0] < sync.num_input_frames:
            raise ValueError(f"{images.shape[0]} images, but the faces were found in {sync.num_input_frames} frames; "
                             f"connect the images that went into Detect Faces")
        check_generated_faces(generated_faces, sync)

        device = mm.intermediate_device()
        output = torch.empty((sync.num_frames, height, width, 3), dtype=torch.float32, device=device)
        changed = (torch.zeros((sync.num_frames, height, width), dtype=torch.float32, device=device)
                   if mask == "changed region" else None)
        progress = mm.Progress(sync.num_frames)
        tensor_device = mm.tensor_path_device()
        if tensor_device is not None:
            paste_on_device(images, generated_faces, sync, blend, color_match, output, changed, tensor_device,
                            progress)
        else:
            paste_on_cpu(images, generated_faces, sync, blend, color_match, output, changed, progress)
        warn_about_video_fps(prompt, unique_id, sync)
        return (output, changed if changed is not None else mm.disabled_output(MASK_OFF_MESSAGE))


def paste_on_cpu(images: torch.Tensor, generated_faces: torch.Tensor, sync: SyncPlan, blend: str, color_match: bool,
                 output: torch.Tensor, changed: torch.Tensor | None, progress: mm.Progress) -> None:
    """Paste Back frame by frame with the engine's numpy paste (blend.paste_face), exact to the original."""
    device = output.device
    for start in range(0, sync.num_frames, PASTE_BATCH):
        mm.throw_if_interrupted()
        stop = min(start + PASTE_BATCH, sync.num_frames)
        faces = image_to_unit_float(generated_faces[start:stop])
        pasted = sync.pasted[start:stop]
        for index in range(start, stop):
            # The frame as it came in (no rounding outside the face box), then only the box is redone in
            # the engine's uint8 RGB: the same pixels as the engine's lipsync(), without full-frame copies.
            output[index].copy_(images[int(sync.source_frames[index]), :, :, :3])
            if not pasted[index - start]:          # no face, or a pause kept as it is
                continue
            weight = float(sync.paste_weights[index])
            y1, y2, x1, x2 = (int(v) for v in sync.boxes[index])
            box = (0, y2 - y1, 0, x2 - x1)
            region = image_to_uint8(output[index:index + 1, y1:y2, x1:x2])[0]
            paste_face(region, faces[index - start], box, blend, color_match=color_match, strength=weight)
            output[index, y1:y2, x1:x2] = uint8_to_image(region[None], device)[0]
            if changed is not None:
                box_mask = changed_region_mask(y2 - y1, x2 - x1, box, blend, strength=weight)
                changed[index, y1:y2, x1:x2] = torch.from_numpy(box_mask).to(device)
        progress.advance(stop - start)
