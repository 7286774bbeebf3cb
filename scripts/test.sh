#!/usr/bin/env bash
# The test command: sets up ./.venv if needed, then runs the whole suite (CPU, no network, no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m pytest tests -q "$@"
