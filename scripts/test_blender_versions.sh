#!/usr/bin/env bash
# The add-on's real-Blender tests on the oldest and newest Blender the extension supports
# (4.2 LTS: legacy actions; 5.0: slotted actions only), each in its own venv (.venv-bpyX).
# scripts/test.sh covers 4.5.15 (the test extra). Run by CI after scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
for version in 4.2 5.0; do
  venv=".venv-bpy$version"
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -e . pytest "bpy==$version.*"
  echo "Blender $("$venv/bin/python" -c 'import bpy; print(bpy.app.version_string)')"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/blender
done
