"""Where the work runs: host tables reaching a device, and cuDNN's algorithm timing around our own calls."""
from __future__ import annotations

import numpy as np
import torch

from wav2lip_core import faces
from wav2lip_core.detection import s3fd
from wav2lip_core.devices import host_to_device, tuned_convolutions


def test_host_tables_reach_the_cpu_as_the_same_memory_and_read_only_ones_as_a_copy():
    """The small index and weight tables of the tensor path; on CUDA they go up through pinned memory."""
    table = np.arange(6, dtype=np.int64).reshape(2, 3)
    tensor = host_to_device(table, "cpu")
    assert tensor.dtype == torch.int64 and tuple(tensor.shape) == (2, 3)
    assert tensor.data_ptr() == table.ctypes.data                     # no copy
    constant = np.linspace(0, 1, 4, dtype=np.float32)
    constant.flags.writeable = False
    copied = host_to_device(constant, "cpu")
    assert copied.data_ptr() != constant.ctypes.data and np.array_equal(copied.numpy(), constant)
    copied[0] = 5.0                                                   # writing to it leaves the table alone
    assert constant[0] == 0.0


def test_cudnn_times_its_algorithms_around_our_calls_on_cuda_only_and_the_flag_is_restored():
    before = torch.backends.cudnn.benchmark
    with tuned_convolutions("cuda"):
        assert torch.backends.cudnn.benchmark is True
    with tuned_convolutions("cuda", tune=False):          # a short batch: heuristics, no timing of a new shape
        assert torch.backends.cudnn.benchmark is False
    with tuned_convolutions("cpu"):
        assert torch.backends.cudnn.benchmark == before
    assert torch.backends.cudnn.benchmark == before


class FaceEcho(torch.nn.Module):
    """Stands in for the generator: gives back the reference half of its face input."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, mel, face):
        return face[:, 3:]


def test_the_generator_is_not_tuned_for_a_batch_shorter_than_the_callers_full_one(record_tuning):
    seen = record_tuning(faces)
    face_input, chunks = torch.zeros(3, 6, 96, 96), np.zeros((3, 80, 16), np.float32)
    for full_batch in (8, 3, None):
        faces.run_generator(FaceEcho(), face_input, chunks, full_batch)
    assert seen == [False, True, True]


def test_s3fd_is_not_tuned_for_its_last_short_batch(record_tuning, random_s3fd_folder):
    seen = record_tuning(s3fd)
    detector = s3fd.S3FDDetector.from_weights(random_s3fd_folder / "s3fd.pth", batch_size=4)
    detector.cpu_batch_limit = None
    detector.detect(np.zeros((6, 64, 64, 3), np.uint8))
    assert seen == [True, False]                          # 4 frames, then the last 2
