"""The split between halves: the backend never imports bpy; what the add-on bundles
(protocol, client) never imports torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import motionfield


def _import_with_blocked(blocked: str, modules: list[str]) -> subprocess.CompletedProcess:
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"
            f"import importlib\nfor m in {modules!r}: importlib.import_module(m)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_no_backend_module_needs_bpy():
    names = [m.name for m in pkgutil.walk_packages(motionfield.__path__, "motionfield.")]
    assert "motionfield.io.retarget" in names and "motionfield.server.app" in names
    done = _import_with_blocked("bpy", names)
    assert done.returncode == 0, done.stderr


def test_protocol_and_client_work_without_torch():
    done = _import_with_blocked("torch", ["motionfield.protocol", "motionfield.client"])
    assert done.returncode == 0, done.stderr


def test_the_registry_and_every_job_schema_load_without_torch():
    """`info` answers from a server that has not loaded torch (a method loads it in its job)."""
    code = ("import sys\nfrom motionfield import methods\nimport motionfield.server.app\n"
            "types = methods.job_types()\nassert {'convert', 'predict'} <= set(types)\n"
            "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_job_returns_no_more_frames_than_a_motion_file_holds():
    """The bound is stated twice (see methods/results.py); the two must agree."""
    from motionfield import motion
    from motionfield.methods import results

    assert results.MAX_FRAME_JOINTS == motion.MAX_FRAME_JOINTS
