"""Paste Back's tensor path: the batched paste (wav2lip_core.compositing.paste_torch) on the compute device (a GPU).

Per step of PASTE_DEVICE_BATCH output frames: the source frames are copied into the output IMAGE on the
intermediate device (one batched copy); the union of the step's face boxes is gathered from the input frames into
a staging slot and sent to the device with the step's faces; the device pastes every face at once and the region
comes back into the staging slot it went up from, to be written over the output while the device already works on
the next step in the other slot (device_frames.py says why only the region travels). Pixels outside each frame's
own box keep their exact float values; inside, the CPU path's bytes to within 2/255 (mostly exact).

IMAGE: float (B, H, W, 3|4) RGB 0..1; MASK: float (B, H, W) 0..1.
"""
from __future__ import annotations

import numpy as np
import torch

from wav2lip_core.compositing.paste_torch import paste_faces

from . import model_management as mm
from .device_frames import Staging, copy_frames, gather_rgb, region_batches, relative_boxes, to_device, union_box
from .types import SyncPlan

PASTE_DEVICE_BATCH = 32   # output frames per step (between interruption checks and progress updates)


def _bring_back(values: torch.Tensor, target: torch.Tensor, staging: Staging, name: str, slot: int) -> torch.Tensor:
    """``values`` (on the compute device) headed for ``target``'s device: a non-blocking copy into a staging slot
    when that is the CPU, else the values moved there."""
    if target.device.type == "cpu" and values.device.type != "cpu":
        host = staging.buffer(name, slot, tuple(values.shape), values.dtype)
        return host.copy_(values, non_blocking=True)
    return values.to(target.device)


def paste_on_device(images: torch.Tensor, generated_faces: torch.Tensor, sync: SyncPlan, blend: str,
                    color_match: bool, output: torch.Tensor, changed: torch.Tensor | None, device: torch.device,
                    progress: mm.Progress) -> None:
    """Fill ``output`` (M, H, W, 3) (and ``changed`` (M, H, W), zeros, when given) as PasteBack's CPU path does."""
    staging = Staging(device)
    pasted = sync.pasted
    bytes_per_pixel = 3 * images.element_size() + (4 if changed is not None else 0)
    pending: list[tuple] = []
    steps = 0

    def finish() -> None:
        """Write the oldest step's regions (and masks) over the output once its copies have arrived."""
        slot, indices, (y1, y2, x1, x2), regions, masks = pending.pop(0)
        staging.wait(slot)
        # Runs of consecutive frames (usually the whole step) as plain slice copies, faster than an indexed copy.
        breaks = np.flatnonzero(np.diff(indices) != 1) + 1
        for first, stop in zip(np.r_[0, breaks], np.r_[breaks, len(indices)]):
            frames = slice(int(indices[first]), int(indices[stop - 1]) + 1)
            output[frames, y1:y2, x1:x2] = regions[first:stop]
            if masks is not None:
                changed[frames, y1:y2, x1:x2] = masks[first:stop]

    for start in range(0, sync.num_frames, PASTE_DEVICE_BATCH):
        mm.throw_if_interrupted()
        stop = min(start + PASTE_DEVICE_BATCH, sync.num_frames)
        copy_frames(output[start:stop], images, sync.source_frames[start:stop])
        active = start + np.flatnonzero(pasted[start:stop])
        for run in region_batches(sync.boxes[active], bytes_per_pixel):
            indices, slot = active[run], steps % staging.slots
            steps += 1
            box = union_box(sync.boxes[indices])
            regions = to_device(gather_rgb(images, sync.source_frames[indices], box, staging, "regions", slot), device)
            faces = to_device(gather_rgb(generated_faces, indices, None, staging, "faces", slot), device)
            masks = None if changed is None else \
                torch.zeros(regions.shape[:3], dtype=torch.float32, device=device)
            paste_faces(regions, faces, relative_boxes(sync.boxes[indices], box), sync.paste_weights[indices],
                        blend, color_match=color_match, changed=masks)
            # Back into the buffer they went up from: the stream uploads, pastes and downloads in order.
            regions = _bring_back(regions, output, staging, "regions", slot)
            masks = None if masks is None else _bring_back(masks, changed, staging, "masks", slot)
            staging.mark(slot)
            pending.append((slot, indices, box, regions, masks))
            if len(pending) > 1:
                finish()
        progress.advance(stop - start)
    while pending:
        finish()
