"""The add-on in a real Blender 4.3 window, driven by keys as an animator drives it: one check
per behaviour of issue 26's add-on bullet. Screenshots of each land in
$MOTIONFIELD_REAL_WINDOW_OUT (default /tmp/motionfield_real_window)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from harness import HarnessError, RealBlender  # scripts/real_window, put on the path by conftest

ROOT = Path(__file__).resolve().parents[2]

def texts(calls: list[dict]) -> list[str]:
    return [str(c["kwargs"].get("text", "")) for c in calls]


def test_stopped_backend_says_start_it(animator):
    model = animator.panel()
    shown = texts(animator.draw_calls())
    animator.shot("stopped_backend")
    assert model["state"] == "stopped"
    assert not [t for t in shown if "not offered" in t], \
        f"a stopped backend reads as methods not offered: {shown}"
    assert [t for t in shown if "start it" in t.lower()], f"no 'stopped: start it': {shown}"


def test_stop_button_is_labelled(animator):
    animator.start_backend()
    stop = [c for c in animator.draw_calls()
            if c["call"] == "operator" and c["args"][:1] == ["motionfield.backend_stop"]]
    animator.shot("backend_ready")
    assert stop, "no stop button while the backend runs"
    # no text= gives the operator's own label; text="" draws the bare icon
    assert stop[0]["kwargs"].get("text") != "", f"the stop button has no label: {stop[0]}"


def test_undo_after_import_leaves_a_usable_panel(animator):
    name = animator.import_mocap("02_01")
    animator.blender.undo()
    time.sleep(1.0)
    animator.shot("import_then_undo")
    problems = [] if name not in animator.objects() else ["Ctrl+Z left the import in place"]
    problems += animator.unusable("Import Mocap, then Ctrl+Z")
    animator.import_mocap("02_01")  # a new job runs and ends
    problems += animator.unusable("a new import after the undo")
    assert not problems, "\n".join(problems)


def _changed_keys(before: dict, after: dict, last_frame: float) -> list[str]:
    """What differs at or before `last_frame`: keys (frame, value, interpolation, handles)
    and the curve's values on those frames."""
    changes = []
    for label, keys in before.items():
        if label.startswith("curve@"):
            if after[label][:len(keys)] != keys:
                changes.append(f"{label[6:]}: the curve moved between earlier keys")
            continue
        kept = [k for k in after[label] if k[0] <= last_frame]
        if len(kept) != len(keys):
            changes.append(f"{label}: {len(keys)} keys up to frame {last_frame}, now {len(kept)}")
            continue
        for old, new in zip(keys, kept):
            if old != new:
                what = "value" if old[:3] != new[:3] else "handles"
                changes.append(f"{label} frame {old[0]}: {what} {old[1:]} -> {new[1:]}")
    return changes


def _last_frame(keys: dict) -> float:
    return max(k[-1][0] for label, k in keys.items() if not label.startswith("curve@"))


def _key_count(animator, name: str) -> int:
    return animator.blender.eval(
        f"sum(len(c.keyframe_points) for c in action_curves("
        f"bpy.data.objects[{name!r}].animation_data.action))")


def _run_and_wait_for_keys(animator, label: str, name: str) -> None:
    """Run a predict operator through F3 and wait until its keys land and the row is gone."""
    count = _key_count(animator, name)
    animator.blender.run_operator(label)
    animator.blender.wait_until(
        f"sum(len(c.keyframe_points) for c in action_curves(bpy.data.objects[{name!r}]"
        f".animation_data.action)) > {count} and panel()['job'] is None", timeout=90)


def _set_frame_rate(animator, fps: int, base: float) -> None:
    """The scene's frame rate (Output properties), before importing."""
    animator.blender.exec(f"s = bpy.context.window_manager.windows[0].scene\n"
                          f"s.render.fps, s.render.fps_base = {fps}, {base}")


@pytest.mark.parametrize("fps,base", [(30, 1.0), (30000, 1001.0)], ids=["30fps", "29.97fps"])
def test_continue_motion_keeps_every_earlier_key_and_undo_leaves_a_usable_panel(
        animator, fps, base):
    _set_frame_rate(animator, fps, base)
    name = animator.import_mocap("02_01")
    before = animator.keys(name)
    last = _last_frame(before)
    _run_and_wait_for_keys(animator, "Continue Motion", name)
    after = animator.keys(name)
    animator.shot("continue_motion_done")
    changes = _changed_keys(before, after, last)
    values = [c for c in changes if ": value " in c or " keys up to frame " in c]
    problems = [f"Continue Motion changed earlier keys: {len(values)} values (or counts), "
                f"{len(changes) - len(values)} handles or curves; {(values or changes)[:2]}"
                ] if changes else []
    if _last_frame(after) <= last:
        problems.append("nothing keyed after the last key")

    animator.blender.undo()
    time.sleep(1.0)
    animator.shot("continue_motion_then_undo")
    if animator.keys(name) != before:
        problems.append("Ctrl+Z did not bring the keys back")
    problems += animator.unusable("Continue Motion, then Ctrl+Z")
    _run_and_wait_for_keys(animator, "Continue Motion", name)  # a new job runs and ends
    problems += animator.unusable("a new Continue Motion after the undo")
    assert not problems, "\n".join(problems)


THIN_KEYS = """
obj = bpy.data.objects[{name!r}]
for curve in action_curves(obj.animation_data.action):
    points = curve.keyframe_points
    for i in reversed(range(len(points))):
        if round(points[i].co[0] - 1) % 6:
            points.remove(points[i], fast=True)
    curve.update()
"""


def test_undo_after_fill_between_keys_leaves_a_usable_panel(animator):
    name = animator.import_mocap("02_01")
    animator.blender.exec(THIN_KEYS.format(name=name))  # keys 200 ms apart, as if posed
    before = animator.keys(name)
    _run_and_wait_for_keys(animator, "Fill Between Keys", name)
    animator.blender.undo()
    time.sleep(1.0)
    animator.shot("fill_then_undo")
    problems = [] if animator.keys(name) == before else ["Ctrl+Z did not bring the keys back"]
    problems += animator.unusable("Fill Between Keys, then Ctrl+Z")
    _run_and_wait_for_keys(animator, "Fill Between Keys", name)
    problems += animator.unusable("a new Fill Between Keys after the undo")
    assert not problems, "\n".join(problems)


MARKER = "real_window_marker"


def test_undo_during_a_job_does_not_bring_back_an_old_job(animator):
    animator.import_mocap("02_01")
    # a mark the next undo step holds and the one before lacks (set without an undo push),
    # so its going shows the Ctrl+Z was undone while the job ran
    animator.blender.exec(f"bpy.data.scenes[0][{MARKER!r}] = 1")
    animator.start_sampling()
    animator.import_mocap("long", wait=False)
    running = animator.blender.wait_until("panel()['job']", timeout=30, every=0.02)["id"]
    animator.blender.key("ctrl+z")  # the pointer is on the viewport, where the browser was
    undone_at = animator.blender.wait_until(
        f"{MARKER!r} not in bpy.data.scenes[0] and __import__('time').monotonic()",
        timeout=10, every=0.02)
    animator.shot("undo_during_job")
    animator.blender.wait_until("panel()['job'] is None", timeout=90)
    samples = animator.stop_sampling()
    after_undo = [s["objects"] for s in samples if s["t"] > undone_at]
    assert after_undo[-1] > after_undo[0], \
        "the import had landed before the undo: nothing was checked"
    rows = {s["job"]["id"] for s in samples if s["job"]}
    assert rows <= {running}, f"Ctrl+Z during job {running} showed other jobs' rows: {rows}"
    animator.assert_usable("Ctrl+Z during a job, once it ended")


SHORTEST_JOB_WITH_STEPS = 1.0  # seconds a job's row shows before its percentage must move


def _job_problems(samples: list[dict], job: str) -> list[str]:
    rows = [s for s in samples if s["job"]]
    if not rows:
        return [f"{job}: the job row never showed"]
    problems = []
    first = rows[0]["job"]
    if first["stage"] == "done":
        problems.append(f"{job}: the new job first showed the last job's end: {first}")
    shown = rows[-1]["t"] - rows[0]["t"]
    # a job over in a blink may end before any step: 0% is then all there was to show
    if max(s["job"]["percent"] for s in rows) <= 0 and shown >= SHORTEST_JOB_WITH_STEPS:
        problems.append(f"{job}: progress stayed at 0 through {len(rows)} samples over "
                        f"{shown:.2f} s; stages {_stages(rows)}")
    states = sorted({s["state"] for s in rows[1:]})
    if states != ["busy"]:
        problems.append(f"{job}: state while the job ran: {states} (expected busy)")
    return problems


def _stages(rows: list[dict]) -> list[str]:
    """The stages shown, in order, each with when it first showed (s from the first row)."""
    out, start = [], rows[0]["t"]
    for row in rows:
        shown = f"{row['job']['stage']!r} {row['job']['percent']:.0f}%"
        if not out or not out[-1].startswith(shown):
            out.append(f"{shown} at {row['t'] - start:.2f} s")
    return out


def test_progress_moves_and_state_is_busy_during_an_import(animator):
    animator.start_sampling()
    animator.import_mocap("long")  # 7,080 frames: its convert job takes about a second
    problems = _job_problems(animator.stop_sampling(), "Import Mocap")
    assert not problems, "\n".join(problems)


def test_progress_moves_and_state_is_busy_during_continue_motion(animator):
    """The issue's case. The panel can only show what the predict job reports."""
    _set_frame_rate(animator, 30, 1.0)
    name = animator.import_mocap("02_01")
    animator.start_sampling()
    _run_and_wait_for_keys(animator, "Continue Motion", name)
    problems = _job_problems(animator.stop_sampling(), "Continue Motion")
    assert not problems, "\n".join(problems)


def _undo_with_proof(animator) -> None:
    """Ctrl+Z, shown to have been undone by a mark set since the last undo step."""
    animator.blender.exec(f"bpy.data.scenes[0][{MARKER!r}] = 1")
    animator.blender.undo()
    animator.blender.wait_until(f"{MARKER!r} not in bpy.data.scenes[0]", timeout=10)
    time.sleep(0.5)


def test_undo_after_stop_and_start_backend_leaves_a_usable_panel(animator):
    animator.blender.run_operator("Stop Backend")
    animator.blender.wait_until("panel()['state'] == 'stopped'", timeout=30)
    _undo_with_proof(animator)
    animator.shot("stop_backend_then_undo")
    model = animator.panel()
    assert model["job"] is None and model["state"] == "stopped", model
    animator.start_backend()
    _undo_with_proof(animator)
    animator.shot("start_backend_then_undo")
    animator.assert_usable("Start Backend, then Ctrl+Z")
    animator.import_mocap("02_01")
    animator.assert_usable("a new import after the undo")


def _alive(pid: int) -> bool:
    """Running (a zombie counts as ended: it has exited and waits to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_backend_started_by_blender_ends_when_blender_is_killed(workdir, installed,
                                                                backend_source):
    with RealBlender(workdir / "kill", display=78, backend_source=backend_source) as blender:
        blender.start_display()
        installed(blender)
        blender.configure(python=str(ROOT / ".venv/bin/python"))
        blender.launch()
        blender.run_operator("Start Backend")
        blender.wait_until("panel()['state'] == 'ready'", timeout=120)
        pid = blender.eval("addon_module('backend').BACKEND.process.pid")
        assert _alive(pid)
        blender.kill_blender()
        deadline = time.monotonic() + 5.0
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        still_running = _alive(pid)
        if still_running:
            os.kill(pid, signal.SIGKILL)  # the orphan this check made
        assert not still_running, f"backend {pid} still runs 5 s after Blender was killed"


def test_the_built_zip_installs_and_enables_on_python_313(workdir, extension_zip):
    blender = RealBlender(workdir / "install")
    try:
        blender.install_extension(extension_zip)
    except HarnessError as e:
        pytest.fail(str(e))
    done = blender.blender_batch(
        "--python-expr",
        "import addon_utils, sys\n"
        "addon_utils.enable('bl_ext.user_default.motionfield', default_set=True)\n"
        "import zmq\n"
        "print('PYTHON', sys.version_info[:2], 'ZMQ', zmq.__file__)\n")
    line = next((x for x in done.stdout.splitlines() if x.startswith("PYTHON")), done.stdout)
    assert "(3, 13)" in line and "/extensions/.local/" in line, line
