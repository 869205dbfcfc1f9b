#!/usr/bin/env bash
# Bind-mount into the chroot, at the same paths: /proc, /dev, /tmp (the X socket and the
# harness's files), /work (the checkout), and the host Python the venv links to plus the
# data cache, so a backend Blender starts with the host's .venv/bin/python runs there too.
# Skips what is mounted. Usage: bash scripts/real_window/mounts.sh [CHROOT_DIR]
set -euo pipefail

ROOT="${1:-${MOTIONFIELD_CHROOT:-/srv/trixie}}"

bind() {
    local source="$1" target="$ROOT$1"
    [ -e "$source" ] || return 0
    mkdir -p "$target"
    if mountpoint -q "$target"; then
        return
    fi
    echo "[mounts] bind $source -> $target"
    mount --bind "$source" "$target"
}

if ! mountpoint -q "$ROOT/proc"; then
    mkdir -p "$ROOT/proc"
    echo "[mounts] proc -> $ROOT/proc"
    mount -t proc proc "$ROOT/proc"
fi
bind /dev
bind /dev/pts
bind /dev/shm
bind /tmp
bind /work
bind /root/.pyenv
bind /root/.cache/motionfield
