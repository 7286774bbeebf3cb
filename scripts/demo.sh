#!/usr/bin/env bash
# The main job on the bundled sample media: lip-syncs workflows/media/wav2lip_sample_face.mp4 to
# workflows/media/wav2lip_sample_speech.wav with the official wav2lip_gan checkpoint -> results/sample_lipsync.mp4.
# Sets up ./.venv if needed. The checkpoint is fetched on first use (see weights/README.md), or used from
# weights/ when it is already there; without it and without network it says exactly what to get and where.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m wav2lip_core --checkpoint "${CHECKPOINT:-wav2lip_gan}" \
  --face workflows/media/wav2lip_sample_face.mp4 --audio workflows/media/wav2lip_sample_speech.wav \
  --outfile results/sample_lipsync.mp4 "$@"
