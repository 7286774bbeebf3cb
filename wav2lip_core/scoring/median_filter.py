"""The running median of the reference implementation (``scipy.signal.medfilt`` on 1-D data), in numpy.

``medfilt`` pads both ends with zeros, so values within ``kernel // 2`` of either end are medians that count
those zeros; the reference relies on exactly that (its framewise confidence and its crop smoothing), so it is
reproduced, not fixed. Done here with numpy because importing ``scipy.signal`` costs about two seconds.
"""
from __future__ import annotations

import numpy as np


def zero_padded_median_filter(values: np.ndarray, kernel_size: int) -> np.ndarray:
    """1-D running median over an odd ``kernel_size`` with zero padding; same dtype and length as ``values``,
    equal to ``scipy.signal.medfilt(values, kernel_size)`` (each output is one of the window's values)."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {values.shape}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    half = kernel_size // 2
    padded = np.concatenate([np.zeros(half, values.dtype), values, np.zeros(half, values.dtype)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel_size)
    # The middle element of each sorted window: for an odd count that is the median, and it is one of the
    # window's own values (no averaging, so no rounding).
    return np.partition(windows, half, axis=1)[:, half].copy()
