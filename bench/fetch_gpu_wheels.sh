#!/usr/bin/env bash
# Prepares, on a machine with PyPI access, what bench/gpu.sh carries to the device machine (which has its own
# Python 3.12 with torch, numpy, scipy, OpenCV (headless), scikit-image, numba, safetensors and huggingface_hub,
# and no network):
#   .gpu_wheels/  cp312 manylinux wheels of the packages it lacks (no dependencies pulled: each is named here;
#                 the versions are the ones the test venv runs)
#   .orig/        the original Wav2Lip's code from $WAV2LIP_ORIGINAL_DIR (default /work/orig), without its
#                 checkpoint, outputs or evaluation folder: gpu.sh makes the random checkpoint there
# Both folders are git-ignored. Run from anywhere: bash bench/fetch_gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
WHEELS=(
  soundfile==0.14.0 cffi==2.1.1 pycparser==3.12     # audio files (our loader, the original's librosa)
  imageio-ffmpeg==0.6.0        # ffmpeg: test clips, our CLI, the original's mux (0.8 ships a 68 MB wheel)
  librosa==0.11.0 audioread==3.1.0 decorator==5.3.1 pooch==1.9.0 platformdirs==4.14.8 soxr==1.1.0
  face-alignment==1.5.0                              # the CLI's S3FD check (weights are ours)
)
rm -rf .gpu_wheels && mkdir -p .gpu_wheels
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_28_x86_64 --platform manylinux1_x86_64 -d .gpu_wheels "${WHEELS[@]}"
ORIGINAL="${WAV2LIP_ORIGINAL_DIR:-/work/orig}"
if [ -f "$ORIGINAL/inference.py" ]; then
  rm -rf .orig && mkdir -p .orig
  (cd "$ORIGINAL" && tar cf - --exclude='*.pth' --exclude='*.pth.*' --exclude=temp --exclude=results \
     --exclude=evaluation --exclude=.git .) | (cd .orig && tar xf -)
  mkdir -p .orig/temp
else
  rm -rf .orig      # an older copy would still be carried
  echo "no original checkout at $ORIGINAL: gpu.sh will run without the original's columns"
fi
du -sh .gpu_wheels .orig 2>/dev/null || true
