"""A fake Hugging Face Hub on 127.0.0.1 serving random-weights stand-ins for every downloadable model, so the
README's commands and the example workflows can be tried "as on a fresh install" without network.

    python tests/serve_fake_hub.py [--seconds 1800]      # builds the weights (a minute), then prints
                                                         # HF_ENDPOINT=http://127.0.0.1:PORT
    HF_ENDPOINT=http://127.0.0.1:PORT bash scripts/demo.sh
    HF_ENDPOINT=http://127.0.0.1:PORT python -m wav2lip_core download all --dir /tmp/fresh_weights

(inside ComfyUI: start it with ``HF_ENDPOINT`` set the same way). Each model is served at its first Hugging Face
source in ``wav2lip_core/checkpoints/known_models.py`` (the downloader asks a mirror the same paths it asks the
Hub). A model whose first source is a plain web address (s3fd, syncnet_v2) is first tried there, which fails
without network, and then fetched from the fake hub. None of the files is the official one (the downloader says
so: "no source had the official file ... using the verified copy"), and a request for anything else is answered
404 with the list of what is served.

What the random weights do (each is printed when the hub starts):
* the generators (wav2lip_gan, wav2lip): seeded random weights, so the mouth is noise: the files prove the
  download, loading and plumbing, not the picture;
* s3fd: random weights find hundreds of random "faces"; the largest one, which the pack picks, is wherever the
  random filters fire most, not on the face (the start-up line says where it is on the sample clip). Give a
  fixed box (``--box``; Detect Faces' manual_box) to put the mouth on the face;
* syncnet_v2 and lipsync_expert: random scorers; their LSE-C / LSE-D figures mean nothing.
Test use only: the weights are random (seeded), never real. The hub itself is tests/hub_server.py.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hub_server import FakeHub  # noqa: E402
from random_s3fd import random_s3fd_state_dict  # noqa: E402
from random_syncnet_v2 import random_syncnet_v2  # noqa: E402
from random_weights import official_container, random_syncnet, random_wav2lip  # noqa: E402
from wav2lip_core.checkpoints import KNOWN_MODELS, HubSource, KnownModel  # noqa: E402

SAMPLE_FACE = Path(__file__).resolve().parents[1] / "workflows" / "media" / "wav2lip_sample_face.mp4"


def _saved(payload: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def hub_path(model: KnownModel) -> tuple[str, str]:
    """(repository, path) of ``model``'s first Hugging Face source: where the fake hub serves it."""
    return next((source.repo_id, source.path) for source in model.sources if isinstance(source, HubSource))


def where_random_s3fd_finds_a_face(state: dict) -> str:
    """Where the random S3FD puts the "face" on the first frame of the sample clip, in words."""
    import tempfile

    from wav2lip_core.detection import detect_face_boxes
    from wav2lip_core.video.reading import read_video

    frames, _ = read_video(SAMPLE_FACE)
    frame = frames[:1]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s3fd.pth"
        torch.save(state, path)
        track = detect_face_boxes(frame, detector="s3fd", weights_path=path, pads=(0, 0, 0, 0), smoothing="none")
    height, width = frame.shape[1:3]
    if not track.found[0]:
        return f"finds no face on the sample clip's first frame ({width}x{height})"
    y1, y2, x1, x2 = (int(v) for v in track.boxes[0])
    vertical = "top" if y2 <= height * 0.6 else "bottom" if y1 >= height * 0.4 else "middle"
    horizontal = "left" if x2 <= width * 0.6 else "right" if x1 >= width * 0.4 else "centre"
    return (f"picks the largest of its {track.faces_seen} random \"faces\": rows {y1}-{y2}, columns {x1}-{x2} of "
            f"the sample clip's {width}x{height} frame (the {vertical} {horizontal}), not the face; give a fixed "
            f"box (--box, or Detect Faces' manual_box) to put the mouth on the face")


def _generator() -> tuple[bytes, str]:
    return _saved(official_container(random_wav2lip(0))), "random generator (seed 0): the mouth is noise"


def _s3fd() -> tuple[bytes, str]:
    state = random_s3fd_state_dict(0)
    return _saved(state), f"random S3FD (seed 0): {where_random_s3fd_finds_a_face(state)}"


# What the fake hub serves for each known model: () -> (file bytes, what its random weights do).
STAND_INS: dict[str, Callable[[], tuple[bytes, str]]] = {
    "wav2lip_gan": _generator,
    "wav2lip": _generator,
    "s3fd": _s3fd,
    "syncnet_v2": lambda: (_saved(random_syncnet_v2(0).state_dict()),
                           "random SyncNet v2 (seed 0): its scores mean nothing"),
    "lipsync_expert": lambda: (_saved(official_container(random_syncnet(0))),
                               "random lip-sync expert (seed 0): its scores mean nothing"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1800, help="stop serving after this long")
    args = parser.parse_args()
    print("building random-weights stand-ins for every known model (about a minute) ...", file=sys.stderr,
          flush=True)
    hub = FakeHub()
    lines = []
    built: dict[Callable, tuple[bytes, str]] = {}      # the two generators share one file
    for name, make in STAND_INS.items():
        if make not in built:
            built[make] = make()
        data, note = built[make]
        model = KNOWN_MODELS[name]
        repo, path = hub_path(model)
        hub.add(repo, path, data)
        lines.append(f"  {model.name}: {repo}/{path} ({len(data) / 2**20:.0f} MiB), {note}")
    hub.start()
    print("serving (not the official files; test use only):\n" + "\n".join(lines), file=sys.stderr, flush=True)
    print(f"HF_ENDPOINT={hub.endpoint}", flush=True)
    time.sleep(args.seconds)
    hub.stop()


if __name__ == "__main__":
    main()
