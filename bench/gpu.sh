#!/usr/bin/env bash
# The GPU benchmark, as one command on the device machine (bench/README.md, "On a GPU"): run from the
# repository root with .gpu_wheels/ (and .orig/, for the original's columns) made by bench/fetch_gpu_wheels.sh
# and carried along. Installs the wheels into /tmp (never into the machine's Python), makes the random
# checkpoints and clips there, then runs bench/bench_gpu.py (arguments are passed on) and prints its table;
# the log is also written to $OUT/bench_gpu.log when $OUT is set. About 5 minutes on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 WAV2LIP_BENCH_CACHE="${WAV2LIP_BENCH_CACHE:-/tmp/wav2lip_bench}"
if compgen -G ".gpu_wheels/*.whl" > /dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/wav2lip_site \
    .gpu_wheels/*.whl
  export PYTHONPATH="/tmp/wav2lip_site${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "no .gpu_wheels/ here (bench/fetch_gpu_wheels.sh makes it): using the packages installed"
fi
if [ -f .orig/inference.py ]; then      # a copy in /tmp: its random checkpoint and outputs stay out of the repo
  export WAV2LIP_ORIGINAL_DIR=/tmp/wav2lip_original
  rm -rf "$WAV2LIP_ORIGINAL_DIR" && cp -r .orig "$WAV2LIP_ORIGINAL_DIR"
  "$PYTHON" tests/random_weights.py "$WAV2LIP_ORIGINAL_DIR/random_wav2lip_seed0.pth" --seed 0 > /dev/null
else
  export WAV2LIP_ORIGINAL_DIR=/nonexistent   # no original's columns (not the default /work/orig either)
fi
LOG="${OUT:-/tmp}/bench_gpu.log"
"$PYTHON" bench/bench_gpu.py "$@" 2>&1 | tee "$LOG"
