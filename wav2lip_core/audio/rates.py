"""Sample rates and frame rates: the engine's audio rate and the sane ranges every input is checked against."""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000   # Hz: every waveform inside the engine

# Sane ranges, checked before any work. Sample rates: telephone speech (8 kHz) down to half of it, up to the
# highest rate audio interfaces record (768 kHz); a header outside that is broken, and resampling from it
# would take hours (1 Hz -> 16 kHz multiplies the samples by 16000). Frame rates: 1 to 240 fps (the Audio To
# Mel widget's range); the output has duration x fps frames, so bounded rates bound the work.
SAMPLE_RATE_RANGE = (4000, 768000)
FRAME_RATE_RANGE = (1.0, 240.0)


def _rate_or_none(value: float, limits: tuple[float, float], what: str, kind: str) -> float | None:
    """``value`` as a float when it lies within ``limits``, else None; ValueError naming ``what`` when it is not a
    number at all."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: the {kind} {value!r} is not a number") from None
    return rate if np.isfinite(rate) and limits[0] <= rate <= limits[1] else None


def check_sample_rate(sample_rate: float, what: str = "audio") -> float:
    """``sample_rate`` as a float, or ValueError unless it lies in SAMPLE_RATE_RANGE (Hz)."""
    rate = _rate_or_none(sample_rate, SAMPLE_RATE_RANGE, what, "sample rate")
    if rate is None:
        low, high = SAMPLE_RATE_RANGE
        raise ValueError(f"{what}: a sample rate of {float(sample_rate):g} Hz is outside the {low}..{high} Hz that "
                         f"audio can have; the file's header (or the node that made this audio) is wrong. "
                         f"Re-export the audio (e.g. as a 16 kHz or 44.1 kHz WAV) and try again.")
    return rate


def check_frame_rate(fps: float, what: str = "fps") -> float:
    """``fps`` as a float, or ValueError unless it lies in FRAME_RATE_RANGE (frames per second)."""
    rate = _rate_or_none(fps, FRAME_RATE_RANGE, what, "frame rate")
    if rate is None:
        low, high = FRAME_RATE_RANGE
        raise ValueError(f"{what}: {float(fps):g} fps is outside the supported {low:g}..{high:g} fps (the output "
                         f"video gets one frame per 1/fps of the speech, so its length and the work follow from it).")
    return rate
