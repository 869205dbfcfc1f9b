"""SMPL motion onto the user's own rig: bone maps (presets, saved maps, name matching) and
the rotations that respect rest-pose differences. Math in numpy; bpy only reads the rig.

For a user bone b driven by SMPL joint j, with S_j(t) SMPL's world rotation (Blender axes,
relative to SMPL's T pose) and S_ref_j SMPL's pose that matches the rig's rest pose (each
SMPL bone swung by the smallest rotation onto the rig's bone, parents first):

    B_b(t) = S_j(t) S_ref_j^-1 Rest_b        armature-space rotation of bone b

so the rig moves as SMPL moves away from the pose the rig rests in (A pose, odd rolls, twist
bones in between: unmapped bones keep their rest pose relative to their parent).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .axes import Y_UP_TO_Z_UP, matrix_to_quat, quat_continuous

SMPL_NAMES = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
              "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
              "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand",
              "right_hand")
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
                20, 21)
REQUIRED = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_shoulder",
            "right_shoulder", "left_elbow", "right_elbow")
PRESETS = Path(__file__).with_name("presets")
MIN_BONE = 1e-4  # metres (Blender units): shorter bones point nowhere


class RetargetError(ValueError):
    """A rig that cannot be mapped or retargeted; the message says what to fix."""


def load_preset(path: Path) -> dict[str, str]:
    try:
        doc = json.loads(Path(path).read_text())
        bones = doc["bones"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RetargetError(f"cannot read bone map {path}: {e}") from None
    unknown = sorted(set(bones) - set(SMPL_NAMES))
    if unknown:
        raise RetargetError(f"bone map {path}: {unknown} are not SMPL joints")
    return dict(bones)


def presets(folders: list[Path] | None = None) -> dict[str, dict[str, str]]:
    """Shipped presets, then the user's saved maps (same name: the user's wins)."""
    found = {}
    for folder in [PRESETS, *(folders or [])]:
        for path in sorted(Path(folder).glob("*.json")):
            found[path.stem] = load_preset(path)
    return found


def save_preset(folder: Path, name: str, bones: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.json"
    path.write_text(json.dumps({"name": name, "bones": bones}, indent=1))
    return path


def _plain(name: str) -> str:
    """'mixamorig:LeftArm' -> 'leftarm', 'DEF-upper_arm.L' -> 'upper_arm.l'."""
    name = name.rsplit(":", 1)[-1]
    return re.sub(r"^(def|org|mch)[-_]", "", name.lower())


def auto_map(bone_names: list[str], folders: list[Path] | None = None) -> tuple[str, dict]:
    """The preset matching most of the rig's bones (namespaces and DEF- prefixes ignored),
    or the SMPL names themselves; RetargetError when the core body is not found."""
    plain = {_plain(b): b for b in bone_names}
    candidates = {"smpl": {n: n for n in SMPL_NAMES}, **presets(folders)}
    best, best_map = None, {}
    for name, bones in candidates.items():
        mapped = {j: plain[_plain(b)] for j, b in bones.items() if _plain(b) in plain}
        if len(mapped) > len(best_map):
            best, best_map = name, mapped
    missing = [j for j in REQUIRED if j not in best_map]
    if missing:
        raise RetargetError(f"could not map {missing} onto this rig's bones; pick a preset "
                            "or edit the bone map")
    return best or "smpl", best_map


# A generated Rigify rig is animated through its FK controls, not its DEF bones (Rigify
# drives those by constraints, so keys on them move nothing). Each control is keyed with
# the world rotation its SMPL joint has relative to the rest pose of the DEF chain
# (`rigify.json`); the hips control stays at rest under the torso, which carries the pelvis.
RIGIFY_CONTROLS = {
    "pelvis": "torso", "spine3": "chest", "neck": "neck", "head": "head",
    **{f"{side}_{joint}": f"{bone}.{s}" for side, s in (("left", "L"), ("right", "R"))
       for joint, bone in (("hip", "thigh_fk"), ("knee", "shin_fk"), ("ankle", "foot_fk"),
                           ("foot", "toe_fk"), ("collar", "shoulder"),
                           ("shoulder", "upper_arm_fk"), ("elbow", "forearm_fk"),
                           ("wrist", "hand_fk"))}}
# the IK/FK switches (1.0 = FK) keyed over the retargeted range
RIGIFY_FK_SWITCHES = ("thigh_parent.L", "thigh_parent.R", "upper_arm_parent.L",
                      "upper_arm_parent.R")
# Rigify's own IK->FK bake per limb (the arguments its rig_ui.py gives the 'Action' button):
# settings bone, FK chain, IK result chain, IK controls, tail controls, extra controls
RIGIFY_IK_LIMBS = tuple(
    (f"{parent}.{s}", *[[f"{b}.{s}" for b in chain] for chain in chains])
    for s in ("L", "R") for parent, *chains in (
        ("thigh_parent", ("thigh_fk", "shin_fk", "foot_fk", "toe_fk"),
         ("thigh_ik", "MCH-shin_ik", "MCH-thigh_ik_target"),
         ("thigh_ik", "thigh_ik_target", "foot_ik"), ("toe_ik",),
         ("foot_heel_ik", "foot_spin_ik")),
        ("upper_arm_parent", ("upper_arm_fk", "forearm_fk", "hand_fk"),
         ("upper_arm_ik", "MCH-forearm_ik", "MCH-upper_arm_ik_target"),
         ("upper_arm_ik", "upper_arm_ik_target", "hand_ik"), (), ())))
RIG_KINDS = {"rigify": "generated Rigify rig (FK controls keyed)",
             "rigify_metarig": "Rigify metarig", "mixamo": "Mixamo-style deform rig",
             "smpl": "SMPL armature", "other": "rig mapped by a preset or saved map"}


def rig_kind(bone_names: list[str]) -> str:
    """Which kind of rig the bones say this is: 'rigify' (generated: torso and FK controls
    beside ORG-/MCH-/DEF- bones), 'rigify_metarig', 'mixamo' (with or without a namespace),
    'smpl' or 'other'."""
    names = set(bone_names)
    layers = {n.split("-", 1)[0] for n in names if "-" in n}
    if {"torso", "thigh_fk.L", "upper_arm_fk.L"} <= names and {"ORG", "MCH", "DEF"} <= layers:
        return "rigify"
    if {"spine", "thigh.L", "upper_arm.L"} <= names and not layers & {"ORG", "DEF"}:
        return "rigify_metarig"
    plain = {_plain(n) for n in names}
    if {"hips", "leftupleg", "leftarm"} <= plain:
        return "mixamo"
    if {"pelvis", "left_hip", "left_shoulder"} <= names:
        return "smpl"
    return "other"


def rigify_controls(bone_names: list[str]) -> dict[str, str]:
    """SMPL joint -> FK control of a generated Rigify rig, for the controls it has."""
    names = set(bone_names)
    return {j: c for j, c in RIGIFY_CONTROLS.items() if c in names}


def control_targets(smpl_global: np.ndarray, reference: np.ndarray,
                    control_rest: dict[str, np.ndarray], controls: dict[str, str]
                    ) -> dict[str, np.ndarray]:
    """(T, 3, 3) armature-space rotation per control: the control turns as its SMPL joint
    turns away from the reference pose (the pose of the bones the control moves at rest).

    smpl_global : (T, 24, 3, 3); reference : (24, 3, 3) from smpl_reference_pose;
    control_rest : control -> (3, 3) rest orientation (bone.matrix_local)."""
    return {c: smpl_global[:, SMPL_NAMES.index(j)] @ reference[SMPL_NAMES.index(j)].T
            @ control_rest[c] for j, c in controls.items()}


def _swing(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smallest rotation matrix taking direction u onto v."""
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    axis, c = np.cross(u, v), float(u @ v)
    if c < -1 + 1e-9:  # opposite: half turn about any perpendicular
        perp = np.cross(u, [1.0, 0, 0] if abs(u[0]) < 0.9 else [0, 1.0, 0])
        perp /= np.linalg.norm(perp)
        return 2 * np.outer(perp, perp) - np.eye(3)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def smpl_reference_pose(smpl_rest_heads: np.ndarray, rig_heads: dict[str, np.ndarray],
                        mapping: dict[str, str]) -> np.ndarray:
    """(24, 3, 3) SMPL world rotations (Blender axes) matching the rig's rest pose."""
    g = np.zeros((24, 3, 3))
    for j in range(24):
        parent = np.eye(3) if SMPL_PARENTS[j] < 0 else g[SMPL_PARENTS[j]]
        kids = [c for c in range(24) if SMPL_PARENTS[c] == j
                and SMPL_NAMES[c] in mapping and SMPL_NAMES[j] in mapping]
        pairs = [(smpl_rest_heads[c] - smpl_rest_heads[j],
                  rig_heads[mapping[SMPL_NAMES[c]]] - rig_heads[mapping[SMPL_NAMES[j]]])
                 for c in kids]
        pairs = _across(pairs, kids, smpl_rest_heads, rig_heads, mapping)
        # bones of no length on either side (CMU collars sit on spine3, in the source and
        # in a converted CMU motion's SMPL skeleton; a rig's tiny bones) have no direction
        pairs = [(d, u) for d, u in pairs
                 if np.linalg.norm(u) > MIN_BONE and np.linalg.norm(d) > MIN_BONE]
        if len(pairs) >= 2:
            d = np.array([p[0] / np.linalg.norm(p[0]) for p in pairs])
            u = np.array([p[1] / np.linalg.norm(p[1]) for p in pairs])
            w, _, vt = np.linalg.svd(d.T @ u)
            fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ w.T)) or 1.0])
            g[j] = vt.T @ fix @ w.T
        elif len(pairs) == 1:
            d, u = pairs[0]
            g[j] = _swing(parent @ d, u) @ parent
        else:
            g[j] = parent
    return g


def _across(pairs: list, kids: list[int], smpl_rest_heads: np.ndarray,
            rig_heads: dict[str, np.ndarray], mapping: dict[str, str]) -> list:
    """A left and right child pair (hips, collars) replaced by the vector between them: where
    a rig puts its hip heads relative to its pelvis varies (a Rigify rig's thighs start above
    the head of its first spine bone), the line from one hip to the other does not."""
    names = [SMPL_NAMES[c] for c in kids]
    left = [i for i, n in enumerate(names) if n.startswith("left_")
            and n.replace("left_", "right_") in names]
    if not left:
        return pairs
    i = left[0]
    r = names.index(names[i].replace("left_", "right_"))
    a, b = kids[i], kids[r]
    across = (smpl_rest_heads[a] - smpl_rest_heads[b],
              rig_heads[mapping[names[i]]] - rig_heads[mapping[names[r]]])
    return [p for k, p in enumerate(pairs) if k not in (i, r)] + [across]


def retarget_to_rig(smpl_global: np.ndarray, root_position: np.ndarray,
                    smpl_rest_heads: np.ndarray, rig: dict, mapping: dict[str, str]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Pose-bone quaternions (T, B, 4) for every rig bone and the root bone's location (T, 3).

    smpl_global : (T, 24, 3, 3) SMPL world rotations in Blender axes, relative to SMPL's T pose
    root_position : (T, 3) where the pelvis should be (Blender axes, armature space)
    smpl_rest_heads : (24, 3) SMPL T-pose joints (Blender axes)
    rig : {"names": [...], "parents": [...], "rest": (B, 3, 3), "heads": (B, 3)} in
          hierarchy order (parents first), armature space
    """
    names, parents = rig["names"], rig["parents"]
    rest, heads = np.asarray(rig["rest"]), np.asarray(rig["heads"])
    index = {n: i for i, n in enumerate(names)}
    missing = sorted(b for b in mapping.values() if b not in index)
    if missing:
        raise RetargetError(f"the bone map names bones this rig lacks: {missing}")
    ref = smpl_reference_pose(smpl_rest_heads, {n: heads[i] for n, i in index.items()},
                              mapping)
    driven = {index[b]: SMPL_NAMES.index(j) for j, b in mapping.items()}
    frames = len(smpl_global)
    world = np.empty((frames, len(names), 3, 3))
    quats = np.empty((frames, len(names), 4))
    for b, p in enumerate(parents):
        rel_rest = rest[b] if p < 0 else rest[p].T @ rest[b]
        if b in driven:
            j = driven[b]
            world[:, b] = smpl_global[:, j] @ ref[j].T @ rest[b]
        else:
            world[:, b] = rest[b] if p < 0 else world[:, p] @ rel_rest
        parent_world = np.eye(3) if p < 0 else world[:, p]
        basis = rel_rest.T @ np.swapaxes(parent_world, -1, -2) @ world[:, b]
        quats[:, b] = [matrix_to_quat(m) for m in basis]
    # the pelvis bone's location, in its rest frame (its parents, unmapped, stay at rest)
    root = index[mapping["pelvis"]]
    location = (root_position - heads[root]) @ rest[root]
    return np.stack([quat_continuous(quats[:, b]) for b in range(len(names))], axis=1), location


def smpl_world_rotations(local: np.ndarray) -> np.ndarray:
    """(T, 24, 4) SMPL local quaternions -> (T, 24, 3, 3) world rotations in Blender axes."""
    w, x, y, z = np.moveaxis(np.asarray(local, dtype=np.float64), -1, 0)
    m = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                  2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                  2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
                 axis=-1).reshape(*local.shape[:-1], 3, 3)
    glob = np.empty_like(m)
    for j, p in enumerate(SMPL_PARENTS):
        glob[:, j] = m[:, j] if p < 0 else glob[:, p] @ m[:, j]
    c = Y_UP_TO_Z_UP
    return c @ glob @ c.T


def smpl_local_rotations(world: np.ndarray) -> np.ndarray:
    """The inverse of `smpl_world_rotations`: (T, 24, 3, 3) world rotations in Blender axes
    -> (T, 24, 4) SMPL local quaternions wxyz (signs continuous over time)."""
    c = Y_UP_TO_Z_UP
    glob = c.T @ np.asarray(world, dtype=np.float64) @ c
    local = np.empty_like(glob)
    for j, p in enumerate(SMPL_PARENTS):
        local[:, j] = glob[:, j] if p < 0 else np.swapaxes(glob[:, p], -1, -2) @ glob[:, j]
    quats = np.array([[matrix_to_quat(m) for m in frame] for frame in local])
    return np.stack([quat_continuous(quats[:, j]) for j in range(24)], axis=1)
