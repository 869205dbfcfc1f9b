"""Head and Hands to Body in Blender: three objects (head, left hand, right hand) whose keys
or constraints move them become a full SMPL body through the backend's `sparse` job.

The objects follow OpenXR's conventions, as a Blender camera does: the head looks down its
local -Z with +Y up; a hand's -Z points to the fingertips and its +Y out of the back of the
hand. Positions are metres above a floor at z = 0. A hand is unseen on frames where its
custom property `tracked` (keyable) is 0; without the property it is always seen. No job
state lives here (undo); the result lands as any method's motion does (Output section).
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import StringProperty

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
    positions, quats, tracked = [], [], []
    try:
        for frame in frames:
            scene.frame_set(int(frame))
            row_pos, row_quat = [], []
            for obj in (head, left, right):
                world = np.array(obj.matrix_world)
                rot = world[:3, :3] / np.linalg.norm(world[:3, :3], axis=0)  # scale dropped
                row_pos.append(TO_OPENXR @ world[:3, 3])
                row_quat.append(matrix_to_quat(TO_OPENXR @ rot))
            positions.append(row_pos)
            quats.append(row_quat)
            tracked.append([bool(obj.get(TRACKED, True)) for obj in (left, right)])
    finally:
        scene.frame_set(current)
    return {"times": (np.asarray(frames, dtype=np.float64) - frames[0]) / fps,
            "positions": np.array(positions), "orientations": np.array(quats),
            "tracked": np.array(tracked, dtype=np.uint8)}


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
        named = [bpy.data.objects.get(name) for name in (self.head, self.left, self.right)]
        if any(obj is None for obj in named):
            missing = [n for n, o in zip((self.head, self.left, self.right), named) if o is None]
            self.report({"ERROR"}, f"no object named {', '.join(missing)}: name the head and "
                        "hand objects in the section")
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


def draw(col) -> None:
    """The panel section's button (the objects are the operator's settings: F9 / redo)."""
    col.operator("motionfield.sparse", icon="PLAY")


classes = (MOTIONFIELD_OT_sparse,)
