#!/usr/bin/env bash
# Set up what the tests need in .venv and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test,video]'  # video: mediapipe, for tests/test_video_*
.venv/bin/ruff check backend addon tests benchmarks docs
.venv/bin/python -m pytest -q --durations=20 "$@"  # the slowest, to keep CI short
