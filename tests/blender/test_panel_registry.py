"""The panel drawn from the schema: a method defined in this file, registered with
`motionfield.methods.register` and served by a real in-process server, gets its section,
its settings (with the schema's bounds) and a Run button that puts its motion on a new
SMPL armature; progress shows as a real percentage and "busy" while it runs. Continue
Motion's own limits are the predict job's."""

from __future__ import annotations

import threading
import time

import bpy
import numpy as np
import pytest

from addon import operators, panels, schema
from addon.backend import BACKEND
from addon.jobs import JOBS
from motionfield import methods
from motionfield.body.skeleton import SMPL_JOINT_NAMES, smpl_skeleton
from motionfield.client import Client
from motionfield.methods.results import motion_arrays, motion_content
from motionfield.motion import Motion
from motionfield.protocol import new_key, write_connection_file
from motionfield.server.app import Server
from motionfield.server.jobs import JobType, Param

SHOULDER = SMPL_JOINT_NAMES.index("right_shoulder")
STEPS = 4


def sway_angle(times: np.ndarray, degrees: float) -> np.ndarray:
    """The right shoulder's angle about Z (radians): one sway a second."""
    return np.radians(degrees) * np.sin(2 * np.pi * times)


def _sway(params: dict, arrays: dict, progress):
    for step in range(STEPS):  # slow enough that the panel sees each step
        progress(step, STEPS, f"swaying {step}")
        time.sleep(params["pause"])
    count = int(round(params["seconds"] * params["fps"])) + 1
    times = np.arange(count) / params["fps"]
    half = sway_angle(times, params["degrees"]) / 2
    rotations = np.zeros((count, 24, 4))
    rotations[..., 0] = 1.0
    rotations[:, SHOULDER] = np.stack([np.cos(half), 0 * half, 0 * half, np.sin(half)], -1)
    standing = np.tile([0.0, 0.95, 0.0], (count, 1))
    motion = Motion(rotations, standing, times, smpl_skeleton(), params["fps"])
    progress(STEPS, STEPS, "done")
    return motion_content(motion), motion_arrays(motion)


JOB = JobType(
    name="sway",
    label="Sway",
    help="test only: the right arm sways, once a second",
    params={
        "seconds": Param("number", "how long", default=1.0, minimum=0.1, maximum=8.0),
        "degrees": Param("number", "how far the arm swings", default=30.0, minimum=-90.0,
                         maximum=90.0),
        "pause": Param("number", "seconds each step waits", default=0.0, minimum=0.0,
                       maximum=1.0),
        "repeats": Param("integer", "unused here", default=2, minimum=1, maximum=12),
        "side": Param("string", "which arm", default="right", choices=("left", "right")),
        "mirror": Param("boolean", "unused here", default=False),
        "seed": Param("integer", "optional, no default", optional=True, minimum=0,
                      maximum=999),
        "fps": Param("number", "output framerate", minimum=1.0, maximum=240.0, panel=False),
    },
    run=_sway,
)


@pytest.fixture
def served(registered, empty_scene, tmp_path):
    """The add-on connected to an in-process server that offers `sway` too."""
    methods.register("sway", __name__)
    key = new_key()
    server = Server("tcp://127.0.0.1:0", key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    BACKEND.stop()  # a backend an earlier test started
    connection = write_connection_file(tmp_path / "backend.json", server.address, key)
    BACKEND.connect(connection)
    yield server
    BACKEND.stop()  # disconnects: this Blender did not start it
    with Client.from_connection_file(connection) as client:
        client.shutdown()
    thread.join(timeout=10)
    methods.unregister("sway")


def test_a_registered_method_gets_its_section_settings_and_run(served):
    model = panels.panel_model(bpy.context)
    sections = {s["method"]: s for s in model["sections"]}
    assert list(sections) == methods.names()  # the registry's order
    assert sections["sway"] == {"method": "sway", "label": "Sway", "help": JOB.help,
                                "enabled": True, "reason": ""}
    group = schema.settings(bpy.context, "sway")
    for name in ("seconds", "degrees", "pause", "repeats", "seed"):
        spec = JOB.params[name]
        assert schema.bounds("sway", name) == pytest.approx((spec.minimum, spec.maximum))
    assert group.p_seconds == pytest.approx(1.0) and group.p_repeats == 2
    assert group.p_side == "right" and group.p_mirror is False and not group.use_seed
    assert not hasattr(group, "p_fps")  # panel: False, the add-on fills it
    assert schema.params_from(group, BACKEND.methods["sway"]) == {
        "seconds": 1.0, "degrees": 30.0, "pause": 0.0, "repeats": 2, "side": "right",
        "mirror": False}
    with pytest.raises(TypeError):
        group.p_side = "both"  # not a choice
    group.p_degrees = 500.0
    assert group.p_degrees == 90.0  # the schema's maximum holds
    group.use_seed, group.p_seed = True, 7
    assert schema.params_from(group, BACKEND.methods["sway"])["seed"] == 7

    group.p_seconds, group.p_degrees = 2.0, -40.0
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    assert bpy.ops.motionfield.run(method="sway") == {"FINISHED"}
    obj = bpy.data.objects["sway"]
    assert obj.type == "ARMATURE" and len(obj.pose.bones) == 24
    from addon.predict import keyed_frames, read_smpl_poses

    frames, _ = keyed_frames(obj)
    np.testing.assert_allclose(frames, 1 + np.arange(49), atol=1e-3)  # 2 s at 24 fps
    rotations, _ = read_smpl_poses(scene, obj, frames)
    q = rotations[:, SHOULDER]
    angle = 2 * np.arctan2(q[:, 3] * np.sign(q[:, 0]), np.abs(q[:, 0]))
    np.testing.assert_allclose(angle, sway_angle((frames - 1) / 24, -40.0), atol=1e-4)

    # the section's Run button, drawn for a method the add-on never heard of
    from test_panel_state import drawn

    runs = [item for item in drawn().walk() if item[:2] == ("operator", "motionfield.run")]
    assert [(text, props.method) for _, _, text, props in runs] == [("Run Sway", "sway")]


def test_progress_is_a_real_percentage_and_the_state_busy(served, monkeypatch):
    monkeypatch.setattr(operators, "should_block", lambda: False)
    group = schema.settings(bpy.context, "sway")
    group.p_pause = 0.15
    assert bpy.ops.motionfield.run(method="sway") == {"FINISHED"}
    job = panels.panel_model(bpy.context)["job"]
    assert (job["percent"], job["stage"]) == (0.0, "queued")
    seen = []
    while JOBS.running:
        operators.poll_jobs()
        model = panels.panel_model(bpy.context)
        if model["job"] is not None:
            seen.append((model["job"]["percent"], model["job"]["stage"], model["state"]))
        time.sleep(0.02)
    assert JOBS.message == "keyed sway on sway"
    percents = [p for p, _, _ in seen]
    assert percents == sorted(percents)
    assert {25.0, 50.0, 75.0} <= set(percents), seen
    assert {state for _, _, state in seen} == {"busy"}
    assert panels.panel_model(bpy.context)["state"] == "ready"

    # the next job starts at 0 with its own stage, not the last one's "done"
    assert bpy.ops.motionfield.run(method="sway") == {"FINISHED"}
    assert panels.panel_model(bpy.context)["job"]["percent"] == 0.0
    assert panels.panel_model(bpy.context)["job"]["stage"] == "queued"
    while JOBS.running:
        operators.poll_jobs()
        time.sleep(0.02)


def test_stopping_removes_the_settings_and_continue_motion_keeps_the_schemas_bounds(served):
    predict = BACKEND.methods["predict"]["params"]["seconds"]
    seconds = bpy.ops.motionfield.predict.get_rna_type().properties["seconds"]
    assert (seconds.hard_min, seconds.hard_max) == pytest.approx(
        (predict["minimum"], predict["maximum"]))
    assert schema.bounds("predict", "seconds") == (seconds.hard_min, seconds.hard_max)
    assert hasattr(bpy.types.WindowManager, "motionfield_sway")
    BACKEND.stop()
    assert not hasattr(bpy.types.WindowManager, "motionfield_sway")
    assert not hasattr(bpy.types, "MOTIONFIELD_PG_sway")
    sections = panels.panel_model(bpy.context)["sections"]
    assert "sway" in [s["method"] for s in sections]  # listed, as the last backend had it
    assert {s["reason"] for s in sections} == {"stopped: start it"}
