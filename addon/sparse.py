"""Head and Hands to Body in Blender: three objects (head, left hand, right hand) whose keys
or constraints move them become a full SMPL body through the backend's `sparse` job.

The objects follow OpenXR's conventions, as a Blender camera does: the head looks down its
local -Z with +Y up; a hand's -Z points to the fingertips and its +Y out of the back of the
hand. Positions are metres above a floor at z = 0. A hand is unseen on frames where its
custom property `tracked` (keyable) is 0; without the property it is always seen. No job
state lives here (undo); the result lands as any method's motion does (Output section).

Live Body drives an SMPL armature from the objects as they move now (a VR add-on, a mocap
plugin, constraints, drivers, playback, or the animator's hand): a timer samples them about
30 times a second and sends each sample as a `step` of a live stream, whose answer poses the
armature at once. With Record, the answers are keyed into a new Action when it stops.
"""

from __future__ import annotations

import time

import bpy
import numpy as np
from bpy.props import BoolProperty, FloatProperty, StringProperty

from .axes import Y_UP_TO_Z_UP, matrix_to_quat

TRACKED = "tracked"  # the hands' keyable custom property
# Blender's world (Z up, characters facing -Y) to OpenXR's (Y up, facing -Z): into SMPL's
# frame (axes.py), then a half turn about its +Y
TO_OPENXR = np.diag([-1.0, 1.0, -1.0]) @ Y_UP_TO_Z_UP.T


def tracking_arrays(scene, head, left, right, frames) -> dict[str, np.ndarray]:
    """The job's arrays for `frames` of `scene`: each frame evaluated (keys, constraints),
    the three objects' world transforms in OpenXR terms, quaternions w, x, y, z."""
    fps = scene.render.fps / scene.render.fps_base
    current = scene.frame_current
    samples = []
    try:
        for frame in frames:
            scene.frame_set(int(frame))
            samples.append(_sample(head, left, right))
    finally:
        scene.frame_set(current)
    return _arrays((np.asarray(frames, dtype=np.float64) - frames[0]) / fps, samples)


def _sample(head, left, right) -> tuple:
    """The three objects' world transforms as they are now, in OpenXR terms: (positions
    (3, 3), quaternions (3, 4) w, x, y, z, tracked (2,))."""
    positions, quats = [], []
    for obj in (head, left, right):
        world = np.array(obj.matrix_world)
        rot = world[:3, :3] / np.linalg.norm(world[:3, :3], axis=0)  # scale dropped
        positions.append(TO_OPENXR @ world[:3, 3])
        quats.append(matrix_to_quat(TO_OPENXR @ rot))
    return positions, quats, [bool(obj.get(TRACKED, True)) for obj in (left, right)]


def _arrays(times, samples: list[tuple]) -> dict[str, np.ndarray]:
    positions, quats, tracked = zip(*samples)
    return {"times": np.asarray(times, dtype=np.float64), "positions": np.array(positions),
            "orientations": np.array(quats), "tracked": np.array(tracked, dtype=np.uint8)}


def _objects(operator) -> list | None:
    """The head and hand objects the operator names, or None after reporting which lack."""
    named = [bpy.data.objects.get(name) for name in (operator.head, operator.left,
                                                      operator.right)]
    missing = [n for n, o in zip((operator.head, operator.left, operator.right), named)
               if o is None]
    if missing:
        operator.report({"ERROR"}, f"no object named {', '.join(missing)}: name the head "
                        "and hand objects in the section")
        return None
    return named


class LiveBody:
    """A live stream from three objects to one SMPL armature: `tick` samples the objects,
    asks the backend for the body and poses the armature; `finish` keys what was recorded.
    Kept apart from the modal operator so scripts and tests drive it tick by tick."""

    def __init__(self, scene, objects: list, client, record: bool, name: str):
        self.scene, self.objects, self.client = scene, objects, client
        self.record, self.name = record, name
        self.stream = f"live-{time.monotonic_ns()}"
        self.began = None
        self.armature = None
        self.start_frame = scene.frame_current
        self.recorded: list[tuple[float, np.ndarray, np.ndarray]] = []

    def tick(self, now: float | None = None) -> None:
        """One sample at `now` (seconds, increasing; None: the clock) -> the armature posed."""
        now = time.monotonic() if now is None else now
        first = self.began is None
        self.began = now if first else self.began
        arrays = _arrays([now - self.began], [_sample(*self.objects)])
        # the first step loads the model and prepares its online network: seconds
        result = self.client.step("sparse", self.stream, {"space": "openxr", "fps": 30.0},
                                  arrays, restart=first, timeout=120.0 if first else 10.0)
        if self.armature is None:
            self._make_armature(result)
        rot, trans = result.arrays["rotations"], result.arrays["root_translation"]
        self._pose(rot[-1:], trans[-1:])
        if self.record:
            self.recorded.append((now - self.began, rot[-1], trans[-1]))

    def _make_armature(self, result) -> None:
        from .armature import create_armature

        self.names = list(result.content["joint_names"])
        self.armature = create_armature(
            self.name, self.names, [int(p) for p in result.arrays["parents"]],
            np.asarray(result.arrays["offsets"], dtype=np.float64), self.scene.collection)

    def _pose(self, rot: np.ndarray, trans: np.ndarray) -> None:
        from .armature import bone_rest_rotations
        from .axes import smpl_to_bone_rotations
        from .keyframes import root_location

        quats = smpl_to_bone_rotations(rot, bone_rest_rotations(self.armature, self.names))[0]
        bones = self.armature.pose.bones
        for name, q in zip(self.names, quats):
            bones[name].rotation_quaternion = q
        bones[self.names[0]].location = root_location(self.armature, self.names[0], trans)[0]

    def finish(self):
        """The recording keyed as a new Action from the frame where it began (None if
        nothing was recorded)."""
        if not self.recorded or self.armature is None:
            return None
        from .keyframes import scene_fps, write_motion

        times, rot, trans = (np.array(v) for v in zip(*self.recorded))
        action = write_motion(self.armature, self.names, rot, trans, times,
                              fps=scene_fps(self.scene), start_frame=self.start_frame,
                              action_name=self.name)
        self.armature.animation_data.action = action
        return action


class MOTIONFIELD_OT_sparse(bpy.types.Operator):
    """Solve a full body from the head and hand objects over the scene's frame range"""
    bl_idname = "motionfield.sparse"
    bl_label = "Body from Head and Hands"
    bl_options = {"REGISTER", "UNDO"}

    head: StringProperty(name="Head", description="the object that moves as the headset "
                         "(looks down its -Z, like a camera)", default="head")
    left: StringProperty(name="Left hand", description="the left wrist's object (-Z to the "
                         "fingertips, +Y out of the back of the hand)", default="left_hand")
    right: StringProperty(name="Right hand", description="the right wrist's object",
                          default="right_hand")

    def execute(self, context):
        from .apply import output_fps
        from .backend import BACKEND, BackendError
        from .operators import (
            _settings_output,
            _watch,
            ensure_backend,
            land_result,
            should_block,
        )

        scene = context.scene
        named = _objects(self)
        if named is None:
            return {"CANCELLED"}
        frames = np.arange(scene.frame_start, scene.frame_end + 1)
        output = _settings_output(context, "sparse")
        params = {"space": "openxr", "fps": output_fps(scene, output)}
        try:
            ensure_backend(context)
            arrays = tracking_arrays(scene, *named, frames)
            if should_block():
                result = BACKEND.client.run("sparse", params, arrays)
                self.report({"INFO"}, land_result(scene, "sparse", result.content,
                                                  result.arrays, output, None))
                return {"FINISHED"}
            job = BACKEND.client.submit("sparse", params, arrays)
        except (BackendError, OSError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _watch(job, "sparse", "solving the body...",
               {"scene": scene.name, "output": output, "target": None})
        return {"FINISHED"}


class MOTIONFIELD_OT_sparse_live(bpy.types.Operator):
    """Drive a new SMPL armature from the head and hand objects as they move, until Esc or
    right-click; with Record, key what it did into an Action"""
    bl_idname = "motionfield.sparse_live"
    bl_label = "Live Body"
    bl_options = {"REGISTER", "UNDO"}

    head: StringProperty(name="Head", default="head",
                         description="the object that moves as the headset")
    left: StringProperty(name="Left hand", default="left_hand",
                         description="the left wrist's object")
    right: StringProperty(name="Right hand", default="right_hand",
                          description="the right wrist's object")
    record: BoolProperty(name="Record", default=True,
                         description="key the body into an Action when it stops")
    rate: FloatProperty(name="Rate", default=30.0, min=1.0, max=120.0,
                        description="samples a second sent to the backend")

    def invoke(self, context, event):
        from .backend import BACKEND, BackendError
        from .operators import ensure_backend

        named = _objects(self)
        if named is None:
            return {"CANCELLED"}
        try:
            ensure_backend(context)
            self.live = LiveBody(context.scene, named, BACKEND.client, self.record,
                                 "live_body")
            self.live.tick()
        except (BackendError, OSError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.timer = context.window_manager.event_timer_add(1.0 / self.rate,
                                                            window=context.window)
        context.window_manager.modal_handler_add(self)
        context.workspace.status_text_set("Live Body: Esc or right-click stops")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        from .backend import BackendError

        if event.type in {"ESC", "RIGHTMOUSE"} and event.value == "PRESS":
            return self._stop(context)
        if event.type == "TIMER":
            try:
                self.live.tick()
            except (BackendError, OSError, ValueError) as exc:
                self.report({"ERROR"}, f"Live Body stopped: {exc}")
                return self._stop(context)
        return {"PASS_THROUGH"}

    def _stop(self, context):
        context.window_manager.event_timer_remove(self.timer)
        context.workspace.status_text_set(None)
        action = self.live.finish()
        if action is not None:
            self.report({"INFO"}, f"recorded {len(self.live.recorded)} poses into "
                        f"{action.name}")
        return {"FINISHED"}


def draw(col) -> None:
    """The panel section's buttons (the objects are the operators' settings: F9 / redo)."""
    col.operator("motionfield.sparse", icon="PLAY")
    col.operator("motionfield.sparse_live", icon="REC")


classes = (MOTIONFIELD_OT_sparse, MOTIONFIELD_OT_sparse_live)
