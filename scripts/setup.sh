#!/usr/bin/env bash
# Set motionfield up in .venv (Python 3.11: bpy 4.5 needs it) and run the main job on
# shipped defaults: unpack the motion archives and import a BVH onto SMPL at 29.97 fps.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e .
data=$(.venv/bin/motionfield data unpack)
mkdir -p out
.venv/bin/motionfield convert "$data/cmu_bvh/02_01.bvh" --fps 29.97 -o out/walk_smpl.npz --force
.venv/bin/motionfield convert "$data/cmu_bvh/02_01.bvh" --fps 29.97 -o out/walk_smpl.bvh --force
