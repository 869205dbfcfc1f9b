#!/usr/bin/env bash
# Undo mounts.sh: unmount everything bound into the chroot, deepest first. Run it before
# deleting the chroot: while /work and /tmp are bound inside, `rm -rf` of the chroot would
# delete them too. Usage: bash scripts/real_window/unmount.sh [CHROOT_DIR]
set -euo pipefail

ROOT="${1:-${MOTIONFIELD_CHROOT:-/srv/trixie}}"
ROOT="$(realpath "$ROOT")"

findmnt -rn -o TARGET | grep "^$ROOT/" | sort -r | while read -r target; do
    echo "[unmount] $target"
    umount "$target"
done
