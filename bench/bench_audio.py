"""Audio front-end: read a 16 kHz wav, mel spectrogram, mel chunks at 25 fps; ours vs the original's audio.py.

The speech sample (3 s) is tiled to 30 s so the cost is measurable. The original is timed inside a subprocess
started in /work/orig (its runner's library patches applied, its audio.load_wav + audio.melspectrogram);
both are timed in-process after one warm-up call, so imports and start-up are not counted.

    .venv/bin/python bench/bench_audio.py [--quick]
"""
from __future__ import annotations

import json
import subprocess

import numpy as np

from common import (ORIGINAL_DIR, PYTHON, SPEECH, Row, Timing, cache_dir, original_available, standalone_main,
                    time_calls)

SECONDS_OF_AUDIO = 30
FPS = 25.0

# Runs in a subprocess in /work/orig: times the original's audio functions on a wav given as argv[1].
_ORIGINAL_AUDIO_TIMER = """
import json, sys, time
sys.path.insert(0, {runner_dir!r})
import run_original
run_original.apply_patches()
import audio
seconds = []
for attempt in range(int(sys.argv[2]) + 1):
    start = time.perf_counter()
    wav = audio.load_wav(sys.argv[1], 16000)
    mel = audio.melspectrogram(wav)
    if attempt:
        seconds.append(time.perf_counter() - start)
print(json.dumps({{"seconds": seconds, "mel_shape": list(mel.shape)}}))
"""


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
    from wav2lip_core.audio import load_audio, mel_chunks, melspectrogram

    mel_chunks(melspectrogram(load_audio(path)), FPS)


def _original(path: str, repeats: int) -> Timing:
    script = _ORIGINAL_AUDIO_TIMER.format(runner_dir=str(ORIGINAL_DIR))
    done = subprocess.run([PYTHON, "-c", script, path, str(repeats)], capture_output=True, text=True,
                          cwd=ORIGINAL_DIR, check=True)
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
