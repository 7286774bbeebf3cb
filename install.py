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
    """``pip install`` quietly, like the set-up script: nothing is printed unless it fails, and then pip's own
    output and the command are shown and the script stops with pip's exit status."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        print(completed.stdout + completed.stderr, file=sys.stderr, end="")
        print(f"[ComfyUI-Wav2Lip] failed (exit {completed.returncode}): {' '.join(command)}", file=sys.stderr)
        raise SystemExit(completed.returncode)


def ensure_opencv() -> None:
    """Install OpenCV only when no flavour is present (a second flavour breaks ``cv2``)."""
    if not any(installed_version(name) for name in OPENCV_DISTRIBUTIONS):
        pip_install(OPENCV_TO_INSTALL)


def ensure_face_alignment() -> None:
    if not installed_version(FACE_ALIGNMENT):
        pip_install("--no-deps", FACE_ALIGNMENT)


def main() -> int:
    ensure_opencv()
    ensure_face_alignment()
    return 0


if __name__ == "__main__":
    sys.exit(main())
