#!/usr/bin/env bash
# Build (or finish building) a Debian trixie chroot with Debian's Blender 4.3 (Python 3.13),
# Xvfb and xdotool for the real-window checks. Idempotent: each step is skipped when done.
# Run as root: bash scripts/real_window/setup_chroot.sh [CHROOT_DIR]   (default /srv/trixie)
set -euo pipefail

ROOT="${1:-${MOTIONFIELD_CHROOT:-/srv/trixie}}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=(blender xvfb xauth x11-apps xdotool python3-numpy python3-pil libgl1-mesa-dri)

say() { echo "[setup_chroot] $*"; }

if [ "$(id -u)" != 0 ]; then
    echo "setup_chroot.sh must run as root (debootstrap, mount, chroot)" >&2
    exit 2
fi

if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap on the host"
    apt-get update
    apt-get install -y debootstrap
fi

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    say "debootstrap --variant=minbase trixie $ROOT $MIRROR"
    mkdir -p "$ROOT"
    debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
else
    say "base system present in $ROOT"
fi

# Same paths inside and outside, so the harness can pass host paths to Blender unchanged.
bash "$(dirname "$0")/mounts.sh" "$ROOT"

missing=()
for pkg in "${PACKAGES[@]}"; do
    chroot "$ROOT" dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]} (inside the chroot)"
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "${missing[@]}"
else
    say "packages present: ${PACKAGES[*]}"
fi

say "$(chroot "$ROOT" blender --version 2>/dev/null | head -1)"
