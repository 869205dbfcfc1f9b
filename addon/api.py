"""The headless Python API: what the panel does, blocking, for `blender -b -P script.py`
and bpy-as-module scripts.

    import bl_ext.user_default.motionfield.api as mf      # or the add-on's module name
    mf.start_backend()                                      # or mf.connect("conn.json")
    obj, action = mf.import_mocap("walk.bvh", fps=29.97)    # a new keyed SMPL armature
    mf.continue_motion(obj, seconds=1.0)                    # a predicted second after it
    mf.fill_between_keys(obj)                               # every frame between its keys
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from .apply import Output, apply_motion, body_params, output_fps, smpl_folders
from .backend import BACKEND


def start_backend(python: str | None = None, smpl_folder: str | None = None) -> None:
    """Start a local backend with `python` (default: this interpreter) and connect; it may
    read the SMPL model in `smpl_folder` (default: the add-on preference's)."""
    BACKEND.start_local(python or "", smpl_folders=smpl_folders(bpy.context, smpl_folder))


def connect(connection_file: str | Path) -> None:
    BACKEND.connect(connection_file)


def stop_backend() -> None:
    BACKEND.stop()


def _client():
    if BACKEND.client is None or BACKEND.heartbeat() == "dead":
        raise RuntimeError("no backend: call start_backend() or connect() first "
                           f"({BACKEND.message})")
    return BACKEND.client


def import_mocap(path: str | Path, *, fps: float | None = None, start_frame: float = 1.0,
                 action_name: str | None = None, target: bpy.types.Object | None = None,
                 bone_map: str = "AUTO", push_to_nla: bool = False, progress=None,
                 smpl_folder: str | None = None, smpl_gender: str | None = None):
    """A BVH of any rig through the backend's `convert` job onto a new SMPL armature (or,
    with `target`, retargeted onto that armature). The new armature's body is the mesh of
    your SMPL model in `smpl_folder` (default: the add-on preference; "" for the proxy),
    `smpl_gender` "neutral", "female" or "male". Returns (object, action)."""
    scene = bpy.context.scene
    path = Path(path)
    output = Output("SELECTED" if target is not None else "NEW", fps, start_frame,
                    action_name or path.stem, push_to_nla, bone_map)
    params = {"name": path.name, "fps": output_fps(scene, output),
              **body_params(bpy.context, output.target, smpl_folder, smpl_gender)}
    client = _client()
    if output.target == "NEW":
        BACKEND.allow_smpl_folders(smpl_folders(bpy.context, smpl_folder))
        client = BACKEND.client
    result = client.run("convert", params,
                           {"bvh_file": np.frombuffer(path.read_bytes(), dtype=np.uint8)},
                           progress=progress)
    return apply_motion(scene, result.content, result.arrays, output, target)


def continue_motion(obj: bpy.types.Object, *, seconds: float = 1.0, history: float = 2.0,
                    fps: float | None = None, progress=None) -> int:
    """Continue an SMPL armature's motion `seconds` after its last key, from the last
    `history` seconds it shows, keyed at `fps` (default: the scene's). Returns the number
    of frames keyed."""
    from .predict import continue_request

    return _predict(obj, continue_request(bpy.context.scene, obj, history, seconds), fps,
                    progress)


def fill_between_keys(obj: bpy.types.Object, *, fps: float | None = None,
                      progress=None) -> int:
    """Key every frame (at `fps`, default the scene's) between an SMPL armature's keys where
    a curve has none, with the motion the model infers from all the keys; the keys stay.
    Returns the number of frames that got a key."""
    from .predict import fill_request

    return _predict(obj, fill_request(bpy.context.scene, obj), fps, progress)


def _predict(obj, request, fps: float | None, progress) -> int:
    from .keyframes import scene_fps
    from .predict import apply_prediction

    scene = bpy.context.scene
    params, arrays, first_frame = request
    params["fps"] = scene_fps(scene) if fps is None else float(fps)
    result = _client().run("predict", params, arrays, progress=progress)
    return apply_prediction(scene, obj, first_frame, result.arrays, params["mode"])
