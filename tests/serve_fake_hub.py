"""Serve random-weights checkpoints the way the Hugging Face Hub serves the real ones, on 127.0.0.1.

For trying README's main command and the example workflows "as on a fresh install" without network:
    python tests/serve_fake_hub.py [--seconds 1800]      # prints HF_ENDPOINT=http://127.0.0.1:PORT
    HF_ENDPOINT=http://127.0.0.1:PORT bash scripts/demo.sh
Test use only: the weights are random (seeded), never real.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_server import FakeHub  # noqa: E402
from random_s3fd import random_s3fd_state_dict  # noqa: E402
from random_weights import official_container, random_wav2lip  # noqa: E402


def _saved(payload: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1800, help="stop serving after this long")
    args = parser.parse_args()
    generator = _saved(official_container(random_wav2lip(0)))
    hub = FakeHub()
    for repo, path in (("Nekochu/Wav2Lip", "wav2lip_gan.pth"), ("Nekochu/Wav2Lip", "wav2lip.pth")):
        hub.add(repo, path, generator)
    hub.add("camenduru/Wav2Lip", "face_detection/detection/sfd/s3fd.pth", _saved(random_s3fd_state_dict(0)))
    hub.start()
    print(f"HF_ENDPOINT={hub.endpoint}", flush=True)
    time.sleep(args.seconds)
    hub.stop()


if __name__ == "__main__":
    main()
