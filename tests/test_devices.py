"""Where the work runs: host tables reaching a device."""
from __future__ import annotations

import numpy as np
import torch

from wav2lip_core.runtime.devices import host_to_device


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
