"""SMPL motion onto the CMU benchmark's 38-joint skeleton: the inverse of the retarget that
puts the benchmark files on SMPL, so that other data (Bandai Namco, on SMPL in the built
sets) can train the benchmark's models in the benchmark's own joint positions.

The retarget onto SMPL sets G_j(t) = A_s(t) C_j for each SMPL joint j driven by CMU joint s
(`retarget.py`; C_j from the CMU skeleton's zero pose, the calibration the data build uses).
Here A_s(t) = G_j(t) C_j^T. A CMU joint that no SMPL joint drives (the hip and lower-back
links, the second neck bone, the finger bases and thumbs), or whose SMPL joint the source
did not capture (hands without fingers), keeps a fixed local rotation: its mean over the
benchmark's training files, so the bones that carry no information sit where they usually
do. The result is written as benchmark rows (LTD's exponential maps) and turned into
positions by the same forward kinematics as the benchmark (`expmap_to_positions_ltd`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.spatial.transform import Rotation

from motionfield.body.rotations import matrix_to_quat, quat_to_axis_angle, quat_to_matrix
from motionfield.body.skeleton import SMPL_JOINT_NAMES, smpl_skeleton
from motionfield.io.cmu_benchmark import (
    VALUES_PER_FRAME,
    CmuBenchmarkSkeleton,
    expmap_to_positions_ltd,
)
from motionfield.motion import Motion


def cmu_calibration(skeleton: CmuBenchmarkSkeleton) -> dict[str, tuple[int, np.ndarray]]:
    """{SMPL joint: (CMU joint index, C_j as a 3x3)}, from the CMU zero pose exactly as the
    data build retargets the benchmark files."""
    from motionfield.io.bvh import bvh_text, parse_bvh
    from motionfield.io.retarget import reference_tracks, resolve_rig, rig_calibration

    count = len(skeleton)
    rest = np.zeros((1, count, 4))
    rest[..., 0] = 1.0
    motion = Motion.from_frames(rest, np.zeros((1, 3)), skeleton.motion_skeleton(), 120)
    clip = parse_bvh(bvh_text(motion), source="cmu zero pose")
    rig = resolve_rig(clip, None)
    ref = reference_tracks(clip, rig, 1.0, None)
    calib, _ = rig_calibration(ref, rig, smpl_skeleton(), None)
    index = {n: i for i, n in enumerate(skeleton.names)}
    return {name: (index[rig.joints[name]], quat_to_matrix(q)) for name, q in calib.items()}


def mean_local_rotations(sequences: Iterable[np.ndarray]) -> np.ndarray:
    """(38, 3, 3) each joint's mean local rotation (column-vector convention) over benchmark
    rows (T, 117); the rest-pose first row of each file is left out."""
    expmaps = np.concatenate([np.asarray(s)[1:, 3:].reshape(len(s) - 1, -1, 3)
                              for s in sequences])
    return np.stack([Rotation.from_rotvec(-expmaps[:, j]).mean().as_matrix()
                     for j in range(expmaps.shape[1])])


def smpl_to_cmu_rows(motion: Motion, skeleton: CmuBenchmarkSkeleton,
                     calibration: dict[str, tuple[int, np.ndarray]], fixed_local: np.ndarray,
                     captured: Iterable[str] = SMPL_JOINT_NAMES) -> np.ndarray:
    """SMPL motion (T frames) -> benchmark rows (T, 117), root position zero.

    `captured` names the SMPL joints the source really moved (the others only follow their
    parent); CMU joints driven by any other keep `fixed_local` (38, 3, 3).
    """
    world_smpl = motion.global_rotations()
    driven = {}
    for name, (s, c) in calibration.items():
        if name in captured:
            driven[s] = world_smpl[:, SMPL_JOINT_NAMES.index(name)] @ c.T
    frames, count = len(world_smpl), len(skeleton)
    world = np.empty((frames, count, 3, 3))
    local = np.empty_like(world)
    for s, p in enumerate(skeleton.parents):  # parents come before their children
        if s in driven:
            world[:, s] = driven[s]
            local[:, s] = world[:, s] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, s]
        else:
            local[:, s] = fixed_local[s]
            world[:, s] = local[:, s] if p < 0 else world[:, p] @ local[:, s]
    rows = np.zeros((frames, VALUES_PER_FRAME))
    rows[:, 3:] = -quat_to_axis_angle(matrix_to_quat(local)).reshape(frames, -1)
    return rows


def smpl_to_ltd_positions(motion: Motion, skeleton: CmuBenchmarkSkeleton,
                          calibration: dict[str, tuple[int, np.ndarray]],
                          fixed_local: np.ndarray,
                          captured: Iterable[str] = SMPL_JOINT_NAMES) -> np.ndarray:
    """SMPL motion (T frames) -> (T, 38, 3) positions in LTD's units and frame."""
    rows = smpl_to_cmu_rows(motion, skeleton, calibration, fixed_local, captured)
    return expmap_to_positions_ltd(rows, skeleton)
