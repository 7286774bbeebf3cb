"""IMAGE batches between the intermediate device (normally the CPU) and the GPU for the nodes' tensor paths.

Where the bytes go, for Paste Back at 1080p: an IMAGE frame is 24.9 MB of float32, the output IMAGE must be
written whole on the CPU (ComfyUI keeps node outputs on the intermediate device), and only the face box
changes. So the frames themselves are copied CPU to CPU (``copy_frames``: one multi-threaded copy per batch,
the one full pass over the output that cannot be avoided), and only the batch's face region (the union of
its boxes, typically 1-2 MB a frame) goes to the GPU and back: about 15 times fewer bytes over PCIe than
uploading and downloading whole frames, and no second full-frame pass on the CPU out of a staging buffer.
Detect Faces' crops likewise read only the box region. S3FD alone needs whole frames on the device
(``DeviceUint8Frames``): they go up once as floats, are rounded to bytes there, and come back as bytes.

Host buffers are ``Staging`` slots: pinned memory for a CUDA device (copies that do not wait), reused batch
after batch and grown only to the largest batch, so memory stays flat in the clip's length. Two slots let
the CPU fill one batch while the GPU works on the other.

IMAGE: float (B, H, W, 3|4) RGB 0..1; frames for the tracker: numpy uint8 (H, W, 3) RGB 0..255.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from wav2lip_core.compositing.tensor_resize import to_uint8_values
from wav2lip_core.runtime.devices import host_to_device

from .tensors import Uint8Frames

# Host bytes one staging slot may hold: a batch of face regions with a larger union is split, and full frames
# for S3FD go in fewer at a time.
MAX_REGION_BYTES = 256 * 2**20
# Full frames DeviceUint8Frames converts at once.
DETECT_CONVERT_BATCH = 16


class Staging:
    """Reusable host buffers by (name, slot), pinned for CUDA, each slot guarded by the event of the last copies
    that used it. ``buffer`` waits for that event before handing the slot's memory out again."""

    def __init__(self, device: torch.device, slots: int = 2):
        self.device = torch.device(device)
        self.pinned = self.device.type == "cuda"
        self.slots = slots
        self._buffers: dict[tuple[str, int], torch.Tensor] = {}
        self._events: dict[int, object] = {}

    def buffer(self, name: str, slot: int, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        """A host tensor of ``shape`` and ``dtype`` in slot ``slot`` (its old contents are not kept)."""
        self.wait(slot)
        count = int(np.prod(shape)) * torch.empty((), dtype=dtype).element_size()
        held = self._buffers.get((name, slot))
        if held is None or held.numel() < count:
            held = torch.empty(max(count, 1), dtype=torch.uint8, pin_memory=self.pinned)
            self._buffers[(name, slot)] = held
        return held[:count].view(dtype).view(tuple(shape))

    def mark(self, slot: int) -> None:
        """Record that copies queued so far on the device's stream use slot ``slot``."""
        if self.pinned:
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(self.device))
            self._events[slot] = event

    def wait(self, slot: int) -> None:
        """Block until the copies marked on slot ``slot`` are done."""
        event = self._events.pop(slot, None)
        if event is not None:
            event.synchronize()

    @property
    def nbytes(self) -> int:
        """Host bytes held by all buffers (bounded by the largest batch, whatever the clip's length)."""
        return sum(int(buffer.numel()) for buffer in self._buffers.values())


def to_device(host: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A staged host tensor on ``device`` (non-blocking from pinned memory; the tensor itself on its own device)."""
    return host.to(device, non_blocking=True)


def copy_frames(destination: torch.Tensor, images: torch.Tensor, sources: np.ndarray) -> None:
    """destination[i] = images[sources[i], :, :, :3] for every i: one multi-threaded copy for the batch (an IMAGE
    of another dtype or on another device than ``destination`` is gathered there, then converted)."""
    index = host_to_device(np.asarray(sources, np.int64), images.device)
    if images.dtype == destination.dtype and images.device == destination.device:
        torch.index_select(images[..., :3], 0, index, out=destination)
    else:
        destination.copy_(torch.index_select(images[..., :3], 0, index))


def union_box(boxes: np.ndarray) -> tuple[int, int, int, int]:
    """(y1, y2, x1, x2) of the smallest box holding every (y1, y2, x1, x2) row of ``boxes``."""
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    return int(boxes[:, 0].min()), int(boxes[:, 1].max()), int(boxes[:, 2].min()), int(boxes[:, 3].max())


def relative_boxes(boxes: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """(y1, y2, x1, x2) rows of ``boxes`` in the coordinates of ``region`` (a union_box cut out of the frame)."""
    return np.asarray(boxes) - np.array([region[0], region[0], region[2], region[2]])


def region_batches(boxes: np.ndarray, bytes_per_pixel: int, limit: int = MAX_REGION_BYTES) -> list[np.ndarray]:
    """Split row indices of ``boxes`` into consecutive runs whose union region (count x union area x
    ``bytes_per_pixel``) fits in ``limit`` bytes (one row at least)."""
    runs, start, count = [], 0, len(boxes)
    while start < count:
        stop = count
        while stop - start > 1:
            y1, y2, x1, x2 = union_box(boxes[start:stop])
            if (stop - start) * (y2 - y1) * (x2 - x1) * bytes_per_pixel <= limit:
                break
            stop = start + (stop - start) // 2
        runs.append(np.arange(start, stop))
        start = stop
    return runs


def gather_rgb(source: torch.Tensor, indices: np.ndarray, box: tuple[int, int, int, int] | None,
            staging: Staging, name: str, slot: int) -> torch.Tensor:
    """source[indices] (only ``box``'s region of it, when given), RGB: staged in host memory when ``source`` is
    on the CPU (one copy, ready to travel), else gathered where it lies."""
    view = source[..., :3] if box is None else source[:, box[0]:box[1], box[2]:box[3], :3]
    index = host_to_device(np.asarray(indices, np.int64), source.device)
    if source.device.type != "cpu":
        return torch.index_select(view, 0, index)
    host = staging.buffer(name, slot, (len(indices),) + tuple(view.shape[1:]), source.dtype)
    return torch.index_select(view, 0, index, out=host)


class DeviceUint8Frames(Uint8Frames):
    """Uint8Frames (the same bytes) converted DETECT_CONVERT_BATCH frames at a time on ``device`` (fewer where their
    floats would pass MAX_REGION_BYTES of pinned memory): each batch goes up once as floats, is rounded there, and
    comes back as bytes into pinned memory. The last two batches stay at hand (the tracker steps back a frame to
    follow a face); older ones are converted again."""

    def __init__(self, image: torch.Tensor, count: int, device: torch.device, batch: int = DETECT_CONVERT_BATCH):
        super().__init__(image, count)
        frame_bytes = self.height * self.width * 3 * image.element_size()
        self._device = torch.device(device)
        self._batch = max(1, min(int(batch), MAX_REGION_BYTES // frame_bytes))
        self._staging = Staging(self._device)
        self._held: dict[int, tuple[int, np.ndarray]] = {}         # batch number -> (slot, frames)
        # Frames at hand behind the newest one read, as a lazily decoded clip's ``window``: any run of this many
        # spans at most two batches, and both are held. The tracker detects key frames at most this far ahead
        # of its walk (detection.keyframes), so it does not convert a batch twice.
        self.window = self._batch

    def _frames_of_batch(self, number: int) -> np.ndarray:
        if number not in self._held:
            slot = number % 2
            self._held = {key: value for key, value in self._held.items() if value[0] != slot}
            start, stop = number * self._batch, min((number + 1) * self._batch, len(self))
            frames = self.image[start:stop, :, :, :3]
            if frames.device.type == "cpu":
                # One float buffer does: the bytes come back below with a blocking copy, so its upload is done.
                floats = self._staging.buffer("floats", 0, tuple(frames.shape), frames.dtype)
                frames = to_device(floats.copy_(frames), self._device)
            values = to_uint8_values(frames.to(self._device), torch.uint8)
            # A new host tensor per batch (PyTorch caches pinned blocks): frames handed out stay valid for as
            # long as a caller holds them, and are freed with the last reference.
            host = torch.empty(tuple(values.shape), dtype=torch.uint8, pin_memory=self._staging.pinned)
            host.copy_(values)
            self._held[number] = (slot, host.numpy())
        return self._held[number][1]

    def _frames(self, index: slice) -> np.ndarray:
        return np.stack([self._frame(i) for i in range(*index.indices(len(self)))])

    def _frame(self, index: int) -> np.ndarray:
        return self._frames_of_batch(index // self._batch)[index % self._batch]
