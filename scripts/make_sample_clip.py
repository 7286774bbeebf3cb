"""Make the bundled sample face clip (workflows/media/wav2lip_sample_face.mp4) from skimage's astronaut photo.

A slow pan and zoom over a real, public-domain face (NASA), 320x320, 25 fps, 4 s, H.264.
    python scripts/make_sample_clip.py [OUT.mp4]
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wav2lip_core.video.writing import Mp4Writer  # noqa: E402

SIZE = 320
FPS = 25
SECONDS = 4


def sample_frames(size: int = SIZE, num_frames: int = FPS * SECONDS) -> np.ndarray:
    """uint8 RGB (N, size, size, 3): a window that drifts and zooms smoothly over the astronaut's face."""
    from skimage.data import astronaut

    image = astronaut()
    frames = []
    for index in range(num_frames):
        phase = index / max(1, num_frames - 1)
        window = 400 - 60 * np.sin(np.pi * phase)           # zoom in and out again
        centre_x = 250 + 25 * np.sin(2 * np.pi * phase)     # drift left and right
        centre_y = 200 + 10 * np.cos(2 * np.pi * phase)
        x1, y1 = centre_x - window / 2, centre_y - window / 2
        transform = np.array([[size / window, 0, -x1 * size / window], [0, size / window, -y1 * size / window]])
        frames.append(cv2.warpAffine(image, transform, (size, size), flags=cv2.INTER_AREA,
                                     borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def main() -> None:
    default = Path(__file__).resolve().parents[1] / "workflows/media/wav2lip_sample_face.mp4"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    frames = sample_frames()
    with Mp4Writer(out, SIZE, SIZE, FPS, crf=20) as writer:
        writer.write(frames)
    print(out)


if __name__ == "__main__":
    main()
