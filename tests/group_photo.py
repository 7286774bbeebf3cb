"""Real photos of several distinct people for the face-track tests, fetched by the test set-up, never committed.

The source is the group photo ``insightface/data/images/t1.jpg`` in the PyPI source archive of insightface 2.1
(six people at a card table; the picture's own licence is not stated, so it stays out of git). It is fetched
once with ``pip download`` (the ordinary registry client) into CACHE and checked by SHA-256.
Images are uint8 RGB (H, W, 3) 0..255.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np

CACHE = Path(os.environ.get("WAV2LIP_TEST_MEDIA", Path.home() / ".cache" / "comfyui-wav2lip-tests"))
ARCHIVE = "insightface-2.1.tar.gz"
MEMBER = "insightface-2.1/insightface/data/images/t1.jpg"
PHOTO_SHA256 = "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489"

# Face boxes (y1, y2, x1, x2) of four of its people in the 1280x886 photo (dlib's HOG finds these four at full
# size), left to right: a woman with long red-blond hair, a dark-haired man, a laughing man, a blond woman.
PEOPLE = {
    "rachel": (284, 410, 65, 170),
    "ross": (300, 450, 452, 578),
    "chandler": (365, 491, 734, 838),
    "phoebe": (284, 410, 1114, 1218),
}


def fetch_group_photo() -> Path:
    """The photo's path in CACHE, downloaded and unpacked on first use (RuntimeError saying why not)."""
    photo = CACHE / "t1.jpg"
    if photo.is_file() and hashlib.sha256(photo.read_bytes()).hexdigest() == PHOTO_SHA256:
        return photo
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / ARCHIVE
    if not archive.is_file():
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
                                 ":all:", "insightface==2.1", "-d", str(CACHE)], capture_output=True, text=True)
        if result.returncode != 0 or not archive.is_file():
            raise RuntimeError(f"could not fetch {ARCHIVE} from PyPI for the test photo (run scripts/setup_env.sh "
                               f"with network access): {result.stderr.strip()[-300:]}")
    with tarfile.open(archive) as bundle:
        data = bundle.extractfile(MEMBER).read()
    if hashlib.sha256(data).hexdigest() != PHOTO_SHA256:
        raise RuntimeError(f"{MEMBER} in {archive} is not the expected photo")
    temporary = photo.with_suffix(".partial")
    temporary.write_bytes(data)
    temporary.replace(photo)
    return photo


def group_photo() -> np.ndarray:
    """The whole photo, uint8 RGB (886, 1280, 3)."""
    return np.ascontiguousarray(cv2.imread(str(fetch_group_photo()))[:, :, ::-1])


if __name__ == "__main__":          # scripts/setup_env.sh fetches it ahead of the tests
    print(fetch_group_photo())


TILE = (240, 200)          # (height, width) of the region around a face that a test scene shows
FRAME = (280, 520)         # (height, width) of the test scenes' frames


def face_tile(photo: np.ndarray, name: str) -> np.ndarray:
    """uint8 RGB TILE-sized region of ``photo`` centred on the face of PEOPLE[name]."""
    y1, y2, x1, x2 = PEOPLE[name]
    top, left = (y1 + y2) // 2 - TILE[0] // 2, (x1 + x2) // 2 - TILE[1] // 2
    return photo[top:top + TILE[0], left:left + TILE[1]].copy()


def reference_photo(photo: np.ndarray, name: str) -> np.ndarray:
    """A portrait of PEOPLE[name] that is not a crop of any scene: mirrored, at 0.8 of the size, with more around."""
    y1, y2, x1, x2 = PEOPLE[name]
    portrait = photo[max(0, y1 - 90):y2 + 90, max(0, x1 - 80):x2 + 80][:, ::-1]
    return np.ascontiguousarray(cv2.resize(portrait, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA))


def scene(photo: np.ndarray, placed: list[tuple[str, int]], shade: int, frames: int, pan: int = 2):
    """(uint8 RGB (frames, *FRAME, 3), {name: (frames, 2) int tile top-left (y, x)}): the named people's tiles at
    the given x on a flat ``shade`` background, all drifting ``pan`` px right per frame (a slow pan)."""
    clip = np.full((frames, *FRAME, 3), shade, np.uint8)
    where = {name: np.zeros((frames, 2), np.int64) for name, _ in placed}
    for i in range(frames):
        for name, x in placed:
            top, left = 20, x + pan * i
            clip[i, top:top + TILE[0], left:left + TILE[1]] = face_tile(photo, name)
            where[name][i] = (top, left)
    return clip, where


SHOTS = (12, 12, 6)        # rachel left / ross right; cut: ross left / rachel right; cut: chandler alone


def conversation_clip(photo: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Three shots of the group photo's people (SHOTS frames each, panning): Rachel left and Ross right; a cut to
    them swapped; a cut to Chandler alone. (clip uint8 RGB (30, 280, 520, 3), {name: (30, 2) tile top-left, or
    -1 where not in the frame})."""
    parts = [scene(photo, [("rachel", 20), ("ross", 280)], 90, SHOTS[0]),
             scene(photo, [("ross", 30), ("rachel", 290)], 200, SHOTS[1]),
             scene(photo, [("chandler", 150)], 40, SHOTS[2])]
    clip = np.concatenate([frames for frames, _ in parts])
    where = {name: np.full((len(clip), 2), -1, np.int64) for name in ("rachel", "ross", "chandler")}
    start = 0
    for frames, placed in parts:
        for name, corners in placed.items():
            where[name][start:start + len(frames)] = corners
        start += len(frames)
    return clip, where
