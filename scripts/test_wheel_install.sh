#!/usr/bin/env bash
# motionfield as a user installs it: build the wheel from the source tree, install it (not
# editable) into a fresh venv, and run the README's main job and the backend from there.
# An editable install cannot see a package missing from the wheel; this can. Run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
work=$(mktemp -d "${TMPDIR:-/tmp}/motionfield-wheel.XXXXXX")
serve_pid=""
cleanup() {
  [ -z "$serve_pid" ] || kill "$serve_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { echo "test_wheel_install: $*"; }

# Build from a copy of the tracked and new files: setuptools builds inside the source folder,
# and a stale build/ there could put files in the wheel that the sources no longer have.
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$work/src"

"$PY" -m venv "$work/venv"
bin=$work/venv/bin
"$bin/pip" install -q --upgrade pip
say "building the wheel"
"$bin/pip" wheel -v --no-deps "$work/src" -w "$work/dist" > "$work/wheel.log" 2>&1 ||
  { tail -40 "$work/wheel.log"; exit 1; }
# setuptools' deprecation and package-discovery warnings (SetuptoolsDeprecationWarning,
# "_Warning: Package ... is absent from the `packages` configuration")
if grep -E "[A-Za-z_]Warning: " "$work/wheel.log"; then
  say "the wheel build printed the warnings above"; exit 1
fi
wheel=$(ls "$work"/dist/motionfield-*.whl)
say "installing $(basename "$wheel") into a fresh venv (not editable)"
"$bin/pip" install -q "$wheel"
installed=$(cd "$work" && "$bin/python" -c 'import motionfield; print(motionfield.__file__)')
case $installed in
  "$work/venv/"*) say "motionfield from $installed" ;;
  *) say "motionfield imported from $installed, not the venv"; exit 1 ;;
esac

# the commands that import every method (methods/, server/)
"$bin/motionfield" --help > /dev/null
"$bin/motionfield" train predict --help > /dev/null
"$bin/motionfield" eval predict --help > /dev/null

# the README's main job, from the checkout (where `data unpack` finds ../shared/data)
data=$("$bin/motionfield" data unpack)
"$bin/motionfield" convert "$data/cmu_bvh/02_01.bvh" --fps 29.97 -o "$work/walk_smpl.npz"
"$bin/motionfield" convert "$data/cmu_bvh/02_01.bvh" --fps 29.97 -o "$work/walk_smpl.bvh"
"$bin/python" - "$work/walk_smpl.npz" "$work/walk_smpl.bvh" <<'EOF'
import sys
import numpy as np
npz, bvh = sys.argv[1:]
with np.load(npz, allow_pickle=False) as motion:
    rotations, root = motion["rotations"], motion["root_translation"]
frames_bvh = int(open(bvh).read().split("Frames:")[1].split()[0])
# 343 frames at 120 fps = 2.85 s -> 86 frames at 29.97 fps, 24 SMPL joints
assert rotations.shape[:2] == (86, 24) and root.shape == (86, 3), (rotations.shape, root.shape)
assert frames_bvh == 86 and np.isfinite(rotations).all(), frames_bvh
print(f"test_wheel_install: 02_01 converted: {frames_bvh} frames in the .npz and the .bvh")
EOF

# the backend and a client round trip (the option before and after the subcommand)
conn=$work/connection.json
"$bin/motionfield" serve --connection-file "$conn" > "$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 600); do [ -s "$conn" ] && break; sleep 0.1; done
[ -s "$conn" ] || { cat "$work/serve.log"; say "the backend wrote no connection file"; exit 1; }
"$bin/motionfield" client ping --connection-file "$conn"
"$bin/motionfield" client --connection-file "$conn" info > "$work/info.json"
"$bin/python" -c 'import json, sys; methods = json.load(open(sys.argv[1]))["methods"]
assert {"convert", "predict"} <= set(methods), methods
print("test_wheel_install: the backend offers", ", ".join(sorted(methods)))' "$work/info.json"
kill "$serve_pid"
wait "$serve_pid" || true
serve_pid=""
say "passed"
