"""The CMU-Mocap motion-prediction benchmark (ConvSeq2Seq / LTD split): reader and kinematics.

No bpy. The data folder is `cmu_mocap/` with `{train,test}/<action>/<action>_N.txt` and
`skeleton.json` (parents, offsets, joint names and LTD's joint subsets; read its notes).

File format: one frame a line, 117 comma-separated values: the root position (ASF length
units) and 38 exponential maps (axis-angle, radians), joint 0 being the root rotation.

Two ways to turn a frame into joints:

* `expmap_to_positions_ltd` reproduces LTD's `fkl_torch` (wei-mao-2019/LearnTrajDep,
  `utils/forward_kinematics.py`) in float64: row vectors (x_i = o_i @ R_p + x_p,
  R_i = E_i @ R_p), offsets x 70 (LTD's "mm"), and the root rotation and translation dropped
  (joints whose parent is the root are not composed with it). Evaluation numbers follow the
  published protocol only in these units and this frame.
* `sequence_to_motion` gives the real motion as a `Motion`: metres, root kept. A row-vector
  rotation is the transpose of the column-vector one, so each joint's local rotation is
  E_i^T, the rotation vector -r_i.

Axis convention, found from the data: the rest offsets have legs along -Y, the spine along
+Y, the left hip at +X and the toes along +Z; with the root kept, every sequence has its
feet near Y = 0 and its head above them, and walking and running move along the body's +Z.
That is the SMPL frame already (Y up, facing +Z, left at +X): no axis change is made.

Frame rate: not stated by the source. 120 fps (the CMU capture rate) gives walking root
speeds of 0.9 to 1.4 m/s and running of 2.7 to 3.5 m/s, so that is the default. The
prediction codes keep every second frame and report horizons as if 25 fps.

Every file starts with the same fixed pose (the ASF rest pose: root rotation zero, seven
joints at their ASF axis angles) at the root position of the next frame: a one-frame jump
that LTD keeps. `sequence_to_motion` drops it by default.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from motionfield.body.rotations import axis_angle_to_quat
from motionfield.body.skeleton import Skeleton
from motionfield.errors import DataError
from motionfield.motion import Motion

NUM_JOINTS = 38
VALUES_PER_FRAME = 3 + 3 * NUM_JOINTS
# One ASF length unit in metres: 25.4 / 0.45 mm, rounded as in SOURCES.md and skeleton.json.
ASF_UNIT_M = 0.056444
LTD_SCALE = 70.0  # LTD's offsets are ASF units x 70, which it calls millimetres
SPLITS = ("train", "test")
# The pose on the first line of every file: {joint: expmap}, all other values zero.
REST_FRAME_EXPMAP = {
    2: (0.0, 0.0, 0.36651914), 8: (0.0, 0.0, -0.36651914), 16: (0.27925268, 0.0, 0.0),
    17: (-0.36651914, 0.0, 0.0), 18: (-0.19198622, 0.0, 0.0), 21: (0.0, 0.0, 0.13962634),
    30: (0.0, 0.0, -0.13962634),
}


@dataclass(frozen=True, eq=False)
class CmuBenchmarkSkeleton:
    """The benchmark's 38-joint skeleton (end sites counted as joints), from skeleton.json.

    Attributes
    ----------
    names : 38 str, the cgspeed BVH names (`joint_names_bvh_cgspeed`)
    parents : 38 int, 0-based, -1 for the root
    offsets_m : (38, 3) rest offsets in metres (ASF units x ASF_UNIT_M)
    offsets_ltd : (38, 3) the offsets LTD uses (ASF units x 70)
    used_joints : LTD's 25 evaluated joints, 0-based
    ignored_joints : LTD's 13 ignored joints, 0-based
    copied_joints, copied_from : at evaluation LTD sets copied_joints[k] from
        copied_from[k] (joints that coincide)
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets_m: np.ndarray
    offsets_ltd: np.ndarray
    used_joints: tuple[int, ...]
    ignored_joints: tuple[int, ...]
    copied_joints: tuple[int, ...]
    copied_from: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.names)

    def motion_skeleton(self) -> Skeleton:
        """The motionfield `Skeleton` (names, parents, offsets in metres)."""
        return Skeleton(self.names, self.parents, self.offsets_m)


# --------------------------------------------------------------------------- files


def load_cmu_skeleton(root: Path) -> CmuBenchmarkSkeleton:
    """Read `root/skeleton.json` (root is the `cmu_mocap` folder) and check it."""
    path = Path(root) / "skeleton.json"
    if not path.is_file():
        raise DataError(f"{path} not found: point at the unpacked cmu_mocap folder "
                        "(`motionfield data` unpacks ../shared/data/cmu_mocap.tar.xz)")
    try:
        doc = json.loads(path.read_text())
        raw = np.asarray(doc["offsets_raw_asf_units"], dtype=np.float64)
        evals = doc["ltd_eval"]
        skel = CmuBenchmarkSkeleton(
            names=tuple(str(n) for n in doc["joint_names_bvh_cgspeed"]),
            parents=tuple(int(p) for p in doc["parents_0based"]),
            offsets_m=raw * ASF_UNIT_M,
            offsets_ltd=np.asarray(doc["offsets_x70_as_used_by_LTD"], dtype=np.float64),
            used_joints=tuple(int(j) for j in doc["ltd_25_joints_used_0based"]),
            ignored_joints=tuple(int(j) for j in doc["ltd_joint_to_ignore_0based"]),
            copied_joints=tuple(int(j) for j in evals["copied_joints_0based"]),
            copied_from=tuple(int(j) for j in evals["copied_from_0based"]))
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: malformed skeleton description ({e!r})") from None
    _check_skeleton(skel, raw, path)
    return skel


def _check_skeleton(skel: CmuBenchmarkSkeleton, raw: np.ndarray, path: Path) -> None:
    shapes_ok = (len(skel.names) == len(skel.parents) == NUM_JOINTS
                 and raw.shape == skel.offsets_ltd.shape == (NUM_JOINTS, 3))
    if not shapes_ok:
        raise DataError(f"{path}: expected {NUM_JOINTS} names, parents and (38, 3) offsets")
    if not np.allclose(skel.offsets_ltd, raw * LTD_SCALE, atol=1e-3):
        raise DataError(f"{path}: offsets_x70_as_used_by_LTD are not 70 x the raw offsets")
    if sorted(skel.used_joints + skel.ignored_joints) != list(range(NUM_JOINTS)):
        raise DataError(f"{path}: LTD's used and ignored joints do not partition the 38")
    if len(skel.copied_joints) != len(skel.copied_from):
        raise DataError(f"{path}: copied_joints and copied_from differ in length")
    try:
        skel.motion_skeleton()
    except ValueError as e:
        raise DataError(f"{path}: {e}") from None


def read_cmu_sequence(path: str | Path) -> np.ndarray:
    """All frames of one benchmark file, (T, 117) float64.

    Raises DataError naming the file and line for a line with the wrong number of values,
    a value that is not a number, or a NaN / infinity; blank lines are skipped.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    rows = [_parse_line(line, path, n)
            for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not rows:
        raise DataError(f"{path}: no frames (empty file)")
    return np.stack(rows)


def _parse_line(line: str, path: Path, number: int) -> np.ndarray:
    parts = line.split(",")
    if len(parts) != VALUES_PER_FRAME:
        raise DataError(f"{path}, line {number}: expected {VALUES_PER_FRAME} comma-separated "
                        f"values, found {len(parts)}")
    try:
        values = np.array(parts, dtype=np.float64)
    except ValueError:
        bad = next(k for k, p in enumerate(parts) if not _is_number(p))
        raise DataError(f"{path}, line {number}, value {bad + 1}: {parts[bad].strip()!r} is "
                        "not a number") from None
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise DataError(f"{path}, line {number}, value {bad + 1}: {parts[bad].strip()!r} is "
                        "not finite")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def list_sequences(root: Path, split: str) -> dict[str, list[Path]]:
    """The files present per action, {action: [paths sorted by N]}, for "train" or "test".

    The folder is listed (files are missing from the public snapshots, so _1.._N cannot be
    assumed); actions without any file are left out.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(f"{folder} not found: point at the unpacked cmu_mocap folder")
    found = {}
    for action_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        pattern = re.compile(rf"{re.escape(action_dir.name)}_(\d+)\.txt")
        numbered = [(int(m.group(1)), p) for p in action_dir.iterdir()
                    if p.is_file() and (m := pattern.fullmatch(p.name))]
        if numbered:
            found[action_dir.name] = [p for _, p in sorted(numbered)]
    return found


# --------------------------------------------------------------------------- kinematics


def _check_frames(frames: np.ndarray, skeleton: CmuBenchmarkSkeleton) -> np.ndarray:
    frames = np.asarray(frames, dtype=np.float64)
    width = 3 + 3 * len(skeleton)
    if frames.ndim != 2 or frames.shape[1] != width:
        raise ValueError(f"frames must be (T, {width}) for {len(skeleton)} joints, "
                         f"got {frames.shape}")
    return frames


def _ltd_expmap2rotmat(r: np.ndarray) -> np.ndarray:
    """LTD's `expmap2rotmat_torch`: Rodrigues with its 1e-7 in the axis; (..., 3) -> (..., 3, 3)."""
    theta = np.linalg.norm(r, axis=-1)[..., None, None]
    x, y, z = np.moveaxis(r / (np.linalg.norm(r, axis=-1, keepdims=True) + 1e-7), -1, 0)
    zero = np.zeros_like(x)
    k = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1),
                  np.stack([-y, x, zero], -1)], -2)
    return np.eye(3) + np.sin(theta) * k + (1.0 - np.cos(theta)) * (k @ k)


def expmap_to_positions_ltd(frames: np.ndarray, skeleton: CmuBenchmarkSkeleton) -> np.ndarray:
    """Joint positions exactly as LTD's `fkl_torch` computes them (in float64).

    Parameters
    ----------
    frames : (T, 117) rows of a benchmark file
    skeleton : from `load_cmu_skeleton`

    Returns
    -------
    (T, 38, 3) positions in LTD's units (ASF x 70, "mm"); the root rotation and translation
    are ignored, so the root and its children (joints 1, 7, 13) stay at the origin.
    """
    frames = _check_frames(frames, skeleton)
    count = len(frames)
    rot = _ltd_expmap2rotmat(frames[:, 3:].reshape(count, len(skeleton), 3))
    pos = np.broadcast_to(skeleton.offsets_ltd, (count, len(skeleton), 3)).copy()
    for i in range(1, len(skeleton)):
        p = skeleton.parents[i]
        if p > 0:  # LTD composes only below the root's children
            rot[:, i] = rot[:, i] @ rot[:, p]
            pos[:, i] = skeleton.offsets_ltd[i] @ rot[:, p] + pos[:, p]
    return pos


def has_rest_frame(frames: np.ndarray) -> bool:
    """Whether the first row is the fixed ASF rest pose that starts every benchmark file."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != VALUES_PER_FRAME or len(frames) < 2:
        return False
    rest = np.zeros((NUM_JOINTS, 3))
    for joint, expmap in REST_FRAME_EXPMAP.items():
        rest[joint] = expmap
    return bool(np.allclose(frames[0, 3:], rest.ravel(), atol=1e-6))


def sequence_to_motion(frames: np.ndarray, skeleton: CmuBenchmarkSkeleton,
                       fps: float | str | Fraction = 120, *,
                       drop_rest_frame: bool = True) -> Motion:
    """The real motion on the 38-joint skeleton: metres, root rotation and translation kept.

    Parameters
    ----------
    frames : (T, 117) rows of a benchmark file
    skeleton : from `load_cmu_skeleton`
    fps : the files' rate; 120 (see the module notes)
    drop_rest_frame : leave out the first row when it is the ASF rest pose (`has_rest_frame`)

    Returns
    -------
    Motion with T (or T - 1) frames in the SMPL frame (the data's own: Y up, facing +Z).
    Local rotations are the transposes of the row-vector ones: axis-angle -r_i per joint.
    """
    frames = _check_frames(frames, skeleton)
    if drop_rest_frame and has_rest_frame(frames):
        frames = frames[1:]
    count = len(frames)
    expmaps = frames[:, 3:].reshape(count, len(skeleton), 3)
    return Motion.from_frames(axis_angle_to_quat(-expmaps), frames[:, :3] * ASF_UNIT_M,
                              skeleton.motion_skeleton(), fps)
