"""Crop + paste per resolution: crop_face (box -> 96x96) and paste_face, ``feather`` and ``original`` blends;
then Paste Back's own work by the size of the generated face: 96 px (Wav2Lip's) against 512 px (a face restorer's)
at 720p and 1080p, for every blend, and with ``color_match``.

Per frame: one crop of the face box and one paste of a generated face back into a copy of the frame, as the
pipeline does; the face-size rows time the paste alone (resample into the box, mask, blend), on a copy of the
frame. The face box spans about a third of the frame height (talking-head framing).

    .venv/bin/python bench/bench_paste.py [--quick]
"""
from __future__ import annotations


import numpy as np

from common import Row, astronaut_frames, face_box, standalone_main, time_calls

RESOLUTIONS = {"256x256": (256, 256), "720p": (720, 1280), "1080p": (1080, 1920)}


def _crop_and_paste(frames: np.ndarray, box, generated: np.ndarray, blend: str) -> None:
    from wav2lip_core.compositing.blend import paste_face
    from wav2lip_core.compositing.faces import crop_face

    for frame in frames:
        output = frame.copy()
        crop_face(output, box)
        paste_face(output, generated, box, blend)


def _paste_only(frames: np.ndarray, box, generated: np.ndarray, blend: str, color_match: bool) -> None:
    from wav2lip_core.compositing.blend import paste_face

    for frame in frames:
        paste_face(frame.copy(), generated, box, blend, color_match=color_match)


def face_size_rows(quick: bool = False) -> list[Row]:
    """Paste Back per frame by face size (96 / 512), blend and color_match, at 720p and 1080p."""
    from wav2lip_core.compositing.blend import BLEND_MODES

    num_frames = 10 if quick else 25
    repeats = 3 if quick else 5
    rows = []
    for label in ("720p", "1080p"):
        height, width = RESOLUTIONS[label]
        frames = astronaut_frames(height, width, num_frames)
        box = face_box(height, width)
        for size in (96, 512):
            generated = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
            cases = [(blend, False) for blend in BLEND_MODES] + [("mouth", True)]
            for blend, color_match in cases:
                timing = time_calls(lambda: _paste_only(frames, box, generated, blend, color_match), repeats)
                name = blend + (" + color_match" if color_match else "")
                rows.append(Row(stage=f"paste {size} px face ({name})", resolution=label, frames=num_frames,
                                ours=timing, note=f"{timing.median / num_frames * 1000:.2f} ms/frame, box "
                                                  f"{box[1] - box[0]}x{box[3] - box[2]}"))
    return rows


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
    return rows + face_size_rows(quick)


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
