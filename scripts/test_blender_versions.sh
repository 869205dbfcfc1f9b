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

python313() {  # $PYTHON313 if set, else the first working python3.13 on PATH or pyenv's
  local candidates=("${PYTHON313:-}")
  # a pyenv shim on PATH may exist and still fail ("command not found" outside `pyenv global`)
  [ -n "${PYTHON313:-}" ] || candidates=("$(command -v python3.13 || true)" \
    /root/.pyenv/versions/3.13*/bin/python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3.13)
  for python in "${candidates[@]}"; do
    if [ -x "$python" ] && "$python" -c 'import sys; assert sys.version_info[:2] == (3, 13)' \
        2> /dev/null; then
      echo "$python"
      return
    fi
  done
  echo "no working Python 3.13 for bpy 5.2/5.3 (tried: ${candidates[*]}): set PYTHON313" >&2
  return 1
}

venv_for() {  # version python: prints the venv's folder (all else to stderr)
  local venv=".venv-bpy$1"
  [ -x "$venv/bin/python" ] || "$2" -m venv "$venv" >&2
  "$venv/bin/pip" install -q --upgrade pip >&2
  echo "$venv"
}

# Rigify's own IK bake takes a second a frame (it searches the pole angle, re-evaluating the
# 700-bone rig each step): its test runs on 4.5 (scripts/test.sh), the oldest and the newest
IK_BAKE_ON=(4.2 5.3)

run_tests() {  # venv version
  local skip=()
  [[ " ${IK_BAKE_ON[*]} " == *" $2 "* ]] ||
    skip=(--deselect tests/blender/test_rigify.py::test_ik_bake_keeps_the_pose_and_the_feet)
  "$1/bin/python" -c 'import bpy, sys, importlib.util as u
print(f"Blender {bpy.app.version_string} on Python {sys.version.split()[0]}" + (
    "" if u.find_spec("torch") else
    ": no torch (tests/blender/conftest.py leaves out the tests needing it)"))'
  "$1/bin/python" -m pytest -q -p no:cacheprovider tests/blender "${skip[@]}" || failed+=("$(basename "$1")")
}

failed=()  # every version runs; the script fails at the end if any did

[ -x "$BACKEND_PYTHON" ] || { echo "no $BACKEND_PYTHON: run scripts/test.sh first" >&2; exit 1; }
for version in "${VERSIONS_311[@]}"; do
  venv=$(venv_for "$version" "$PY311")
  "$venv/bin/pip" install -q -e . pytest "bpy==$version.*"
  run_tests "$venv" "$version"
done

PY313=$(python313)
pyzmq=$("$BACKEND_PYTHON" -c 'from motionfield.addon_build import ADDON_PYZMQ; print(ADDON_PYZMQ)')
for version in "${VERSIONS_313[@]}"; do
  venv=$(venv_for "$version" "$PY313")
  # the add-on's own pyzmq, for the tests that run the add-on from the source tree
  "$venv/bin/pip" install -q pytest "bpy==$version.*" scipy "pyzmq==$pyzmq"
  "$venv/bin/pip" install -q --no-deps -e .
  MOTIONFIELD_BACKEND_PYTHON=$BACKEND_PYTHON run_tests "$venv" "$version"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "tests/blender failed in: ${failed[*]}" >&2
  exit 1
fi
