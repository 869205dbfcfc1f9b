"""A plain deform rig keyed by a retarget through a bone map (keyframes.write_motion_to_rig:
a Mixamo-style rig, a Rigify metarig, any mapped rig) read back into SMPL and keyed again,
so that Continue Motion and Fill Between Keys work on it: the inverse of
retarget.retarget_to_rig. The map and the SMPL skeleton are the ones the action was keyed
with (its `motionfield_retarget` report and rigify_motion.OFFSETS_KEY); a plain rig keyed
by hand has neither and is refused by predict.py as not an SMPL armature.
"""

from __future__ import annotations

import numpy as np

from .armature import rest_points
from .axes import Y_UP_TO_Z_UP, to_blender
from .retarget import (
    SMPL_NAMES,
    SMPL_PARENTS,
    retarget_to_rig,
    smpl_local_rotations,
    smpl_reference_pose,
    smpl_world_rotations,
)
from .rigify_motion import OFFSETS_KEY, add_rotation_keys, is_rigify


def _action(obj):
    return obj.animation_data.action if obj is not None and obj.animation_data else None


def is_mapped_rig(obj) -> bool:
    """An armature (not a generated Rigify rig) whose action a bone-map retarget keyed."""
    action = _action(obj)
    return (obj is not None and obj.type == "ARMATURE" and not is_rigify(obj) and action is not None
            and "motionfield_retarget" in action and OFFSETS_KEY in action)


def _setup(obj) -> tuple[dict, dict, np.ndarray, np.ndarray, float]:
    """(joint -> bone map, rig description, SMPL rest heads (Blender axes), reference pose,
    rig leg / SMPL leg) of the retarget that keyed the rig's action."""
    from .keyframes import _leg, rig_description

    action = _action(obj)
    mapping = dict(pair.split(":", 1) for pair in action["motionfield_retarget"]["mapped"])
    offsets = np.reshape(list(action[OFFSETS_KEY]), (24, 3))
    smpl_heads = to_blender(rest_points(offsets, list(SMPL_PARENTS)))
    rig = rig_description(obj)
    heads = dict(zip(rig["names"], rig["heads"]))
    reference = smpl_reference_pose(smpl_heads, heads, mapping)
    scale = _leg(heads, mapping) / _leg(dict(zip(SMPL_NAMES, smpl_heads)), None)
    return mapping, rig, smpl_heads, reference, scale


def keyed_frames(obj) -> tuple[np.ndarray, np.ndarray]:
    """The frames where the mapped bones have keys (K,), and which SMPL joints' bones are
    keyed at each (K, 24); an unmapped joint, or one never keyed, counts as seen."""
    from .predict import keys_per_joint
    from .rigify_motion import _control_paths

    mapping = _setup(obj)[0]
    return keys_per_joint(obj, lambda j: _control_paths(obj, mapping[SMPL_NAMES[j]],
                                                        mapping["pelvis"])
                          if SMPL_NAMES[j] in mapping else [])


def read_poses(scene, obj, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The SMPL pose the mapped bones show at each of `frames`, as Blender evaluates them:
    local rotations (T, 24, 4) and root positions (T, 3, SMPL frame). A joint without a
    bone turns with its parent. The scene's current frame is restored."""
    mapping, rig, _, reference, scale = _setup(obj)
    index = {n: i for i, n in enumerate(rig["names"])}
    world = np.empty((len(frames), 24, 3, 3))
    pelvis = np.empty((len(frames), 3))
    current = scene.frame_current
    try:
        for i, f in enumerate(frames):
            whole = int(np.floor(f))
            scene.frame_set(whole, subframe=float(f - whole))
            for j, name in enumerate(SMPL_NAMES):
                bone = mapping.get(name)
                if bone is None:
                    world[i, j] = np.eye(3) if SMPL_PARENTS[j] < 0 else \
                        world[i, SMPL_PARENTS[j]]
                    continue
                posed = np.array(obj.pose.bones[bone].matrix.to_3x3().normalized())
                # B = S_j ref_j^-1 Rest_b (retarget.py), so S_j = B Rest_b^-1 ref_j
                world[i, j] = posed @ rig["rest"][index[bone]].T @ reference[j]
            pelvis[i] = tuple(obj.pose.bones[mapping["pelvis"]].head)
    finally:
        scene.frame_set(current)
    return smpl_local_rotations(world), (pelvis / scale) @ Y_UP_TO_Z_UP


def write_keys(obj, rotations: np.ndarray, root_translation: np.ndarray, frames: np.ndarray,
               mode: str) -> int:
    """Key SMPL poses at `frames` onto the mapped bones (and the pelvis bone's location),
    adding keys only (rigify_motion.add_rotation_keys). Returns the frames keyed."""
    mapping, rig, smpl_heads, _, scale = _setup(obj)
    quats, location = retarget_to_rig(smpl_world_rotations(rotations),
                                      to_blender(root_translation) * scale, smpl_heads, rig,
                                      mapping)
    index = {n: i for i, n in enumerate(rig["names"])}
    bones = [b for b in rig["names"] if b in set(mapping.values())]  # parents first
    return add_rotation_keys(obj, bones, quats[:, [index[b] for b in bones]], mapping["pelvis"],
                             location, frames, mode)
