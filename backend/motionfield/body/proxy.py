"""A simple skinned proxy body for users without SMPL model files. No bpy.

The body is built from trimesh primitives laid along the bones of a 24-joint SMPL
skeleton in its rest (T) pose: tapered capsules (surfaces of revolution) for the torso,
neck and limbs, an ellipsoid head, and subdivided boxes for feet, toes, palms and fingers.
Each part belongs to the joint whose rotation moves it (the upper arm to the shoulder, the
forearm to the elbow) and is blended smoothly with the neighbouring joint near each end,
so the Blender add-on can skin it to the SMPL armature and bends look acceptable.

All numbers are in metres in the SMPL frame (Y up, facing +Z, the body's left on +X) and
scale with the skeleton's height.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from motionfield.body.skeleton import SMPL_JOINT_NAMES, Skeleton, smpl_skeleton

MAX_INFLUENCES = 4
EXPORT_SUFFIXES = (".ply", ".obj", ".glb")
_SECTIONS = 14  # points around each capsule
_RINGS = 5  # rings along each capsule's straight part
HEAD_CENTRE = (0.0, 0.07, 0.01)  # the head ellipsoid's centre from the head joint, metres
HEAD_SEMI_AXES = (0.078, 0.115, 0.098)  # its half-width, half-height, half-depth


@dataclass(frozen=True, eq=False)
class SkinnedMesh:
    """A triangle mesh in its bind pose with linear-blend-skinning weights.

    Attributes
    ----------
    vertices : (V, 3) float64 rest-pose positions, metres
    faces : (F, 3) int64 vertex indices, counter-clockwise seen from outside
    weights : (V, J) float64, non-negative, rows sum to 1, at most 4 nonzero per row
    joint_names : tuple of J str, the columns of `weights`
    bind_positions : (J, 3) float64 joint positions of the bind pose (the skeleton's rest
        pose, all rotations identity)
    """

    vertices: np.ndarray = field(repr=False)
    faces: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    joint_names: tuple[str, ...]
    bind_positions: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        verts = np.asarray(self.vertices, dtype=np.float64)
        faces = np.asarray(self.faces, dtype=np.int64)
        weights = np.asarray(self.weights, dtype=np.float64)
        bind = np.asarray(self.bind_positions, dtype=np.float64)
        names = tuple(self.joint_names)
        count, joints = len(verts), len(names)
        if verts.ndim != 2 or verts.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"need (V, 3) vertices and (F, 3) faces, got {verts.shape} "
                             f"and {faces.shape}")
        if faces.size and (faces.min() < 0 or faces.max() >= count):
            raise ValueError("faces index vertices that do not exist")
        if weights.shape != (count, joints) or bind.shape != (joints, 3):
            raise ValueError(f"need (V={count}, J={joints}) weights and (J, 3) bind positions, "
                             f"got {weights.shape} and {bind.shape}")
        if np.any(weights < 0) or not np.allclose(weights.sum(axis=1), 1.0, atol=1e-9):
            raise ValueError("skinning weights must be non-negative and each row must sum to 1")
        if np.any(np.count_nonzero(weights, axis=1) > MAX_INFLUENCES):
            raise ValueError(f"at most {MAX_INFLUENCES} joints may influence a vertex")
        for name, arr in (("vertices", verts), ("faces", faces), ("weights", weights),
                          ("bind_positions", bind)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "joint_names", names)

    def to_trimesh(self) -> trimesh.Trimesh:
        """The rest mesh (no weights: trimesh has no skins)."""
        return trimesh.Trimesh(self.vertices.copy(), self.faces.copy(), process=False)


@dataclass(frozen=True)
class _Part:
    """One primitive: its vertices, faces and how they are weighted.

    `owner` moves the part. Along `axis` from `start` (unit vector), vertices within
    `blend_start` of the start blend with `parent`, and vertices within `blend_end` of
    `start + length * axis` blend with `child` (half-and-half exactly at each joint).
    """

    vertices: np.ndarray
    faces: np.ndarray
    owner: int
    start: np.ndarray
    axis: np.ndarray
    length: float
    parent: int | None = None
    blend_start: float = 0.0
    child: int | None = None
    blend_end: float = 0.0


# --------------------------------------------------------------------------- geometry


def _frame(axis: np.ndarray, width_hint: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose columns are the width direction, the depth direction, axis."""
    axis = axis / np.linalg.norm(axis)
    width = width_hint - np.dot(width_hint, axis) * axis
    if np.linalg.norm(width) < 1e-6:  # hint along the axis: any perpendicular will do
        width = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
    width /= np.linalg.norm(width)
    return np.stack([width, np.cross(axis, width), axis], axis=1)


def _place(local: np.ndarray, origin: np.ndarray, rot: np.ndarray) -> np.ndarray:
    return local @ rot.T + origin


def _capsule_profile(length: float, radii: tuple[float, float],
                     caps: tuple[float, float]) -> np.ndarray:
    """(N, 2) (radius, height) outline of a tapered capsule from 0 to `length`."""
    theta = np.linspace(0.0, np.pi / 2, 5)
    bottom = np.stack([radii[0] * np.sin(theta), -caps[0] * np.cos(theta)], axis=1)
    t = np.linspace(0.0, 1.0, _RINGS + 2)[1:-1]
    middle = np.stack([radii[0] + (radii[1] - radii[0]) * t, length * t], axis=1)
    top = np.stack([radii[1] * np.sin(theta[::-1]), length + caps[1] * np.cos(theta[::-1])],
                   axis=1)
    return np.concatenate([bottom, middle, top])


def _capsule(a: np.ndarray, b: np.ndarray, radii: tuple[float, float],
             width_hint: np.ndarray, flatten: float = 1.0,
             caps: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A tapered capsule from a to b; the cross-section's depth is `flatten` x its width."""
    length = float(np.linalg.norm(b - a))
    caps = radii if caps is None else caps
    mesh = trimesh.creation.revolve(_capsule_profile(length, radii, caps), sections=_SECTIONS)
    local = mesh.vertices * [1.0, flatten, 1.0]
    return _place(local, a, _frame(b - a, width_hint)), np.asarray(mesh.faces)


def _ellipsoid(centre: np.ndarray, semi_axes: tuple[float, float, float]):
    mesh = trimesh.creation.uv_sphere(radius=1.0, count=[14, 14])
    return mesh.vertices * semi_axes + centre, np.asarray(mesh.faces)


def _box(a: np.ndarray, b: np.ndarray, extents: tuple[float, float], width_hint: np.ndarray,
         taper: float = 1.0, overhang: tuple[float, float] = (0.0, 0.0)):
    """A subdivided box from a to b (extended by `overhang` at each end) of the given
    (width, depth); the depth shrinks linearly to `taper` x at the b end."""
    length = float(np.linalg.norm(b - a))
    lo, hi = -overhang[0], length + overhang[1]
    mesh = trimesh.creation.box(bounds=[[-extents[0] / 2, -extents[1] / 2, lo],
                                        [extents[0] / 2, extents[1] / 2, hi]])
    mesh = mesh.subdivide().subdivide()
    local = np.array(mesh.vertices)
    local[:, 1] *= 1.0 + (taper - 1.0) * (local[:, 2] - lo) / (hi - lo)
    return _place(local, a, _frame(b - a, width_hint)), np.asarray(mesh.faces)


# --------------------------------------------------------------------------- the body

_X, _Y, _Z = np.eye(3)


def _limb(pos, owner, end, parent, radii, hint, scale, flatten=1.0, caps=None,
          end_child=True) -> _Part:
    """A capsule along the bone from joint `owner` to joint `end`."""
    radii = (radii[0] * scale, radii[1] * scale)
    caps = None if caps is None else (caps[0] * scale, caps[1] * scale)
    verts, faces = _capsule(pos[owner], pos[end], radii, hint, flatten, caps)
    length = float(np.linalg.norm(pos[end] - pos[owner]))
    axis = (pos[end] - pos[owner]) / length
    return _Part(verts, faces, owner, pos[owner], axis, length,
                 parent, min(0.7 * radii[0], 0.45 * length),
                 end if end_child else None, min(0.7 * radii[1], 0.45 * length))


def _torso(pos: np.ndarray, s: float) -> list[_Part]:
    hips = (pos[1] + pos[2]) / 2
    pelvis = _capsule(hips, pos[3], (0.15 * s, 0.14 * s), _X, 0.72, (0.10 * s, 0.05 * s))
    axis = (pos[3] - hips) / np.linalg.norm(pos[3] - hips)
    parts = [_Part(*pelvis, 0, hips, axis, float(np.linalg.norm(pos[3] - hips)),
                   child=3, blend_end=0.04 * s)]
    parts.append(_limb(pos, 3, 6, 0, (0.14, 0.14), _X, s, 0.72, (0.05, 0.04)))
    parts.append(_limb(pos, 6, 9, 3, (0.145, 0.155), _X, s, 0.72, (0.04, 0.04)))
    parts.append(_limb(pos, 9, 12, 6, (0.165, 0.12), _X, s, 0.68, (0.05, 0.05)))
    parts.append(_limb(pos, 12, 15, 9, (0.055, 0.05), _X, s))
    for collar, shoulder in ((13, 16), (14, 17)):
        parts.append(_limb(pos, collar, shoulder, 9, (0.06, 0.058), _Z, s))
    head = _ellipsoid(pos[15] + np.array(HEAD_CENTRE) * s,
                      tuple(a * s for a in HEAD_SEMI_AXES))
    parts.append(_Part(*head, 15, pos[15], _Y, 1.0, parent=12, blend_start=0.03 * s))
    return parts


def _leg(pos: np.ndarray, s: float, hip: int, knee: int, ankle: int, foot: int) -> list[_Part]:
    parts = [_limb(pos, hip, knee, 0, (0.085, 0.058), _X, s),
             _limb(pos, knee, ankle, hip, (0.056, 0.04), _X, s)]
    ground = pos[foot][1] - 0.025 * s
    forward = np.array([0.0, 0.0, pos[foot][2] - pos[ankle][2]])
    heel = np.array([pos[ankle][0], ground + 0.045 * s, pos[ankle][2]])
    toe_base = np.array([pos[foot][0], ground + 0.03 * s, pos[foot][2]])
    sole = _box(heel, toe_base, (0.09 * s, 0.1 * s), _X, taper=0.55,
                overhang=(0.07 * s, 0.0))
    parts.append(_Part(*sole, ankle, pos[ankle], -_Y, 1.0, parent=knee, blend_start=0.03 * s))
    toes = _box(toe_base, toe_base + _Z * 0.07 * s, (0.09 * s, 0.045 * s), _X, taper=0.7)
    parts.append(_Part(*toes, foot, pos[foot], _Z if forward[2] >= 0 else -_Z, 1.0,
                       parent=ankle, blend_start=0.02 * s))
    return parts


def _arm(pos: np.ndarray, s: float, collar: int, shoulder: int, elbow: int, wrist: int,
         hand: int) -> list[_Part]:
    parts = [_limb(pos, shoulder, elbow, collar, (0.052, 0.042), _Z, s),
             _limb(pos, elbow, wrist, shoulder, (0.041, 0.029), _Z, s)]
    along = (pos[hand] - pos[wrist]) / np.linalg.norm(pos[hand] - pos[wrist])
    palm = _box(pos[wrist], pos[hand], (0.085 * s, 0.03 * s), _Z, 0.9, (0.015 * s, 0.01 * s))
    parts.append(_Part(*palm, wrist, pos[wrist], along, 1.0, parent=elbow,
                       blend_start=0.02 * s))
    tip = pos[hand] + along * 0.085 * s
    fingers = _box(pos[hand] + along * 0.01 * s, tip, (0.08 * s, 0.022 * s), _Z, 0.7)
    parts.append(_Part(*fingers, hand, pos[hand], along, 1.0, parent=wrist,
                       blend_start=0.015 * s))
    return parts


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below -1, 1 above 1, a C1 cubic between (0.5 at 0)."""
    t = np.clip((x + 1.0) / 2.0, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _part_weights(part: _Part, joints: int) -> np.ndarray:
    """(n, J) weights of one part's vertices."""
    s = (part.vertices - part.start) @ part.axis
    w = np.zeros((len(s), joints))
    w_parent = (1.0 - _smoothstep(s / part.blend_start) if part.parent is not None
                and part.blend_start > 0 else np.zeros_like(s))
    w_child = (_smoothstep((s - part.length) / part.blend_end) if part.child is not None
               and part.blend_end > 0 else np.zeros_like(s))
    total = np.maximum(w_parent + w_child, 1.0)  # both ends near: share, never exceed 1
    w_parent, w_child = w_parent / total, w_child / total
    w[:, part.owner] = 1.0 - w_parent - w_child
    if part.parent is not None:
        w[:, part.parent] += w_parent
    if part.child is not None:
        w[:, part.child] += w_child
    w[w < 1e-6] = 0.0
    return w / w.sum(axis=1, keepdims=True)


def proxy_body(skeleton: Skeleton | None = None) -> SkinnedMesh:
    """A human-looking proxy mesh skinned to a 24-joint SMPL skeleton in its rest pose.

    Parameters
    ----------
    skeleton : a skeleton with the SMPL joint names and parents (default: the shipped
        `smpl_skeleton()`); part sizes scale with its height

    Returns
    -------
    SkinnedMesh with a few thousand vertices, bound at the skeleton's rest pose
    """
    skel = smpl_skeleton() if skeleton is None else skeleton
    if skel.names != SMPL_JOINT_NAMES:
        raise ValueError("the proxy body needs a skeleton with the 24 SMPL joint names, in order")
    pos = skel.rest_positions()
    scale = skel.height() / smpl_skeleton().height()
    parts = _torso(pos, scale)
    parts += _leg(pos, scale, 1, 4, 7, 10) + _leg(pos, scale, 2, 5, 8, 11)
    parts += _arm(pos, scale, 13, 16, 18, 20, 22) + _arm(pos, scale, 14, 17, 19, 21, 23)
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    return SkinnedMesh(
        vertices=np.concatenate([p.vertices for p in parts]),
        faces=np.concatenate([p.faces + o for p, o in zip(parts, offsets)]),
        weights=np.concatenate([_part_weights(p, len(skel)) for p in parts]),
        joint_names=skel.names, bind_positions=pos)


# --------------------------------------------------------------------------- skinning


def skin(mesh: SkinnedMesh, global_rotmats: np.ndarray, positions: np.ndarray,
         chunk: int = 256) -> np.ndarray:
    """Linear blend skinning of the bind-pose mesh by posed joints.

    Parameters
    ----------
    mesh : the skinned mesh; its `bind_positions` (rotations identity) are the bind pose
    global_rotmats : (..., J, 3, 3) world rotation of each joint, as returned by
        `motionfield.body.kinematics.forward_kinematics` (usually (T, J, 3, 3))
    positions : (..., J, 3) world position of each joint, the same function's other output
    chunk : frames skinned at once (bounds memory)

    Returns
    -------
    (..., V, 3) posed vertices
    """
    rot = np.asarray(global_rotmats, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    joints = len(mesh.joint_names)
    if rot.shape[-3:] != (joints, 3, 3) or pos.shape != rot.shape[:-1]:
        raise ValueError(f"need (..., J={joints}, 3, 3) rotations and (..., J, 3) positions, "
                         f"got {rot.shape} and {pos.shape}")
    lead = rot.shape[:-3]
    rot, pos = rot.reshape(-1, joints, 3, 3), pos.reshape(-1, joints, 3)
    # each joint's transform from bind to posed: x -> R x + (p - R b)
    trans = pos - np.einsum("tjab,jb->tja", rot, mesh.bind_positions)
    out = np.empty((len(rot), len(mesh.vertices), 3))
    for i in range(0, len(rot), chunk):
        blend_r = np.einsum("vj,tjab->tvab", mesh.weights, rot[i:i + chunk])
        blend_t = np.einsum("vj,tja->tva", mesh.weights, trans[i:i + chunk])
        out[i:i + chunk] = np.einsum("tvab,vb->tva", blend_r, mesh.vertices) + blend_t
    return out.reshape(*lead, len(mesh.vertices), 3)


def export_proxy(path: str | Path, skeleton: Skeleton | None = None) -> Path:
    """Write the rest-pose proxy mesh to .ply, .obj or .glb (chosen by the extension).

    Only the geometry is written: skinning weights stay with `proxy_body` (the Blender
    add-on recomputes them by joint name).
    """
    path = Path(path)
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ValueError(f"{path}: the proxy body is written as one of {EXPORT_SUFFIXES}")
    proxy_body(skeleton).to_trimesh().export(path)
    return path
