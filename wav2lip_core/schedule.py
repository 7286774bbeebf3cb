"""Which input frame each output frame uses (the output length always follows the audio)."""
from __future__ import annotations

import numpy as np

LOOP_MODES = ("loop", "pingpong")


def source_frame_indices(num_input_frames: int, num_output_frames: int, loop: str = "loop",
                         static: bool = False) -> np.ndarray:
    """Index of the input frame for every output frame, (num_output_frames,) int64.

    static: every output frame uses input frame 0 (a still image).
    loop="loop": the original's wrap-around, i % num_input_frames (a video longer than the audio is cut).
    loop="pingpong": 0, 1, ..., n-1, n-2, ..., 1, 0, 1, ... so a short clip plays back and forth with no jump.
    """
    if num_input_frames < 1:
        raise ValueError("there are no input frames to lip-sync")
    if loop not in LOOP_MODES:
        raise ValueError(f"loop must be one of {LOOP_MODES}, not {loop!r}")
    outputs = np.arange(num_output_frames, dtype=np.int64)
    if static or num_input_frames == 1:
        return np.zeros_like(outputs)
    if loop == "loop":
        return outputs % num_input_frames
    period = 2 * num_input_frames - 2
    phase = outputs % period
    return np.where(phase < num_input_frames, phase, period - phase)
