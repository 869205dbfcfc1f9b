#!/usr/bin/env bash
# The add-on's real-Blender tests (tests/blender) on the Blender versions the extension
# supports, each bpy in its own venv (.venv-bpyX): 4.2 LTS (legacy actions) and 5.0 (slotted
# actions only) on Python 3.11; 5.2 LTS and 5.3 on Python 3.13 (bpy 5.1+ wheels are cp313
# only). scripts/test.sh covers 4.5 (the test extra). Run by CI after scripts/test.sh, which
# set up .venv.
#
# torch has no CPU wheel for Python 3.13 here (a plain install pulls a multi-GB CUDA build),
# so a 3.13 venv gets bpy, pytest and the backend's pure-numpy modules (motionfield without
# its dependencies) and the tests start the backend with .venv's Python 3.11
# (MOTIONFIELD_BACKEND_PYTHON), as a user's Blender starts theirs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY311=${PYTHON:-python3.11}
VERSIONS_311=(4.2 5.0)
VERSIONS_313=(5.2 5.3)
BACKEND_PYTHON=$PWD/.venv/bin/python

python313() {  # PYTHON313, else python3.13 on PATH, else pyenv's
  local found=${PYTHON313:-}
  [ -n "$found" ] || found=$(command -v python3.13 || true)
  [ -n "$found" ] || found=$(ls /root/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)
  if [ -z "$found" ] || ! "$found" -c 'import sys; assert sys.version_info[:2] == (3, 13)'; then
    echo "no Python 3.13 for bpy 5.2/5.3: set PYTHON313=/path/to/python3.13" >&2
    return 1
  fi
  echo "$found"
}

venv_for() {  # version python
  local venv=".venv-bpy$1"
  [ -x "$venv/bin/python" ] || "$2" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  echo "$venv"
}

run_tests() {  # venv
  "$1/bin/python" -m pytest -q -p no:cacheprovider tests/blender
}

[ -x "$BACKEND_PYTHON" ] || { echo "no $BACKEND_PYTHON: run scripts/test.sh first" >&2; exit 1; }
for version in "${VERSIONS_311[@]}"; do
  venv=$(venv_for "$version" "$PY311")
  "$venv/bin/pip" install -q -e . pytest "bpy==$version.*"
  run_tests "$venv"
done

PY313=$(python313)
pyzmq=$("$BACKEND_PYTHON" -c 'from motionfield.addon_build import ADDON_PYZMQ; print(ADDON_PYZMQ)')
for version in "${VERSIONS_313[@]}"; do
  venv=$(venv_for "$version" "$PY313")
  # the add-on's own pyzmq, for the tests that run the add-on from the source tree
  "$venv/bin/pip" install -q pytest "bpy==$version.*" scipy "pyzmq==$pyzmq"
  "$venv/bin/pip" install -q --no-deps -e .
  MOTIONFIELD_BACKEND_PYTHON=$BACKEND_PYTHON run_tests "$venv"
done
