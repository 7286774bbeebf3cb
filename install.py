"""Installs what requirements.txt cannot say safely: OpenCV and face-alignment. Never touches torch.

ComfyUI-Manager (and comfy-cli) run ``pip install`` for each line of requirements.txt, then this script
(``python install.py`` in the pack folder). By hand: ``pip install -r requirements.txt && python install.py``.

* OpenCV comes in four flavours that all provide ``cv2`` (opencv-python, -headless, -contrib, -contrib-headless).
  Installing a second one next to the one a user has breaks ``cv2`` in subtle ways, so OpenCV is only installed
  when none is present, and then as opencv-python-headless (no GUI libraries; a server needs none).
* face-alignment (the S3FD face detector's network definition) declares a dependency on opencv-python, so it
  is installed with ``--no-deps``; its other dependencies (numpy, scipy, scikit-image, numba, tqdm, packaging)
  are in requirements.txt. torch is never installed or changed: ComfyUI owns it.
"""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata

OPENCV_DISTRIBUTIONS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                        "opencv-contrib-python-headless")
OPENCV_TO_INSTALL = "opencv-python-headless"
FACE_ALIGNMENT = "face-alignment"


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def pip_install(*arguments: str) -> None:
    command = [sys.executable, "-m", "pip", "install", *arguments]
    print("[ComfyUI-Wav2Lip] " + " ".join(command), flush=True)
    subprocess.check_call(command)


def ensure_opencv() -> None:
    present = [f"{name} {installed_version(name)}" for name in OPENCV_DISTRIBUTIONS if installed_version(name)]
    if present:
        print(f"[ComfyUI-Wav2Lip] OpenCV already installed ({', '.join(present)}); not adding another flavour.")
        return
    pip_install(OPENCV_TO_INSTALL)


def ensure_face_alignment() -> None:
    version = installed_version(FACE_ALIGNMENT)
    if version:
        print(f"[ComfyUI-Wav2Lip] face-alignment {version} already installed.")
        return
    pip_install("--no-deps", FACE_ALIGNMENT)


def main() -> int:
    ensure_opencv()
    ensure_face_alignment()
    return 0


if __name__ == "__main__":
    sys.exit(main())
