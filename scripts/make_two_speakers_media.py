"""Make the bundled media of the two-speakers workflow (workflows/media/wav2lip_sample_two_*, _person_*, _speech_*).

The people are two official US government portraits (Barack Obama by Pete Souza, Joe Biden by David Lienemann,
White House photographers: works of the US federal government, public domain), taken from the test images of the
PyPI source archive of face_recognition 1.3.0 (fetched with pip download, checked by SHA-256). The clip shows both
side by side, slowly panning, 512x256, 25 fps, H.264, with the sample speech as its sound; each person's speech
is one half of that speech (the other half silent), cut at its quietest point near the middle. The reference
photos are tighter, larger crops of the same portraits (not frames of the clip).
    python scripts/make_two_speakers_media.py [OUT_FOLDER]
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import cv2
import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wav2lip_core.video.writing import Mp4Writer  # noqa: E402

ARCHIVE = "face_recognition-1.3.0.tar.gz"
PHOTOS = {   # name: (member of the archive, SHA-256)
    "obama": ("face_recognition-1.3.0/tests/test_images/obama.jpg",
              "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
    "biden": ("face_recognition-1.3.0/tests/test_images/biden.jpg",
              "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
}
TILE = 256              # each person's half of the frame (pixels)
FACE = 100              # the face's width in the clip (pixels): dlib's HOG finds faces from about 80
FPS = 25
SPEECH = Path(__file__).resolve().parents[1] / "workflows/media/wav2lip_sample_speech.wav"


def fetch_photos(folder: Path) -> dict[str, np.ndarray]:
    """{name: uint8 RGB photo} from the face_recognition sdist (pip download into ``folder``)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    "face_recognition==1.3.0", "-d", str(folder)], check=True)
    photos = {}
    with tarfile.open(folder / ARCHIVE) as bundle:
        for name, (member, sha256) in PHOTOS.items():
            data = bundle.extractfile(member).read()
            if hashlib.sha256(data).hexdigest() != sha256:
                raise RuntimeError(f"{member} is not the expected photo")
            photos[name] = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    return photos


def face_box(photo: np.ndarray) -> tuple[float, float, float]:
    """(centre x, centre y, width) of the photo's largest face (dlib's HOG)."""
    import dlib

    faces = dlib.get_frontal_face_detector()(np.ascontiguousarray(photo), 0)
    face = max(faces, key=lambda r: r.width())
    return (face.left() + face.right()) / 2, (face.top() + face.bottom()) / 2, float(face.width())


def view(photo: np.ndarray, centre: tuple[float, float], scale: float, size: tuple[int, int]) -> np.ndarray:
    """uint8 RGB (height, width) window of ``photo`` scaled by ``scale`` around ``centre`` (x, y)."""
    height, width = size
    transform = np.array([[scale, 0, width / 2 - scale * centre[0]], [0, scale, height / 2 - scale * centre[1]]])
    return cv2.warpAffine(photo, transform, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SPEECH.parent
    with tempfile.TemporaryDirectory() as folder:
        photos = fetch_photos(Path(folder))
    speech, rate = soundfile.read(SPEECH, dtype="float32")
    frames = int(round(len(speech) / rate * FPS))
    # Each person's turn: the speech's quietest 40 ms window in its middle third is where the first turn ends.
    window = rate // 25
    middle = range(len(speech) // 3, 2 * len(speech) // 3 - window, window // 4)
    cut = min(middle, key=lambda start: float(np.square(speech[start:start + window]).sum())) + window // 2
    turns = {"obama": np.r_[speech[:cut], np.zeros(len(speech) - cut, np.float32)],
             "biden": np.r_[np.zeros(cut, np.float32), speech[cut:]]}
    clip = np.zeros((frames, TILE, 2 * TILE, 3), np.uint8)
    for side, (name, photo) in enumerate(photos.items()):
        x, y, size = face_box(photo)
        scale = FACE / size
        for index in range(frames):          # a slow pan and a slight zoom, so the faces move
            phase = index / max(1, frames - 1)
            centre = (x + (12 - 24 * phase) / scale, y + (TILE * 0.12) / scale)
            clip[index, :, side * TILE:(side + 1) * TILE] = view(photo, centre, scale * (1 + 0.05 * phase),
                                                                 (TILE, TILE))
        portrait = view(photo, (x, y + 0.15 * size), 1.6 * FACE / size, (300, 240))
        cv2.imwrite(str(out / f"wav2lip_sample_person_{name}.jpg"), np.ascontiguousarray(portrait[:, :, ::-1]),
                    [cv2.IMWRITE_JPEG_QUALITY, 85])
        soundfile.write(out / f"wav2lip_sample_speech_{name}.wav", turns[name], rate, subtype="PCM_16")
    with Mp4Writer(out / "wav2lip_sample_two_people.mp4", 2 * TILE, TILE, FPS, audio_path=SPEECH, crf=23) as writer:
        writer.write(clip)
    print(out, frames, "frames; turns change at", cut / rate, "s")


if __name__ == "__main__":
    main()
