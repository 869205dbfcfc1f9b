"""Head and Hands to Body in real Blender: keyed head and hand objects (one hand leaving
the view and coming back) become an SMPL armature, through a real in-process backend,
whose head and wrists follow them."""

from __future__ import annotations

import threading

import bpy
import numpy as np
import pytest
import sparse_synth

from addon.backend import BACKEND
from addon.sparse import TO_OPENXR, TRACKED
from motionfield.body.rotations import quat_to_matrix
from motionfield.client import Client
from motionfield.methods.sparse import data, tracking
from motionfield.methods.sparse.config import CONTROLLERS
from motionfield.protocol import new_key, write_connection_file
from motionfield.server.app import Server

FRAMES = 150
UNSEEN = range(60, 100)  # frames (from 0) the left hand is out of view


@pytest.fixture
def served(registered, empty_scene, tmp_path):
    key = new_key()
    server = Server("tcp://127.0.0.1:0", key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    BACKEND.stop()
    connection = write_connection_file(tmp_path / "backend.json", server.address, key)
    BACKEND.connect(connection)
    yield empty_scene
    BACKEND.stop()
    with Client.from_connection_file(connection) as client:
        client.shutdown()
    thread.join(timeout=10)


def _keyed_objects(scene) -> tracking.Tracking:
    """Head and hand empties keyed from a made-up walk (OpenXR conventions in Blender's
    world), the left hand's `tracked` keyed 0 over UNSEEN; returns the tracking keyed."""
    take = sparse_synth.takes(1, FRAMES)[0]
    rot, pos, seen = data.observe(np.random.default_rng(0), CONTROLLERS, take.rot, take.pos)
    seen[list(UNSEEN), 0] = False
    track = tracking.Tracking(np.arange(FRAMES) / 30.0, rot, pos, seen)
    xr_pos, xr_quat = tracking.to_openxr(track)
    blender_rot = TO_OPENXR.T @ quat_to_matrix(xr_quat[..., [3, 0, 1, 2]])
    blender_pos = xr_pos @ TO_OPENXR
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start, scene.frame_end = 1, FRAMES
    for d, name in enumerate(("head", "left_hand", "right_hand")):
        obj = bpy.data.objects.new(name, None)
        scene.collection.objects.link(obj)
        obj.rotation_mode = "QUATERNION"
        for f in range(FRAMES):
            m = np.eye(4)
            m[:3, :3], m[:3, 3] = blender_rot[f, d], blender_pos[f, d]
            obj.matrix_world = m.T.tolist()  # mathutils reads rows
            obj.keyframe_insert("location", frame=f + 1)
            obj.keyframe_insert("rotation_quaternion", frame=f + 1)
            if d:
                obj[TRACKED] = int(seen[f, d - 1])
                obj.keyframe_insert(f'["{TRACKED}"]', frame=f + 1)
    return track


def _joints(scene, arm, names) -> np.ndarray:
    out = []
    for f in range(FRAMES):
        scene.frame_set(f + 1)
        out.append([np.array(arm.matrix_world @ arm.pose.bones[n].head) for n in names])
    return np.array(out)


def _objects(scene) -> np.ndarray:
    out = []
    for f in range(FRAMES):
        scene.frame_set(f + 1)
        out.append([np.array(bpy.data.objects[n].matrix_world.translation)
                    for n in ("head", "left_hand", "right_hand")])
    return np.array(out)


def test_keyed_head_and_hands_become_a_body_that_follows_them(served):
    scene = served
    _keyed_objects(scene)
    assert bpy.ops.motionfield.sparse() == {"FINISHED"}
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    joints = _joints(scene, arm, ("head", "left_wrist", "right_wrist"))
    tracked = _objects(scene)
    error = np.linalg.norm(joints - tracked, axis=-1)
    settled = np.ones(FRAMES, bool)  # the hands' corrections ramp in over 0.25 s (reach.py)
    settled[:8] = settled[UNSEEN.start:UNSEEN.stop + 8] = False  # at the start; on return
    assert error[:, 0].max() < 0.001 and error[8:, 2].max() < 0.02
    # where a tracker lies beyond the arm's reach from the network's shoulder, the IK stops
    # the wrist short of it (the window model of before: up to 3.5 cm on 11 of 94 frames)
    assert error[settled, 1].mean() < 0.01 and error[settled, 1].max() < 0.04
    assert (error[settled, 1] < 0.02).mean() > 0.85
    step = np.linalg.norm(np.diff(joints[:, 1], axis=0), axis=-1)
    moved = np.linalg.norm(np.diff(tracked[:, 1], axis=0), axis=-1)
    print("left wrist per frame: largest step", step.max(), "the object's", moved.max(),
          "error while away", error[list(UNSEEN), 1].mean())
    # leaving and coming back: no jump. On return the arm travels 40 cm to its tracker over
    # the 0.25 s ramp (reach.py), at most 7.4 cm a frame here; without reach.settle the
    # network's own arm jumps 19 cm in the one frame the hand comes back
    assert step.max() < 0.08


def test_live_body_follows_the_objects_as_they_move_and_records_what_it_did(served):
    """Live Body's stream, tick by tick as its timer drives it: the objects are moved (here
    by their keys, frame by frame), the armature is posed at once from each answer, and the
    recording becomes an Action at the scene's framerate."""
    from addon.sparse import LiveBody

    scene = served
    _keyed_objects(scene)
    objects = [bpy.data.objects[n] for n in ("head", "left_hand", "right_hand")]
    live = LiveBody(scene, objects, BACKEND.client, record=True, name="live_body")
    names = ("head", "left_wrist", "right_wrist")
    posed, tracked = [], []
    for f in range(FRAMES):
        scene.frame_set(f + 1)
        live.tick(now=100.0 + f / 30.0)
        bpy.context.view_layer.update()
        arm = live.armature
        posed.append([np.array(arm.matrix_world @ arm.pose.bones[n].head) for n in names])
        tracked.append([np.array(o.matrix_world.translation) for o in objects])
    posed, tracked = np.array(posed), np.array(tracked)
    error = np.linalg.norm(posed - tracked, axis=-1)
    assert error[:, 0].max() < 0.001 and error[8:, 2].max() < 0.02
    settled = np.ones(FRAMES, bool)
    settled[:8] = settled[UNSEEN.start:UNSEEN.stop + 8] = False
    assert error[settled, 1].mean() < 0.01
    assert np.linalg.norm(np.diff(posed[:, 1], axis=0), axis=-1).max() < 0.08  # no jump
    action = live.finish()
    assert action is not None and live.armature.animation_data.action == action
    keyed = _joints(scene, live.armature, names)  # the recording played back
    np.testing.assert_allclose(keyed, posed, atol=1e-4)
