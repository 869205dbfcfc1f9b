#!/usr/bin/env bash
# The real-window checks (tests/real_window): Debian's Blender 4.3 under Xvfb, driven by
# xdotool. Not part of CI. Needs root and the chroot (scripts/real_window/setup_chroot.sh).
#
#   bash scripts/real_window/run_checks.sh [--commit REV] [pytest arguments, e.g. -k continue]
#
# By default the zip is built from the working tree and the backend is the venv's. With
# --commit REV both come from that commit (git archive; nothing in the checkout changes),
# since an add-on and a backend of different protocol versions cannot talk.
# Screenshots: $MOTIONFIELD_REAL_WINDOW_OUT (default /tmp/motionfield_real_window).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
if [ "${1:-}" = "--commit" ]; then
    rev="$2"
    shift 2
    src="$(mktemp -d /tmp/motionfield-real-window-src.XXXXXX)"
    trap 'rm -rf "$src"' EXIT
    git archive "$rev" | tar -x -C "$src"
    echo "[run_checks] $(git log --oneline -1 "$rev") -> $src"
    (cd "$src" && PYTHONPATH="$src/backend" "$ROOT/.venv/bin/python" -m motionfield.cli \
        addon build -o "$src/dist" >/dev/null)
    export MOTIONFIELD_REAL_WINDOW_ZIP="$(ls "$src"/dist/motionfield-*.zip)"
    export MOTIONFIELD_REAL_WINDOW_BACKEND_SRC="$src/backend"
fi
bash scripts/real_window/mounts.sh >/dev/null
export MOTIONFIELD_REAL_WINDOW=1 OMP_NUM_THREADS=1
.venv/bin/python -m pytest -q -p no:cacheprovider tests/real_window "$@"
