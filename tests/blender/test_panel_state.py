"""The panel's state in real Blender against a real backend: undo never brings a job's row
back (the job state is out of undo's reach), Cancel always frees the panel, a stopped
backend says so in every section with a labelled Start/Stop, and a backend Blender started
ends when Blender does, a crash included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import bpy
import pytest

from addon import operators, panels
from addon.backend import BACKEND
from addon.jobs import JOBS

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """A stand-in for a UILayout that records what a panel's draw puts where."""

    def __init__(self, kind: str = "layout"):
        self.kind, self.items, self.enabled, self.active = kind, [], True, True

    def _child(self, kind: str) -> Recorder:
        child = Recorder(kind)
        self.items.append(child)
        return child

    def box(self):
        return self._child("box")

    def row(self, **_):
        return self._child("row")

    def column(self, **_):
        return self._child("column")

    def label(self, text="", icon="NONE"):
        self.items.append(("label", text))

    def operator(self, idname, text=None, icon="NONE"):
        properties = SimpleNamespace()
        self.items.append(("operator", idname, text, properties))
        return properties

    def prop(self, data, name, text=None, **_):
        self.items.append(("prop", name))

    def progress(self, factor=0.0, type="BAR", text=""):
        self.items.append(("progress", factor, text))

    def walk(self):
        for item in self.items:
            yield from item.walk() if isinstance(item, Recorder) else (item,)


def drawn(context=None) -> Recorder:
    layout = Recorder()
    panels.MOTIONFIELD_PT_main.draw(SimpleNamespace(layout=layout), context or bpy.context)
    return layout


def run_to_end(seconds: float = 60.0) -> None:
    """What the poll timer does in a window, until the add-on's jobs have ended."""
    deadline = time.monotonic() + seconds
    while JOBS.running and time.monotonic() < deadline:
        operators.poll_jobs()
        time.sleep(0.02)
    assert not JOBS.running, "the job did not end"


def window_undo_step(name: str) -> None:
    """What Blender's window manager does after an operator with the UNDO flag (bpy as a
    module does not)."""
    assert bpy.ops.ed.undo_push(message=name) == {"FINISHED"}


def assert_usable(model: dict) -> None:
    assert model["job"] is None
    assert model["state"] == "ready"
    assert model["sections"] and all(s["enabled"] and not s["reason"]
                                     for s in model["sections"]), model["sections"]


@pytest.fixture
def walk_scene(registered, empty_scene, data_root, monkeypatch):
    """The imported walk (as the UI does it: submitted, polled), with undo steps as a
    window records them, and jobs that never block."""
    monkeypatch.setattr(operators, "should_block", lambda: False)
    scene = empty_scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    window_undo_step("start")
    assert bpy.ops.motionfield.import_mocap(
        filepath=str(data_root / "cmu_bvh" / "02_01.bvh")) == {"FINISHED"}
    window_undo_step("Import Mocap onto SMPL")
    run_to_end()
    window_undo_step("motionfield: result")
    return scene


def _activate(name: str):
    obj = bpy.data.objects[name]  # looked up again: undo replaces every datablock
    bpy.context.view_layer.objects.active = obj
    return obj


def test_undo_after_every_operator_leaves_a_usable_panel(walk_scene):
    assert bpy.ops.ed.undo() == {"FINISHED"}  # the import's result
    assert_usable(panels.panel_model(bpy.context))
    assert bpy.ops.ed.redo() == {"FINISHED"}
    for operator, name in ((bpy.ops.motionfield.predict, "Continue Motion"),
                           (bpy.ops.motionfield.fill, "Fill Between Keys")):
        _activate("02_01")
        assert operator() == {"FINISHED"}
        window_undo_step(name)  # this step holds the scene as it was while the job ran
        assert panels.panel_model(bpy.context)["job"] is not None
        run_to_end()
        window_undo_step("motionfield: result")
        assert bpy.ops.ed.undo() == {"FINISHED"}  # Ctrl+Z: the keys go, the row stays gone
        model = panels.panel_model(bpy.context)
        assert_usable(model)
        assert model["message"] == ""  # "keyed ..." named keys that undo removed
        # and the next click is not ignored
        _activate("02_01")
        assert operator() == {"FINISHED"}
        assert panels.panel_model(bpy.context)["job"] is not None
        run_to_end()


def test_undo_during_a_job_shows_that_job_not_the_last_one(walk_scene):
    _activate("02_01")
    assert bpy.ops.motionfield.predict() == {"FINISHED"}
    first = panels.panel_model(bpy.context)["job"]["id"]
    window_undo_step("Continue Motion")
    run_to_end()
    window_undo_step("motionfield: result")
    _activate("02_01")
    assert bpy.ops.motionfield.fill() == {"FINISHED"}
    window_undo_step("Fill Between Keys")
    job = panels.panel_model(bpy.context)["job"]
    assert job["id"] != first and job["percent"] == 0.0 and job["stage"] == "queued"
    assert bpy.ops.ed.undo() == {"FINISHED"}  # Ctrl+Z while the fill runs
    model = panels.panel_model(bpy.context)
    assert model["job"]["id"] == job["id"] and model["state"] == "busy"
    assert all(s["reason"] == "busy: a job is running" for s in model["sections"])
    run_to_end()
    assert_usable(panels.panel_model(bpy.context))


def test_cancel_always_frees_the_panel(walk_scene):
    _activate("02_01")
    assert bpy.ops.motionfield.predict() == {"FINISHED"}
    assert bpy.ops.motionfield.cancel() == {"FINISHED"}
    assert panels.panel_model(bpy.context)["job"]["stage"] == "cancelling"
    # no answer needed: a second click forgets the job
    assert bpy.ops.motionfield.cancel() == {"FINISHED"}
    model = panels.panel_model(bpy.context)
    assert model["job"] is None and model["message"] == "cancelled"
    run_to_end()  # its late events are ignored
    # a backend that died during a job: Cancel frees the panel at once
    _activate("02_01")
    assert bpy.ops.motionfield.predict() == {"FINISHED"}
    BACKEND.process.kill()
    BACKEND.process.wait()
    assert BACKEND.heartbeat() == "dead"
    assert bpy.ops.motionfield.cancel() == {"FINISHED"}
    assert panels.panel_model(bpy.context)["job"] is None
    BACKEND.stop()


def test_a_backend_that_dies_during_a_job_frees_the_panel(walk_scene):
    _activate("02_01")
    assert bpy.ops.motionfield.predict() == {"FINISHED"}
    assert operators.heartbeat() and panels.panel_model(bpy.context)["state"] == "busy"
    BACKEND.process.kill()
    BACKEND.process.wait()
    operators.heartbeat()  # the timer, every 2 s in a window
    model = panels.panel_model(bpy.context)
    assert model["state"] == "dead" and model["job"] is None
    assert model["message"].startswith("backend lost: exited with code")
    assert {s["reason"] for s in model["sections"]} == {"backend dead: restart it"}
    BACKEND.stop()


def test_loading_another_file_cancels_the_running_job(walk_scene):
    _activate("02_01")
    assert bpy.ops.motionfield.predict() == {"FINISHED"}
    job = panels.panel_model(bpy.context)["job"]["id"]
    bpy.ops.wm.read_factory_settings(use_empty=True)  # its objects went with the old file
    model = panels.panel_model(bpy.context)
    assert model["job"] is None and model["message"] == "jobs cancelled: another file was loaded"
    deadline = time.monotonic() + 30
    while BACKEND.client.status(job)["state"] in ("queued", "running") and \
            time.monotonic() < deadline:
        time.sleep(0.05)  # the backend stops a job at its next step
    assert BACKEND.client.status(job)["state"] in ("cancelled", "done")
    assert_usable(model)


def test_stopped_backend_says_so_in_every_section_and_stop_is_labelled(registered,
                                                                       empty_scene):
    BACKEND.stop()
    model = panels.panel_model(bpy.context)
    assert model["state"] == "stopped" and model["backend"] == "Backend: stopped"
    assert model["sections"]
    for section in model["sections"]:
        assert not section["enabled"] and section["reason"] == "stopped: start it"
    layout = drawn()
    backend_box = layout.items[0]
    assert backend_box.items[0] == ("label", "Backend: stopped")  # its own row: never cut
    labels = [item[1] for item in layout.walk() if item[0] == "label"]
    assert labels.count("stopped: start it") == len(model["sections"])
    assert not any("not offered" in text for text in labels)
    buttons = {item[1]: item[2] for item in layout.walk() if item[0] == "operator"}
    assert buttons == {"motionfield.backend_start": "Start"}

    assert bpy.ops.motionfield.backend_start() == {"FINISHED"}
    model = panels.panel_model(bpy.context)
    assert_usable(model)
    assert [s["method"] for s in model["sections"]][:2] == ["convert", "predict"]
    buttons = {item[1]: item[2] for item in drawn().walk() if item[0] == "operator"}
    assert buttons["motionfield.backend_stop"] == "Stop"
    assert {"motionfield.import_mocap", "motionfield.predict", "motionfield.fill"} <= set(buttons)
    assert bpy.ops.motionfield.backend_stop() == {"FINISHED"}
    assert [s["reason"] for s in panels.panel_model(bpy.context)["sections"]] == \
        ["stopped: start it"] * len(model["sections"])


# --------------------------------------------------------------------------- lifetime

# A stand-in for Blender: the add-on registered, a local backend started. "exit" runs the
# interpreter's exit functions as Blender's exit does (bpy as a module then hangs in its own
# teardown with any add-on registered, the old add-on too: hence os._exit after them);
# "crash" is SIGKILL, which runs nothing.
CHILD = textwrap.dedent("""
    import atexit, os, signal, sys
    sys.path.insert(0, {root!r})
    import addon
    from addon.backend import BACKEND
    addon.register()
    BACKEND.start_local("")
    print("backend-pid", BACKEND.process.pid, flush=True)
    sys.stdin.readline()
    if sys.argv[1] == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    atexit._run_exitfuncs()
    print("exited", flush=True)
    os._exit(0)
""")


def _backend_pid(stdout) -> int:
    """The pid the stand-in prints (bpy 5 logs to stdout before it)."""
    for line in stdout:
        if line.startswith("backend-pid "):
            return int(line.split()[1])
    raise AssertionError("the stand-in printed no backend pid")


def _ended(pid: int) -> bool:
    """Whether process `pid` is gone (a zombie nobody reaps counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["exit", "crash"])
def test_the_backend_ends_with_the_blender_that_started_it(how, tmp_path):
    script = tmp_path / "blender_stand_in.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    child = subprocess.Popen([sys.executable, str(script), how], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    backend = None
    try:
        backend = _backend_pid(child.stdout)
        assert not _ended(backend)
        child.stdin.write("\n")
        child.stdin.flush()
        if how == "exit":  # stopped by the exit functions, before Blender has gone
            assert "exited" in [line.strip() for line in child.stdout]  # to its end
            assert _ended(backend), f"backend {backend} still runs after Blender's exit"
            return
        child.wait(timeout=60)  # SIGKILL: no exit functions; the parent watch ends it
        assert child.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while not _ended(backend) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _ended(backend), f"backend {backend} outlived a crashed Blender"
    finally:
        if child.poll() is None:
            child.kill()
        if backend is not None and not _ended(backend):
            os.kill(backend, signal.SIGKILL)  # the test failed: leave no process behind
