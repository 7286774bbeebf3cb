"""Audio front-end of the Wav2Lip engine: loading, mel spectrogram and per-frame mel chunks.

Layouts and ranges at the boundaries
------------------------------------
* Waveforms returned here are float32, mono, 1-D ``(samples,)``, 16 kHz (``SAMPLE_RATE``), nominally in
  [-1, 1] (PCM files give [-1, 1); like the original, nothing is normalised or clipped, so float files
  or resampling overshoot may exceed 1 slightly).
* ``melspectrogram`` returns float32 ``(80, T)``: rows are mel bins from low to high frequency, columns are
  time at 80 columns per second (hop 200 samples = 12.5 ms), values in [-4, 4],
  ``T = 1 + len(wav) // 200``.
* ``mel_chunks`` returns float32 ``(N, 80, 16)``: one 16-column window (200 ms) per output video frame.
  How many frames (``num_output_frames``, the ``length`` rule): by default ("speech") one per 1/fps of the
  speech, ``ceil(seconds * fps)``, so the video lasts as long as its sound; the windows of the last frames run
  past the spectrogram's end and are padded with its floor (-4, silence). "original": the original
  inference.py's count (it stops when a window would run past the end, giving the last frame the last 16
  columns), for exact reproduction.

Numerics (reproduce the original Wav2Lip ``audio.py`` with its pinned librosa 0.7.0)
-----------------------------------------------------------------------------------
1. pre-emphasis ``y[n] = x[n] - 0.97 x[n-1]`` with ``y[0] = x[0]`` (``lfilter`` semantics), in float64;
2. STFT, n_fft 800, hop 200, periodic Hann window of 800, centred frames with **reflect** padding of
   400 samples per side (librosa 0.7 default; librosa >= 0.9 pads with zeros, which changes the first
   and last columns by up to 0.28, so we do not use ``librosa.stft``); spectrum stored as complex64;
3. magnitude ``|D|``, projected with the Slaney mel basis (16 kHz, n_fft 800, 80 mels, 55..7600 Hz,
   Slaney area normalisation, float32; computed once and cached, with numpy: librosa's filters bit for bit
   without librosa's second of import time);
4. ``20 * log10(max(1e-5, M)) - 20`` dB, then symmetric clipped normalisation of [-100, 0] dB to [-4, 4].
The result matches the original's output within 1e-5. The STFT is vectorised (strided frames + rfft),
processed in blocks of frames so that memory stays bounded for long audio.

Resampling
----------
Files and waveforms at another rate are resampled with librosa's default resampler (``soxr_hq``, what
``librosa.load`` uses today). The original (librosa 0.7) used resampy ``kaiser_best``: both are
high-quality band-limited resamplers, but the samples differ slightly. Mono is the mean of the channels.

Silent and broken audio
-----------------------
* All-zero (silent) audio is valid: every mel value is -4 (the floor), chunks are built normally.
* A waveform containing NaN or +-inf samples raises ``ValueError`` saying how many samples are bad and
  at which second the first one is (the original only noticed later with "Mel contains nan!").
  ``melspectrogram`` therefore never returns NaN.
* Audio shorter than 16 mel columns (3000 samples = 0.1875 s at 16 kHz) cannot give a single chunk:
  ``mel_chunks`` / ``num_output_frames`` raise ``ValueError`` naming the minimum duration (either rule).

Modules: ``rates`` (16 kHz and the sane sample/frame-rate ranges), ``loading`` (files and waveforms in),
``mel`` (spectrogram, chunks, the speech shifted by whole frames).
"""
from .loading import load_audio, to_mono_16k
from .mel import (DEFAULT_LENGTH, LENGTH_RULES, MEL_FRAMES_PER_SECOND, MEL_STEP_SIZE, MIN_SECONDS_FOR_ONE_CHUNK,
                  ORIGINAL, PAD_VALUE, SPEECH, check_length_rule, chunk_starts, mel_chunks, melspectrogram,
                  num_mel_columns, num_output_frames, shift_speech, speech_mel_chunks)
from .rates import FRAME_RATE_RANGE, SAMPLE_RATE, SAMPLE_RATE_RANGE, check_frame_rate, check_sample_rate

__all__ = [
    "DEFAULT_LENGTH", "FRAME_RATE_RANGE", "LENGTH_RULES", "MEL_FRAMES_PER_SECOND", "MEL_STEP_SIZE",
    "MIN_SECONDS_FOR_ONE_CHUNK", "ORIGINAL", "PAD_VALUE", "SAMPLE_RATE", "SAMPLE_RATE_RANGE", "SPEECH",
    "check_frame_rate", "check_length_rule", "check_sample_rate", "chunk_starts", "load_audio", "mel_chunks",
    "melspectrogram", "num_mel_columns", "num_output_frames", "shift_speech", "speech_mel_chunks", "to_mono_16k",
]
