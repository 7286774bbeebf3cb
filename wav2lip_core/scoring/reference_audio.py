"""Speech exactly as syncnet_python's ``evaluate()`` scores it: int16 mono 16 kHz, converted by ffmpeg.

The reference does not resample audio itself: it runs ``ffmpeg -y -i VIDEO -async 1 -ac 1 -vn -acodec pcm_s16le
-ar 16000 audio.wav`` and reads the int16 samples back. ffmpeg's resampler (swresample) and its rounding into
16-bit PCM give different samples from the engine's soxr path (``audio.load_audio``, which the lip-sync job keeps),
and SyncNet's MFCCs see the difference in the offset distances. So scoring converts every input with the bundled
ffmpeg and those same options:

* a file (audio, or a video's sound track): ffmpeg reads it as the reference does (its default audio stream);
* a waveform (ComfyUI's AUDIO): its samples go to ffmpeg's stdin as raw PCM of their own type (float32, float64,
  int16 or int32; other types as float32 in [-1, 1]) at their own rate and channel count, which is what ffmpeg
  decodes from a WAV file holding the same samples.

Both return int16 ``(samples,)`` mono 16 kHz: the values the reference's MFCCs read (the scorers take int16 as is).
"""
from __future__ import annotations

import os

import numpy as np

from ..audio.loading import _find_non_finite
from ..audio.rates import SAMPLE_RATE, check_sample_rate
from ..runtime.ffmpeg import run_audio_conversion

# evaluate()'s output options, in its order: start corrected to the first timestamp, mono, 16-bit PCM, 16 kHz.
REFERENCE_CONVERSION = ("-async", "1", "-ac", "1", "-vn", "-acodec", "pcm_s16le", "-ar", str(SAMPLE_RATE))
# numpy dtype -> ffmpeg raw PCM format, for waveforms piped in unchanged
_RAW_FORMATS = {np.dtype(np.float32): "f32le", np.dtype(np.float64): "f64le", np.dtype(np.int16): "s16le",
                np.dtype(np.int32): "s32le"}
_MAX_CHANNELS = 32          # more than this and fewer samples than channels: a (samples, channels) array


def _convert(input_options: list[str], source: str, stdin: bytes | memoryview | None) -> np.ndarray:
    """Run ffmpeg with the reference's conversion, raw int16 to stdout -> int16 (samples,)."""
    output = run_audio_conversion([*input_options, *REFERENCE_CONVERSION, "-sn", "-dn", "-f", "s16le", "pipe:1"],
                                  source, f"convert the audio of {source} to 16 kHz", stdin)
    samples = np.frombuffer(output, dtype="<i2")
    if samples.size == 0:
        raise ValueError(f"{source} holds no audio samples")
    return samples.astype(np.int16)


def load_reference_speech(path: str | os.PathLike) -> np.ndarray:
    """int16 mono 16 kHz ``(samples,)`` of an audio or video file, converted as evaluate() converts it.

    Raises FileNotFoundError for a missing file, ValueError for a folder, a file without an audio stream or one
    ffmpeg cannot decode (each naming the file).
    """
    text = os.fspath(path)
    if os.path.isdir(text):
        raise ValueError(f"{text} is a folder, not an audio or video file")
    if not os.path.isfile(text):
        raise FileNotFoundError(f"{text}: no such file")
    return _convert(["-i", text], text, None)


def _raw_pcm(waveform: np.ndarray) -> tuple[np.ndarray, str]:
    """(channels, samples) -> (interleaved (samples, channels) little-endian samples, ffmpeg raw format)."""
    samples = np.asarray(waveform)
    pcm_format = _RAW_FORMATS.get(samples.dtype)
    if pcm_format is None:
        if np.issubdtype(samples.dtype, np.integer):       # other integer PCM: scaled by its full-scale value
            samples = (samples.astype(np.float64) / (float(np.iinfo(samples.dtype).max) + 1.0)).astype(np.float32)
        elif np.issubdtype(samples.dtype, np.floating):
            samples = samples.astype(np.float32)
        else:
            raise TypeError(f"audio must hold float or integer samples, got dtype {samples.dtype}")
        pcm_format = "f32le"
    return np.ascontiguousarray(samples.T, dtype=samples.dtype.newbyteorder("<")), pcm_format


def waveform_reference_speech(waveform: np.ndarray, sample_rate: float) -> np.ndarray:
    """int16 mono 16 kHz ``(samples,)`` of a waveform, converted as evaluate() converts a file of it.

    waveform: ``(samples,)`` or ``(channels, samples)`` (a ComfyUI AUDIO's ``waveform[0]``), float nominally in
        [-1, 1] or integer PCM, at ``sample_rate`` Hz (a whole number in SAMPLE_RATE_RANGE).
    Raises ValueError for an empty or non-finite waveform, a (samples, channels) layout or an impossible rate.
    """
    samples = np.asarray(waveform)
    if samples.ndim == 1:
        samples = samples[None]
    if samples.ndim != 2 or samples.shape[0] == 0:
        raise ValueError(f"audio must be (samples,) or (channels, samples), got shape {np.shape(waveform)}")
    channels, length = samples.shape
    if channels > _MAX_CHANNELS:
        raise ValueError(f"audio of shape {samples.shape} has more channels than samples allow; pass it as "
                         f"(channels, samples), e.g. waveform.T")
    if length == 0:
        raise ValueError("audio is empty (0 samples)")
    rate = check_sample_rate(sample_rate, "audio")
    if rate != int(rate):
        raise ValueError(f"audio: a sample rate of {rate:g} Hz is not a whole number of samples per second")
    if np.issubdtype(samples.dtype, np.floating):
        _find_non_finite(samples, rate, "audio")
    interleaved, pcm_format = _raw_pcm(samples)
    source = f"the {rate:g} Hz audio"
    return _convert(["-f", pcm_format, "-ar", str(int(rate)), "-ac", str(channels), "-i", "pipe:0"], source,
                    memoryview(interleaved.reshape(-1).view(np.uint8)))
