"""Retargeting any rig's BVH motion onto the SMPL skeleton, respecting rest-pose differences.

Each SMPL joint j driven by a source joint s follows that joint's world orientation through
a constant calibration rotation C_j (SMPL joint frame expressed in the source joint frame):

    G_j(t) = A_s(t) C_j        world rotation of SMPL joint j at time t

C_j is found from a reference pose of the source: the rig's zero pose when it is a T or A
pose, or any frame the user names (a neutral stand works), or a calibration stored in the
rig profile. In the reference pose the SMPL pose that matches the source is built joint by
joint from the pelvis down: each SMPL bone is swung by the smallest rotation onto the source
bone's direction (a joint with several child bones, the pelvis and chest, is solved by
Kabsch over all of them), so twist is inherited from the parent and never invented. An
SMPL joint with no source joint keeps its rest pose relative to its parent. The root
follows the source pelvis, scaled by the ratio of leg lengths so feet stay on the floor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from motionfield.body.rotations import matrix_to_quat, quat_to_matrix, rotation_between
from motionfield.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS, Skeleton, smpl_skeleton
from motionfield.errors import RigError
from motionfield.io.bvh import BvhClip, guess_unit_scale
from motionfield.io.rigs import END, RigMap, detect_rig
from motionfield.motion import Motion

# Joints whose positions mean the same thing on every humanoid rig: the retarget error is
# measured on these (spine splits and clavicle placement differ between rigs by design).
EVAL_JOINTS = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
               "right_ankle", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
               "left_wrist", "right_wrist")
UNIT_SCALES = {"metres": 1.0, "centimetres": 0.01, "millimetres": 0.001, "inches": 0.0254,
               "cmu_asf": 0.056444}
# A swing this large from the zero pose to SMPL's T pose means the zero pose is no T/A pose.
MAX_REST_SWING_DEG = 100.0
# Bones shorter than this (metres), on the source or the SMPL side, have no direction: CMU's
# collars sit on the chest (zero OFFSET), a converted CMU motion's SMPL collars likewise.
MIN_BONE_M = 1e-4
# The bones without which the pose cannot be found: SMPL parent -> child joint.
LIMB_BONES = (("left_hip", "left_knee"), ("right_hip", "right_knee"),
              ("left_knee", "left_ankle"), ("right_knee", "right_ankle"),
              ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
              ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"))


@dataclass
class RetargetReport:
    """What a retarget did, for people: printed by `motionfield convert`."""

    rig: str
    units: str
    metres_per_unit: float
    reference: str
    mapped: dict[str, str]
    missing: list[str]
    body_scale: float
    proportions: str = "source"
    error_mean_m: float = float("nan")
    error_max_m: float = float("nan")
    error_per_joint_m: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [
            (f"rig: {self.rig} ({self.units}, {self.metres_per_unit:g} m per unit); "
             f"reference pose: {self.reference}"),
            f"joints mapped: {len(self.mapped)}/24; missing: {', '.join(self.missing) or 'none'}",
            (f"body scale (SMPL / source legs): {self.body_scale:.3f}; proportions: "
             f"{self.proportions}"),
            (f"retarget error over {len(self.error_per_joint_m)} body joints: mean "
             f"{self.error_mean_m * 100:.2f} cm, max {self.error_max_m * 100:.2f} cm"),
        ]


@dataclass
class SourceTracks:
    """World rotations (T, 24, 3, 3) and positions (T, 24, 3), metres, of the source joints
    that drive each SMPL joint; rows of unmapped joints are NaN."""

    rotations: np.ndarray
    positions: np.ndarray
    mapped: np.ndarray  # (24,) bool


def source_tracks(clip: BvhClip, rig: RigMap, scale: float) -> SourceTracks:
    glob, pos = clip.forward_kinematics(scale)
    return _tracks(clip, rig, scale, glob, pos)


def _rest_tracks(clip: BvhClip, rig: RigMap, scale: float) -> SourceTracks:
    pos = clip.rest_positions(scale)[None]
    glob = np.broadcast_to(np.eye(3), (1, len(clip.names), 3, 3))
    return _tracks(clip, rig, scale, glob, pos)


def _tracks(clip, rig, scale, glob, pos) -> SourceTracks:
    if rig.root_offset_added:
        pos = pos + clip.offsets[0] * scale
    frames = len(glob)
    rots = np.full((frames, 24, 3, 3), np.nan)
    poss = np.full((frames, 24, 3), np.nan)
    mapped = np.zeros(24, dtype=bool)
    index = {n: i for i, n in enumerate(clip.names)}
    for smpl_name, src in rig.joints.items():
        j = SMPL_JOINT_NAMES.index(smpl_name)
        if src.endswith(END):
            b = index[src[: -len(END)]]
            end = clip.end_sites.get(b)
            if end is None:
                raise RigError(f"rig map names {src!r} but {clip.names[b]!r} has no End Site")
            poss[:, j] = pos[:, b] + glob[:, b] @ (np.asarray(end) * scale)
        else:
            b = index[src]
            poss[:, j] = pos[:, b]
        rots[:, j] = glob[:, b]
        mapped[j] = True
    return SourceTracks(rots, poss, mapped)


def _targets(j: int, mapped: np.ndarray) -> list[int]:
    """The nearest mapped descendant along each child branch of SMPL joint j."""
    out = []
    for c in (c for c, p in enumerate(SMPL_PARENTS) if p == j):
        stack = [c]
        while stack:
            k = stack.pop()
            if mapped[k]:
                out.append(k)
            else:
                stack.extend(ch for ch, p in enumerate(SMPL_PARENTS) if p == k)
    return out


def _kabsch(d: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Rotation R (3, 3) minimising sum |R d_i - u_i|^2 over unit directions (N, 3)."""
    h = d.T @ u
    uu, _, vt = np.linalg.svd(h)
    sign = np.sign(np.linalg.det(vt.T @ uu.T)) or 1.0
    return vt.T @ np.diag([1.0, 1.0, sign]) @ uu.T


def _spread(pairs: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether the source directions span more than a line (Kabsch is then well posed)."""
    singular = np.linalg.svd(np.array([u for _, u in pairs]), compute_uv=False)
    return bool(singular[1] > 0.2 * singular[0])


def reference_pose(ref: SourceTracks, skeleton: Skeleton) -> tuple[np.ndarray, float]:
    """SMPL world rotations (24, 3, 3) matching the source's reference pose, and the largest
    single-bone swing (degrees) it needed."""
    rest = skeleton.rest_positions()
    g = np.zeros((24, 3, 3))
    largest = 0.0
    for j in range(24):
        parent = np.eye(3) if SMPL_PARENTS[j] < 0 else g[SMPL_PARENTS[j]]
        pairs = _direction_pairs(j, ref, rest)
        if len(pairs) >= 2 and _spread(pairs):
            d, u = (np.array(x) for x in zip(*pairs))
            g[j] = _kabsch(d, u)
        elif pairs:
            # one child bone, or several along one line (ReActIdle's clavicles start where
            # its neck does): swing the SMPL bone that best matches that line
            if len(pairs) > 1:
                mean_u = np.mean([u for _, u in pairs], axis=0)
                pairs = [max(pairs, key=lambda pair: (parent @ pair[0]) @ mean_u)]
            d, u = pairs[0]
            swing = quat_to_matrix(rotation_between(parent @ d, u))
            largest = max(largest, np.degrees(np.arccos(np.clip((parent @ d) @ u, -1, 1))))
            g[j] = swing @ parent
        else:
            g[j] = parent
    return g, largest


def _direction_pairs(j: int, ref: SourceTracks, rest: np.ndarray
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(SMPL rest direction, source direction) of each bone from SMPL joint j to its nearest
    mapped descendants, unit vectors; bones of no length on either side say nothing about
    direction and are left out (the joint then follows its other bones or its parent)."""
    pairs = []
    for k in _targets(j, ref.mapped) if ref.mapped[j] else []:
        u = ref.positions[0, k] - ref.positions[0, j]
        d = rest[k] - rest[j]
        if np.linalg.norm(u) > MIN_BONE_M and np.linalg.norm(d) > MIN_BONE_M:
            pairs.append((d / np.linalg.norm(d), u / np.linalg.norm(u)))
    return pairs


def check_bone_lengths(ref: SourceTracks, skeleton: Skeleton, where: str) -> None:
    """RigError, in words saying what to fix, when a limb bone or every bone from the pelvis
    has no length in the reference pose: its direction, so the whole pose, is unknown."""
    rest = skeleton.rest_positions()
    short: dict[str, list[str]] = {"source": [], "SMPL": []}
    for a, b in LIMB_BONES:
        ia, ib = SMPL_JOINT_NAMES.index(a), SMPL_JOINT_NAMES.index(b)
        if ref.mapped[ia] and ref.mapped[ib]:
            if not np.linalg.norm(ref.positions[0, ib] - ref.positions[0, ia]) > MIN_BONE_M:
                short["source"].append(f"{a}->{b}")
            elif not np.linalg.norm(rest[ib] - rest[ia]) > MIN_BONE_M:
                short["SMPL"].append(f"{a}->{b}")
    if ref.mapped[0] and not _direction_pairs(0, ref, rest):
        short["source"].append("pelvis->hips/spine")
    if short["source"]:
        raise RigError(
            f"the source's bones {', '.join(short['source'])} have no length in the {where}, "
            "so which way they point is unknown. Check the file's OFFSETs (all zero?) and "
            "that the rig map does not give two SMPL joints one source joint (--map), or "
            "name a frame where the limbs are apart (--reference-frame N)")
    if short["SMPL"]:
        raise RigError(f"the SMPL skeleton's bones {', '.join(short['SMPL'])} have no "
                       "length; use the shipped SMPL skeleton or a body with real limbs")


def reference_tracks(clip: BvhClip, rig: RigMap, scale: float, frame: int | None,
                     tracks: SourceTracks | None = None) -> SourceTracks:
    """The source pose taken to match SMPL's T pose: the zero pose, or frame `frame` (of
    `tracks` when the caller already has them)."""
    if frame is None:
        return _rest_tracks(clip, rig, scale)
    if not 0 <= frame < len(clip.frames):
        raise RigError(f"reference frame {frame} is outside the clip's "
                       f"{len(clip.frames)} frames (0 to {len(clip.frames) - 1})")
    tracks = tracks or source_tracks(clip, rig, scale)
    return SourceTracks(tracks.rotations[[frame]], tracks.positions[[frame]], tracks.mapped)


def calibrate(clip: BvhClip, rig: RigMap, scale: float, frame: int | None = None,
              skeleton: Skeleton | None = None,
              tracks: SourceTracks | None = None) -> dict[str, np.ndarray]:
    """C_j (wxyz) for every mapped SMPL joint from the zero pose or frame `frame`."""
    with _naming(clip):
        ref = reference_tracks(clip, rig, scale, frame, tracks)
        return _calibration(ref, skeleton or smpl_skeleton(), zero_pose=frame is None)


def rig_calibration(ref: SourceTracks, rig: RigMap, skeleton: Skeleton,
                    reference_frame: int | None) -> tuple[dict[str, np.ndarray], str]:
    """The C_j (wxyz) `retarget` uses and where they came from: the rig profile's stored
    calibration when no reference frame is named, else solved from `ref` (the zero pose or
    that frame, `reference_tracks`)."""
    if reference_frame is None and rig.calibration:
        return ({k: np.asarray(v, dtype=np.float64) for k, v in rig.calibration.items()},
                "rig calibration")
    calib = _calibration(ref, skeleton, zero_pose=reference_frame is None)
    return calib, "zero pose" if reference_frame is None else f"frame {reference_frame}"


def _calibration(ref: SourceTracks, skeleton: Skeleton, zero_pose: bool
                 ) -> dict[str, np.ndarray]:
    check_bone_lengths(ref, skeleton, "zero pose" if zero_pose else "reference frame")
    g, largest = reference_pose(ref, skeleton)
    if zero_pose and largest > MAX_REST_SWING_DEG:
        raise RigError(
            f"the rig's zero pose is not a T or A pose (a bone is {largest:.0f} degrees away "
            "from SMPL's T pose): name a frame where the character stands neutrally with "
            "--reference-frame N, or use a rig map with a calibration")
    return {SMPL_JOINT_NAMES[j]: matrix_to_quat(ref.rotations[0, j].T @ g[j])
            for j in range(24) if ref.mapped[j]}


def _leg_length(points: np.ndarray, mapped: np.ndarray) -> float:
    lengths = []
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        if mapped[[hip, knee, ankle]].all():
            lengths.append(np.linalg.norm(points[knee] - points[hip])
                           + np.linalg.norm(points[ankle] - points[knee]))
    return float(np.mean(lengths)) if lengths else float("nan")


def resolve_rig(clip: BvhClip, rig: RigMap | None) -> RigMap:
    with _naming(clip):
        if rig is None:
            rig = detect_rig(clip.names, clip.parents)
        rig.check_against(clip.names)
        return rig


def retarget(clip: BvhClip, rig: RigMap | None = None, *, units: str | None = None,
             reference_frame: int | None = None, proportions: str = "source",
             skeleton: Skeleton | None = None) -> tuple[Motion, RetargetReport]:
    """Retarget a BVH clip onto SMPL.

    `units` names the file's length unit (a key of UNIT_SCALES); by default the rig
    profile's, else guessed from the skeleton's height. `reference_frame` chooses the pose
    that corresponds to SMPL's T pose (see the module docstring); by default the rig
    profile's calibration, else the zero pose. `proportions`: "source" gives the SMPL
    skeleton the source's bone lengths (scaled to SMPL's size, so joint positions follow
    the mocap exactly); "smpl" keeps the shipped SMPL skeleton (`skeleton`), the same for
    every clip, as training sets want. The rotations are the same either way.
    """
    if proportions not in ("source", "smpl"):
        raise ValueError(f"proportions must be 'source' or 'smpl', got {proportions!r}")
    with _naming(clip):
        return _retarget(clip, rig, units, reference_frame, proportions,
                         skeleton or smpl_skeleton())


@contextmanager
def _naming(clip: BvhClip) -> Iterator[None]:
    """Prefix the clip's file name to RigErrors raised inside (the user may convert many)."""
    try:
        yield
    except RigError as e:
        if str(e).startswith(f"{clip.source}: "):
            raise
        raise RigError(f"{clip.source}: {e}") from None


def _retarget(clip: BvhClip, rig: RigMap | None, units: str | None,
              reference_frame: int | None, proportions: str, skeleton: Skeleton
              ) -> tuple[Motion, RetargetReport]:
    rig = resolve_rig(clip, rig)
    units, scale = file_units(clip, rig, units)
    tracks = source_tracks(clip, rig, scale)  # forward kinematics of the clip, once
    ref = reference_tracks(clip, rig, scale, reference_frame, tracks)
    calib, reference = rig_calibration(ref, rig, skeleton, reference_frame)
    glob = _smpl_world_rotations(tracks, calib)
    local = glob.copy()
    for j in range(1, 24):
        local[:, j] = np.swapaxes(glob[:, SMPL_PARENTS[j]], -1, -2) @ glob[:, j]
    if reference == "rig calibration":  # else _calibration has checked them
        check_bone_lengths(ref, skeleton, "zero pose")
    body_scale = _leg_length(skeleton.rest_positions(), np.ones(24, bool)) / _leg_length(
        ref.positions[0], ref.mapped)
    if not np.isfinite(body_scale):
        body_scale = skeleton.height() / max(clip_height(clip, scale), 1e-6)
    if proportions == "source":
        skeleton = _source_proportions(skeleton, ref, calib, body_scale)
    motion = Motion.from_frames(matrix_to_quat(local), tracks.positions[:, 0] * body_scale,
                                skeleton, clip.fps)
    report = RetargetReport(
        rig.name, units, scale, reference, dict(rig.joints),
        [n for n, m in zip(SMPL_JOINT_NAMES, tracks.mapped) if not m], body_scale,
        proportions)
    _measure(report, motion, tracks, body_scale)
    return motion, report


def _source_proportions(skeleton: Skeleton, ref: SourceTracks, calib: dict[str, np.ndarray],
                        body_scale: float) -> Skeleton:
    """SMPL topology with the source's bone vectors, scaled by `body_scale`.

    Each SMPL bone between mapped joints takes the source bone vector of the reference pose
    expressed in the SMPL parent's frame there; a chain through unmapped SMPL joints (the
    spine2 of a two-joint spine) is split in SMPL's own length ratios; unmapped leaves keep
    SMPL's offsets times `body_scale`.
    """
    g_ref = {name: ref.rotations[0, SMPL_JOINT_NAMES.index(name)] @ quat_to_matrix(q)
             for name, q in calib.items()}
    offsets = skeleton.offsets * body_scale
    offsets[0] = skeleton.offsets[0]
    for j in range(1, 24):
        if not ref.mapped[j]:
            continue
        chain = [j]  # j and its unmapped ancestors up to the nearest mapped one
        a = SMPL_PARENTS[j]
        while a >= 0 and not ref.mapped[a]:
            chain.append(a)
            a = SMPL_PARENTS[a]
        if a < 0:
            continue
        u = g_ref[SMPL_JOINT_NAMES[a]].T @ (ref.positions[0, j] - ref.positions[0, a])
        lengths = np.array([np.linalg.norm(skeleton.offsets[k]) for k in chain])
        if lengths.sum() <= MIN_BONE_M:  # SMPL bones of no length: split the chain evenly
            lengths = np.ones(len(chain))
        for k, share in zip(chain, lengths / lengths.sum()):
            offsets[k] = u * share * body_scale
    return skeleton.with_offsets(offsets)


def clip_height(clip: BvhClip, scale: float) -> float:
    y = clip.rest_positions(scale)[:, 1]
    return float(y.max() - y.min())


def file_units(clip: BvhClip, rig: RigMap, units: str | None) -> tuple[str, float]:
    """(unit name, metres per unit): as asked, else the rig profile's, else guessed."""
    units = units or rig.units
    if units is None:
        scale, units = guess_unit_scale(clip)
        return units, scale
    if units not in UNIT_SCALES:
        raise RigError(f"unknown units {units!r}; use one of {', '.join(UNIT_SCALES)}")
    return units, UNIT_SCALES[units]


def _smpl_world_rotations(tracks: SourceTracks, calib: dict[str, np.ndarray]) -> np.ndarray:
    frames = len(tracks.rotations)
    glob = np.empty((frames, 24, 3, 3))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        if tracks.mapped[j]:
            glob[:, j] = tracks.rotations[:, j] @ quat_to_matrix(calib[name])
        elif j == 0:
            raise RigError("the pelvis must be mapped")
        else:
            glob[:, j] = glob[:, SMPL_PARENTS[j]]
    return glob


def _measure(report: RetargetReport, motion: Motion, tracks: SourceTracks,
             body_scale: float) -> None:
    """Joint position error of the SMPL result against the source scaled to SMPL size."""
    ours = motion.joint_positions()
    theirs = tracks.positions * body_scale
    per_joint = {}
    for name in EVAL_JOINTS:
        j = SMPL_JOINT_NAMES.index(name)
        if tracks.mapped[j]:
            per_joint[name] = float(np.linalg.norm(ours[:, j] - theirs[:, j], axis=-1).mean())
    report.error_per_joint_m = per_joint
    if per_joint:
        report.error_mean_m = float(np.mean(list(per_joint.values())))
        report.error_max_m = float(max(per_joint.values()))
