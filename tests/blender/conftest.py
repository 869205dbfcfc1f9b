"""Tests inside real Blender (the bpy wheel). Skipped where bpy cannot be imported.

MOTIONFIELD_BACKEND_PYTHON names the Python the add-on starts the backend with when no
preference names one (addon/backend.py; default: this interpreter). The Python 3.13 venvs
of bpy 5.2 and 5.3 have no torch, so scripts/test_blender_versions.sh points it at .venv's
Python 3.11, as a user's Blender (which never has torch) is pointed at their backend's
Python."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

try:
    import bpy
except ImportError:  # the test extra installs bpy==4.5.15; without it these tests are not collected
    bpy = None
collect_ignore_glob = ["test_*.py"] if bpy is None else []
# Without torch (the Python 3.13 venvs) what these tests build cannot be made: the synthetic
# SMPL model (tests/test_smpl_model.py imports motionfield.body.smpl_model: torch, smplx) and
# the synthetic headset tracking (tests/sparse_synth.py: methods/sparse/data, body/tokens).
NEEDS_TORCH = ["test_smpl_mesh.py", "test_sparse_objects.py"]
HAS_TORCH = importlib.util.find_spec("torch") is not None
collect_ignore = [] if HAS_TORCH else NEEDS_TORCH


def pytest_report_header(config):
    python = os.environ.get("MOTIONFIELD_BACKEND_PYTHON") or sys.executable
    lines = [f"Blender {bpy.app.version_string} (Python {sys.version.split()[0]}), "
             f"backend Python {python}"] if bpy is not None else []
    if bpy is not None and not HAS_TORCH:
        lines.append(f"no torch here: not collected: {', '.join(NEEDS_TORCH)}")
    return lines


@pytest.fixture(scope="session", autouse=True)
def backend_python():
    """A named backend Python must exist (the add-on reads the variable itself)."""
    python = os.environ.get("MOTIONFIELD_BACKEND_PYTHON")
    if python and not os.access(python, os.X_OK):
        raise pytest.UsageError(f"MOTIONFIELD_BACKEND_PYTHON={python} is not an executable")
    return python or sys.executable


@pytest.fixture(scope="module")
def registered():
    """The add-on's classes registered for a test module; unregistering stops the backend
    it started."""
    import addon

    addon.register()
    yield
    addon.unregister()


@pytest.fixture
def empty_scene():
    """A factory-settings, empty scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


@pytest.fixture
def imported_walk(registered, empty_scene, data_root):
    """A 30 fps scene with CMU 02_01 (a walk) imported onto a new SMPL armature, active."""
    scene = empty_scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    assert bpy.ops.motionfield.import_mocap(
        filepath=str(data_root / "cmu_bvh" / "02_01.bvh")) == {"FINISHED"}
    obj = bpy.data.objects["02_01"]
    bpy.context.view_layer.objects.active = obj
    return scene, obj


def pytest_sessionfinish(session, exitstatus):
    """bpy as a module can fail after pytest is done, while the process exits: 4.2 crashes
    (SIGSEGV) once an add-on job has run; 4.5.15 hangs for good in a static destructor
    (GlobalState's condition variable destroyed while bpy's delayed_close thread waits on
    it: seen after a full passing suite and after a collection error). Skip that exit and
    leave with pytest's own status, so a crash or hang at exit can neither hide nor fake a
    result."""
    if bpy is not None:
        session.config.add_cleanup(lambda: _exit_now(int(exitstatus)))


def _exit_now(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
