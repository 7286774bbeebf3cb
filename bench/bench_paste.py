"""Crop + paste per resolution: crop_face (box -> 96x96) and paste_face, ``feather`` and ``original`` blends.

Per frame: one crop of the face box and one paste of a generated face back into a copy of the frame, as the
pipeline does. The face box spans about a third of the frame height (talking-head framing).

    .venv/bin/python bench/bench_paste.py [--quick]
"""
from __future__ import annotations


import numpy as np

from common import Row, astronaut_frames, face_box, standalone_main, time_calls

RESOLUTIONS = {"256x256": (256, 256), "720p": (720, 1280), "1080p": (1080, 1920)}


def _crop_and_paste(frames: np.ndarray, box, generated: np.ndarray, blend: str) -> None:
    from wav2lip_core.blend import paste_face
    from wav2lip_core.faces import crop_face

    for frame in frames:
        output = frame.copy()
        crop_face(output, box)
        paste_face(output, generated, box, blend)


def run(quick: bool = False) -> list[Row]:
    num_frames = 10 if quick else 25
    repeats = 3 if quick else 5
    generated = np.random.default_rng(0).random((96, 96, 3), dtype=np.float32)
    rows = []
    for label, (height, width) in RESOLUTIONS.items():
        frames = astronaut_frames(height, width, num_frames)
        box = face_box(height, width)
        for blend in ("feather", "original"):
            timing = time_calls(lambda: _crop_and_paste(frames, box, generated, blend), repeats)
            rows.append(Row(stage=f"copy+crop+paste ({blend})", resolution=label, frames=num_frames, ours=timing,
                            note=f"{timing.median / num_frames * 1000:.2f} ms/frame, box "
                                 f"{box[1] - box[0]}x{box[3] - box[2]}"))
    return rows


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
