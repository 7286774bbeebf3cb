"""Small media for the batch tests: a 128x128 face clip, short speech files, and manifests that use them."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile

from conftest import SAMPLES, astronaut_clip
from wav2lip_core.video.writing import Mp4Writer

BOX = ("30", "110", "40", "108")   # y1 y2 x1 x2 around the astronaut's face in the 128x128 clip
SPEECH_SECONDS = 0.32              # a few output frames at 25 fps: each row stays short


def write_media(folder: Path, speeches: int = 3) -> None:
    """folder/clips/face.mp4 (8 frames, 25 fps, uint8 RGB 128x128) and folder/speech/s{i}.wav (16 kHz mono,
    different stretches of the sample speech)."""
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    (folder / "speech").mkdir(exist_ok=True)
    with Mp4Writer(folder / "clips" / "face.mp4", 128, 128, 25) as writer:
        writer.write(astronaut_clip(8))
    wav, rate = soundfile.read(SAMPLES / "wav2lip_sample_speech.wav", dtype="float32")
    length = int(SPEECH_SECONDS * rate)
    for i in range(speeches):
        start = 4000 + 6000 * i
        soundfile.write(folder / "speech" / f"s{i}.wav", wav[start:start + length], rate)


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(dict.fromkeys(name for row in rows for name in row))
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def good_rows(count: int = 3) -> list[dict]:
    """Rows with paths relative to the manifest's folder; the speech differs per row."""
    return [{"face": "clips/face.mp4", "audio": f"speech/s{i % 3}.wav", "outfile": f"out/r{i}.mp4"}
            for i in range(count)]


def decoded(path: Path) -> np.ndarray:
    from wav2lip_core.video.reading import read_video

    return read_video(path)[0]
