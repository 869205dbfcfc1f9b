#!/usr/bin/env bash
# The real-window checks (tests/real_window): Debian's Blender 4.3 under Xvfb, driven by
# xdotool. Not part of CI. Needs root and the chroot (scripts/real_window/setup_chroot.sh).
# Extra arguments go to pytest, e.g. -k continue. Screenshots: $MOTIONFIELD_REAL_WINDOW_OUT
# (default /tmp/motionfield_real_window).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/real_window/mounts.sh >/dev/null
export MOTIONFIELD_REAL_WINDOW=1 OMP_NUM_THREADS=1
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/real_window "$@"
