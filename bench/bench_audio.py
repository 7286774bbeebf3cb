"""Audio front-end: read a 16 kHz wav, mel spectrogram, mel chunks at 25 fps; ours vs the original's audio.py.

The speech sample (3 s) is tiled to 30 s so the cost is measurable. The original is timed in a subprocess,
``bench/run_original.py audio`` (its library patches applied, the checkout's audio.load_wav + audio.melspectrogram);
both are timed in-process after one warm-up call, so imports and start-up are not counted.

    .venv/bin/python bench/bench_audio.py [--quick]
"""
from __future__ import annotations

import json
import subprocess

import numpy as np

from common import (ORIGINAL_RUNNER, PYTHON, SPEECH, Row, Timing, cache_dir, original_available, standalone_main,
                    time_calls)

SECONDS_OF_AUDIO = 30
FPS = 25.0

def long_speech() -> str:
    """The speech sample tiled to SECONDS_OF_AUDIO seconds, as a 16 kHz mono float wav in the cache folder."""
    import soundfile

    path = cache_dir() / f"speech_{SECONDS_OF_AUDIO}s.wav"
    if not path.is_file():
        wav, rate = soundfile.read(SPEECH, dtype="float32")
        soundfile.write(path, np.tile(wav, int(np.ceil(SECONDS_OF_AUDIO * rate / len(wav))))[:SECONDS_OF_AUDIO * rate],
                        rate)
    return str(path)


def _ours(path: str) -> None:
    from wav2lip_core.audio import load_audio, speech_mel_chunks

    speech_mel_chunks(load_audio(path), FPS)


def _original(path: str, repeats: int) -> Timing:
    done = subprocess.run([PYTHON, str(ORIGINAL_RUNNER), "audio", path, str(repeats)], capture_output=True,
                          text=True, check=True)
    return Timing(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def run(quick: bool = False) -> list[Row]:
    repeats = 3 if quick else 7
    path = long_speech()
    ours = time_calls(lambda: _ours(path), repeats)
    original, note = None, f"{SECONDS_OF_AUDIO} s of speech, read + mel (+ chunks for ours)"
    if original_available():
        original = _original(path, repeats)
    else:
        note += "; original not on this machine"
    return [Row(stage="audio: read + mel", resolution="-", frames=int(SECONDS_OF_AUDIO * FPS), ours=ours,
                original=original, note=note)]


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
