"""Text to Motion in real Blender against a real backend: each variation lands as its own
Action on one armature, keyed at the scene's 29.97 fps and equal to what the job returned;
flipping assigns another variation (and undo takes it back); Cancel ends a generation with
nothing keyed; a result can land on the selected armature.

The model is the shipped checkpoint, served by the backend process the add-on starts; until
it is built, a tiny one (tests/text2motion_tiny.py) served by an in-process server. One
backend for the module: loading MiniLM takes ~7 s.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache

import bpy
import numpy as np
import pytest
import text2motion_tiny
from test_panel_state import drawn, run_to_end, window_undo_step

from addon import operators, panels, text2motion
from addon.backend import BACKEND
from addon.jobs import JOBS
from addon.predict import read_smpl_poses

PROMPT = "a person waves happily"
ARMATURE = f"t2m: {PROMPT}"


@pytest.fixture(scope="module")
def backend(registered, data_root, tmp_path_factory):
    """The add-on connected to a backend serving text2motion (see the module's docstring)."""
    path, is_shipped = text2motion_tiny.model_path(tmp_path_factory.mktemp("t2m"), data_root)
    BACKEND.stop()  # a backend an earlier module started
    if is_shipped:
        operators.ensure_backend(bpy.context)  # the add-on's own `motionfield serve`
        yield "the shipped model"
        BACKEND.stop()
        return
    from motionfield.client import Client
    from motionfield.methods.text2motion import infer
    from motionfield.methods.text2motion import job as t2m_job
    from motionfield.protocol import new_key, write_connection_file
    from motionfield.server.app import Server

    patch = pytest.MonkeyPatch()
    patch.setattr(t2m_job, "_model", lru_cache(1)(lambda: infer.load(path)))
    key = new_key()
    server = Server("tcp://127.0.0.1:0", key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    connection = write_connection_file(path.parent / "backend.json", server.address, key)
    BACKEND.connect(connection)
    yield "a tiny model"
    BACKEND.stop()  # disconnects: this Blender did not start it
    with Client.from_connection_file(connection) as client:
        client.shutdown()
    thread.join(timeout=10)
    patch.undo()


@pytest.fixture
def scene(backend, empty_scene):
    empty_scene.render.fps, empty_scene.render.fps_base = 30, 1.001  # 29.97
    return empty_scene


def _params(**kw) -> dict:
    return {"prompt": PROMPT, "seconds": 2.0, "variations": 3, "seed": 0, **kw}


def _keyed_frames(action) -> np.ndarray:
    curves = (action.layers[0].strips[0].channelbags[0].fcurves if hasattr(action, "layers")
              else action.fcurves)
    return np.array([k.co[0] for k in curves[0].keyframe_points])


def _assert_shows(scene, obj, expected: np.ndarray) -> None:
    """The armature's evaluated SMPL rotations at every frame are `expected` (T, 24, 4),
    up to the quaternions' sign."""
    frames = 1.0 + np.arange(len(expected))
    shown, _ = read_smpl_poses(scene, obj, frames)
    dots = np.abs(np.sum(shown * expected, axis=-1))
    np.testing.assert_allclose(dots, 1.0, atol=2e-4)


def test_a_cancel_ends_the_generation_with_nothing_keyed(scene, monkeypatch):
    """First in the module: the backend has not loaded the model yet, so the cancel lands
    while it loads and the job stops at the sampler's first step."""
    monkeypatch.setattr(operators, "should_block", lambda: False)
    assert bpy.ops.motionfield.text2motion(**_params(seconds=10.0, variations=8)) == \
        {"FINISHED"}
    job = JOBS.current()
    assert job is not None and job.method == "text2motion"
    deadline = time.monotonic() + 30
    while job.stage == "queued" and time.monotonic() < deadline:
        operators.poll_jobs()
        time.sleep(0.02)
    assert bpy.ops.motionfield.cancel() == {"FINISHED"}
    run_to_end()
    assert JOBS.message == "cancelled"
    assert BACKEND.client.status(job.id)["state"] == "cancelled"
    assert not [a for a in bpy.data.actions if a.get(text2motion.GROUP)]
    assert ARMATURE not in bpy.data.objects
    # the backend goes on
    assert bpy.ops.motionfield.text2motion(**_params(variations=1)) == {"FINISHED"}
    run_to_end()
    assert JOBS.message.startswith("keyed 1 variations"), JOBS.message


def test_each_variation_is_an_action_keyed_at_the_scene_rate(scene):
    assert bpy.ops.motionfield.text2motion(**_params()) == {"FINISHED"}
    obj = bpy.data.objects[ARMATURE]
    actions = text2motion.variations(obj)
    assert [a.name for a in actions] == [f"t2m: {PROMPT} #{k}" for k in (1, 2, 3)]
    assert obj.animation_data.action == actions[0]
    for action in actions:
        # 2 s at 29.97 fps: 60 keys, one on every scene frame from 1
        np.testing.assert_allclose(_keyed_frames(action), 1 + np.arange(60), atol=1e-3)
        assert action.use_fake_user  # kept in the file while not assigned
        assert action[text2motion.PROMPT] == PROMPT
        if hasattr(action, "slots"):  # slotted actions, 4.4+: one slot, the armature's name
            assert [slot.name_display for slot in action.slots] == [ARMATURE]
    # what the job returned for the same request, variation by variation
    fps = 30 / 1.001
    result = BACKEND.client.run("text2motion", {**_params(), "fps": fps})
    expected = result.arrays["rotations"]
    _assert_shows(scene, obj, expected[0])
    assert panels.panel_model(bpy.context)["variation"] == {
        "object": ARMATURE, "number": 1, "count": 3}

    # flipping: next, back twice (wrapping around), and by number
    assert bpy.ops.motionfield.text2motion_variation(step=1) == {"FINISHED"}
    assert obj.animation_data.action == actions[1]
    _assert_shows(scene, obj, expected[1])
    labels = [item[1] for item in drawn().walk() if item[0] == "label"]
    assert "Variation 2 of 3" in labels
    bpy.ops.motionfield.text2motion_variation(step=-1)
    bpy.ops.motionfield.text2motion_variation(step=-1)
    assert obj.animation_data.action == actions[2]
    _assert_shows(scene, obj, expected[2])
    bpy.ops.motionfield.text2motion_variation(number=1)
    assert obj.animation_data.action == actions[0]
    with pytest.raises(RuntimeError, match="there are 3"):
        bpy.ops.motionfield.text2motion_variation(number=4)
    # with another Action assigned, back goes to the last variation
    text2motion.show(obj, bpy.data.actions.new("by hand"))
    assert text2motion.current(obj) == (0, 3)
    bpy.ops.motionfield.text2motion_variation(step=-1)
    assert obj.animation_data.action == actions[2]


def test_undo_takes_a_flip_back(scene):
    window_undo_step("start")
    assert bpy.ops.motionfield.text2motion(**_params(variations=2)) == {"FINISHED"}
    window_undo_step("Generate")
    assert bpy.ops.motionfield.text2motion_variation(step=1) == {"FINISHED"}
    window_undo_step("Variation")
    assert bpy.data.objects[ARMATURE].animation_data.action.name.endswith("#2")
    bpy.ops.ed.undo()
    obj = bpy.data.objects[ARMATURE]  # looked up again: undo replaces every datablock
    assert obj.animation_data.action.name.endswith("#1")
    assert text2motion.current(obj) == (1, 2)
    bpy.ops.ed.undo()
    assert ARMATURE not in bpy.data.objects


def test_a_generation_lands_on_the_selected_armature(scene):
    assert bpy.ops.motionfield.text2motion(**_params(variations=1, seed=3)) == {"FINISHED"}
    rig = bpy.data.objects[ARMATURE]
    bpy.context.view_layer.objects.active = rig
    scene.motionfield.target = "SELECTED"
    assert bpy.ops.motionfield.text2motion(**_params(variations=2, seed=5)) == {"FINISHED"}
    assert len(bpy.data.objects) == 1  # no new armature
    actions = text2motion.variations(rig)
    assert len(actions) == 2 and rig.animation_data.action == actions[0]
    assert all(a.get("motionfield_retarget") for a in actions)  # retargeted, as imports are
    result = BACKEND.client.run("text2motion", {**_params(variations=2, seed=5),
                                                "fps": 30 / 1.001})
    _assert_shows(scene, rig, result.arrays["rotations"][0])


def test_the_operator_takes_the_jobs_bounds_and_defaults(backend):
    from motionfield.methods.text2motion.job import MAX_PROMPT

    params = BACKEND.methods["text2motion"]["params"]
    rna = bpy.ops.motionfield.text2motion.get_rna_type().properties
    for name in ("seconds", "variations", "seed", "guidance"):
        prop = rna[name]
        assert (prop.hard_min, prop.hard_max) == pytest.approx(
            (params[name]["minimum"], params[name]["maximum"])), name
        assert prop.default == pytest.approx(params[name]["default"]), name
    assert rna["prompt"].length_max == MAX_PROMPT + 1  # Blender counts the closing NUL


def test_the_section_draws_its_settings_and_feeds_generate(scene):
    from addon import schema

    group = schema.settings(bpy.context, "text2motion")
    group.p_prompt, group.p_variations, group.p_guidance = "someone bows politely", 5, 6.0
    items = list(drawn().walk())
    drawn_props = {item[1] for item in items if item[0] == "prop"}
    assert {schema.value_id(p) for p in ("prompt", "seconds", "variations", "seed",
                                         "guidance")} <= drawn_props
    assert schema.value_id("fps") not in drawn_props  # the add-on fills it
    (generate,) = [item[3] for item in items if item[:2] == ("operator", "motionfield.text2motion")]
    assert (generate.prompt, generate.variations, generate.guidance) == (
        "someone bows politely", 5, pytest.approx(6.0))
    assert panels.panel_model(bpy.context)["variation"] is None  # nothing generated yet
