"""A motion result from the backend onto the scene: a new SMPL armature or the user's rig,
a new Action, optionally pushed to the NLA. Shared by the operators and the headless API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from .armature import add_body_mesh, create_armature
from .keyframes import (
    bake_rigify_ik,
    scene_fps,
    write_motion,
    write_motion_to_rig,
    write_motion_to_rigify,
)
from .retarget import RIG_KINDS, SMPL_NAMES, auto_map, presets, rig_kind, rigify_controls


@dataclass
class Output:
    """Where and how a result lands (the panel's Output section)."""

    target: str = "NEW"          # "NEW": a new SMPL armature; "SELECTED": the active armature
    fps: float | None = None     # None: the scene's framerate
    start_frame: float = 1.0
    action_name: str = "motionfield"
    push_to_nla: bool = False
    bone_map: str = "AUTO"       # a preset name, or AUTO
    rigify_ik: bool = False      # a generated Rigify rig: bake onto its IK controls too


def output_fps(scene: bpy.types.Scene, output: Output) -> float:
    return scene_fps(scene) if output.fps is None else float(output.fps)


def body_params(context, target: str, smpl_folder: str | None = None,
                smpl_gender: str | None = None) -> dict:
    """The convert job's body parameters: a new SMPL armature gets a body, the user's own
    SMPL mesh when a model folder is given (else the preferences'), the proxy otherwise."""
    if target != "NEW":
        return {"body": False}
    prefs = _preferences(context)
    folder = smpl_folder if smpl_folder is not None else getattr(prefs, "smpl_folder", "")
    if not folder:
        return {"body": True}
    gender = smpl_gender or getattr(prefs, "smpl_gender", "neutral")
    return {"body": True, "smpl_folder": bpy.path.abspath(folder), "smpl_gender": gender}


def smpl_folders(context, smpl_folder: str | None = None) -> tuple[str, ...]:
    """The folder holding the SMPL model the convert job will read (`smpl_folder`, else the
    preferences'), which a local backend must be started allowing; () when none is set."""
    chosen = smpl_folder if smpl_folder is not None else \
        getattr(_preferences(context), "smpl_folder", "")
    if not chosen:
        return ()
    path = Path(bpy.path.abspath(chosen))
    folder = path if path.is_dir() else path.parent
    return (str(folder),) if folder.is_dir() else ()  # a stale setting: the job says so


def _preferences(context):
    """The add-on's preferences; None when a script registered its classes (bpy as a
    module) instead of enabling it."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def apply_motion(scene: bpy.types.Scene, content: dict, arrays: dict,
                 output: Output, target: bpy.types.Object | None = None) -> tuple:
    """Key a motion result; returns (object, action)."""
    names = list(content["joint_names"])
    rot, trans, times = arrays["rotations"], arrays["root_translation"], arrays["times"]
    fps = scene_fps(scene)  # maps seconds to scene frames; the job sampled at output_fps
    if output.target == "SELECTED":
        if target is None or target.type != "ARMATURE":
            raise ValueError("select an armature to retarget onto (or output to a new "
                             "SMPL armature)")
        action = _retarget(target, rot, trans, times, arrays["offsets"], fps, output)
        obj = target
    else:
        parents = [int(p) for p in np.asarray(arrays["parents"])]
        offsets = np.asarray(arrays["offsets"], dtype=np.float64)
        obj = create_armature(output.action_name, names, parents, offsets, scene.collection)
        if "body_vertices" in arrays:
            add_body_mesh(obj, names, offsets, parents, arrays["body_vertices"],
                          arrays["body_faces"], arrays["body_weights"])
        action = write_motion(obj, names, rot, trans, times, fps=fps,
                              start_frame=output.start_frame, action_name=output.action_name)
    if output.push_to_nla:
        track = obj.animation_data.nla_tracks.new()
        track.name = action.name
        track.strips.new(action.name, int(round(output.start_frame)), action)
        obj.animation_data.action = None
    return obj, action


def _retarget(target: bpy.types.Object, rot, trans, times, offsets, fps: float,
              output: Output) -> bpy.types.Action:
    """Key the motion onto the user's rig: a generated Rigify rig on its FK controls (its DEF
    bones follow by constraints), any other through a bone map. The action records what was
    found and mapped (`motionfield_retarget`)."""
    bones = [b.name for b in target.data.bones]
    kind, read_back = rig_kind(bones), None
    if kind == "rigify" and output.bone_map in ("AUTO", "rigify"):
        mapping = rigify_controls(bones)
        action = write_motion_to_rigify(target, rot, trans, times, offsets, fps=fps,
                                        start_frame=output.start_frame,
                                        action_name=output.action_name)
        read_back = _read_back_error(target, rot, trans, times, fps, output)
        if output.rigify_ik:
            bake_rigify_ik(target, action)
    else:
        mapping = (auto_map(bones, _user_folders())[1] if output.bone_map == "AUTO"
                   else _preset_map(output.bone_map, bones))
        action = write_motion_to_rig(target, mapping, rot, trans, times, offsets, fps=fps,
                                     start_frame=output.start_frame,
                                     action_name=output.action_name)
    action["motionfield_retarget"] = {
        "rig_kind": kind, "description": RIG_KINDS[kind],
        "mapped": [f"{j}:{b}" for j, b in mapping.items()],
        "missing": [j for j in SMPL_NAMES if j not in mapping],
        "ik_baked": bool(kind == "rigify" and output.rigify_ik)}
    if read_back is not None:
        action["motionfield_retarget"]["read_back"] = read_back
    return action


def _read_back_error(target, rot, trans, times, fps: float, output: Output) -> list[float]:
    """[degrees, metres]: how far the keyed Rigify controls, read back into SMPL, are from
    the motion keyed (rigify_motion.read_back_error, at ten frames)."""
    from .keyframes import frames_for
    from .rigify_motion import read_back_error

    frames = frames_for(times, fps, output.start_frame)
    return list(read_back_error(bpy.context.scene, target, rot, trans, frames))


def _preset_map(name: str, bones: list[str]) -> dict[str, str]:
    found = presets(_user_folders())
    if name not in found:
        raise ValueError(f"no bone map preset named {name!r}; have {sorted(found)}")
    present = set(bones)
    return {j: b for j, b in found[name].items() if b in present}


def _user_folders() -> list:
    return [Path(bpy.utils.user_resource("CONFIG", path="motionfield/bone_maps"))]


def retarget_report(obj) -> list[str]:
    """What the retarget that keyed `obj`'s current action found, as lines for the panel:
    the rig kind, the joints mapped and missing, and whether IK was baked (empty when the
    action was not keyed by a retarget)."""
    action = obj.animation_data.action if obj is not None and obj.animation_data else None
    report = action.get("motionfield_retarget") if action is not None else None
    if report is None:
        return []
    report = report.to_dict()
    import textwrap

    # the sidebar cuts lines near 39 characters (measured in a real window)
    lines = [*textwrap.wrap(f"Rig: {report['description']}", 38),
             f"Mapped: {len(report['mapped'])} joints",
             *textwrap.wrap(f"Missing: {', '.join(report['missing']) or 'none'}", 38)]
    if report["rig_kind"] == "rigify":
        lines.append("IK baked (switches on IK)" if report["ik_baked"] else "FK keys (no IK bake)")
    if "read_back" in report:
        degrees, metres = report["read_back"]
        lines.append(f"Read back: {degrees:.2f} deg, {metres * 1000:.1f} mm")
    return lines
