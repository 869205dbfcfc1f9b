"""Synthetic rigs made from SMPL motion: other names, units, rest poses and Euler orders.

A source rig with rest corrections Q_j (its zero pose is SMPL's T pose turned by Q) moves
exactly like the SMPL motion when its offsets are Q_parent d_j and its local rotations are
Q_parent L_j Q_j^-1, so retargeting it back must give the SMPL motion again.
"""

from __future__ import annotations

import numpy as np

from motionfield.body.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    matrix_to_quat,
    quat_to_euler,
    quat_to_matrix,
    rotation_between,
)
from motionfield.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS, smpl_skeleton
from motionfield.motion import Motion

MIXAMO = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
    "head": "Head", "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_foot": "LeftToeBase", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
    "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "left_hand": "LeftHandMiddle1"}
RIGIFY = {
    "pelvis": "spine", "spine1": "spine.001", "spine2": "spine.002", "spine3": "spine.003",
    "neck": "spine.004", "head": "spine.006", "left_hip": "thigh.L", "left_knee": "shin.L",
    "left_ankle": "foot.L", "left_foot": "toe.L", "left_collar": "shoulder.L",
    "left_shoulder": "upper_arm.L", "left_elbow": "forearm.L", "left_wrist": "hand.L",
    "left_hand": "f_middle.01.L"}


def names_for(table: dict[str, str], prefix: str = "") -> list[str]:
    out = []
    for smpl in SMPL_JOINT_NAMES:
        key = smpl.replace("right_", "left_")
        name = table[key]
        if smpl.startswith("right_"):
            name = name.replace("Left", "Right").replace(".L", ".R")
        out.append(prefix + name)
    return out


def smooth_motion(frames: int = 60, fps: float = 30, seed: int = 0) -> Motion:
    rng = np.random.default_rng(seed)
    aa = np.cumsum(rng.normal(scale=0.04, size=(frames, 24, 3)), axis=0)
    aa[:, 0] *= 0.3
    trans = np.cumsum(rng.normal(scale=0.01, size=(frames, 3)), axis=0) + [0, 0.9, 0]
    return Motion.from_frames(axis_angle_to_quat(aa), trans, smpl_skeleton(), fps)


def a_pose_corrections(degrees: float = 45.0) -> np.ndarray:
    """(24, 3, 3): the whole arm of each side swung down by about `degrees`, by the smallest
    rotation that moves the upper arm (so the rig's zero pose is an A pose)."""
    q = np.broadcast_to(np.eye(3), (24, 3, 3)).copy()
    offsets = smpl_skeleton().offsets
    for side, sign in (("left", -1.0), ("right", 1.0)):
        upper_arm = offsets[SMPL_JOINT_NAMES.index(f"{side}_elbow")]
        down = axis_angle_to_matrix(np.array([0, 0, sign * np.radians(degrees)])) @ upper_arm
        turn = quat_to_matrix(rotation_between(upper_arm, down))
        for part in ("shoulder", "elbow", "wrist", "hand"):
            q[SMPL_JOINT_NAMES.index(f"{side}_{part}")] = turn
    return q


def synth_bvh(motion: Motion, names: list[str], unit: float, order: str,
              corrections: np.ndarray | None = None) -> str:
    """BVH text of `motion` on a rig with these joint names, `unit` metres per file unit,
    Euler `order` and rest corrections."""
    q = np.broadcast_to(np.eye(3), (24, 3, 3)) if corrections is None else corrections
    skel = motion.skeleton
    parent_q = np.stack([np.eye(3) if p < 0 else q[p] for p in SMPL_PARENTS])
    offsets = np.einsum("jab,jb->ja", parent_q, skel.offsets) / unit
    local = quat_to_matrix(motion.rotations)
    src_local = parent_q @ local @ np.swapaxes(q, -1, -2)
    euler = quat_to_euler(matrix_to_quat(src_local), order)
    children = {j: [c for c, p in enumerate(SMPL_PARENTS) if p == j] for j in range(24)}
    lines, order_idx = ["HIERARCHY"], []
    rot = " ".join(f"{a}rotation" for a in order)

    def joint(j, depth):
        order_idx.append(j)
        pad = "\t" * depth
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {names[j]}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET {' '.join(f'{v:.8f}' for v in offsets[j])}")
        lines.append(f"{pad}\tCHANNELS " + (f"6 Xposition Yposition Zposition {rot}" if j == 0
                                             else f"3 {rot}"))
        for c in children[j]:
            joint(c, depth + 1)
        if not children[j]:
            lines.extend([f"{pad}\tEnd Site", pad + "\t{", f"{pad}\t\tOFFSET 0 0 0", pad + "\t}"])
        lines.append(pad + "}")

    joint(0, 0)
    values = np.concatenate([motion.root_translation / unit,
                             euler[:, order_idx].reshape(motion.num_frames, -1)], axis=1)
    lines += ["MOTION", f"Frames: {motion.num_frames}",
              f"Frame Time: {float(1 / motion.fps):.8f}"]
    lines += [" ".join(f"{v:.8f}" for v in row) for row in values]
    return "\r\n".join(lines) + "\r\n"
