"""The SMPL armature: 24 bones in the motion's skeleton, Z up, optionally with a mesh."""

from __future__ import annotations

import bpy
import numpy as np

from .axes import to_blender

BONE_MIN_LENGTH = 0.04


def rest_points(offsets: np.ndarray, parents: list[int]) -> np.ndarray:
    """(J, 3) SMPL-frame rest joint positions with the root at x = z = 0 and the lowest
    joint on the floor."""
    pos = np.zeros((len(parents), 3))
    for j, p in enumerate(parents):
        if p >= 0:
            pos[j] = pos[p] + offsets[j]
    pos[:, 1] -= pos[:, 1].min()
    return pos


def _tail(j: int, heads: np.ndarray, parents: list[int]) -> np.ndarray:
    children = [c for c, p in enumerate(parents) if p == j]
    if len(children) == 1 or (children and parents[j] < 0):
        target = heads[children[0]] if len(children) == 1 else heads[children].mean(axis=0)
        if np.linalg.norm(target - heads[j]) > BONE_MIN_LENGTH:
            return target
    # leaves and branching joints: continue the parent's direction (or point up)
    p = parents[j]
    direction = heads[j] - heads[p] if p >= 0 else np.array([0.0, 0.0, 1.0])
    norm = np.linalg.norm(direction)
    direction = direction / norm if norm > 1e-9 else np.array([0.0, 0.0, 1.0])
    return heads[j] + direction * max(0.3 * norm, 0.08)


def create_armature(name: str, names: list[str], parents: list[int], offsets: np.ndarray,
                    collection: bpy.types.Collection | None = None) -> bpy.types.Object:
    """A new armature object whose bones sit on the skeleton's joints in its rest (T) pose,
    quaternion rotation mode on every pose bone."""
    heads = to_blender(rest_points(np.asarray(offsets), parents))
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    (collection or bpy.context.scene.collection).objects.link(obj)
    previous = bpy.context.view_layer.objects.active
    bpy.context.view_layer.objects.active = obj
    mode = bpy.context.object.mode if bpy.context.object else "OBJECT"
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        bones = []
        for j, bone_name in enumerate(names):
            bone = data.edit_bones.new(bone_name)
            bone.head = heads[j]
            bone.tail = _tail(j, heads, parents)
            bone.roll = 0.0
            if parents[j] >= 0:
                bone.parent = bones[parents[j]]
                bone.use_connect = False
            bones.append(bone)
    finally:
        bpy.ops.object.mode_set(mode=mode if mode != "EDIT" else "OBJECT")
        bpy.context.view_layer.objects.active = previous
    for pose_bone in obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    return obj


def bone_rest_rotations(obj: bpy.types.Object, names: list[str]) -> np.ndarray:
    """(J, 3, 3) each bone's rest orientation in armature space (bone.matrix_local)."""
    return np.array([np.array(obj.data.bones[n].matrix_local)[:3, :3] for n in names])


def bone_rest_heads(obj: bpy.types.Object, names: list[str]) -> np.ndarray:
    return np.array([np.array(obj.data.bones[n].head_local) for n in names])


def add_body_mesh(armature: bpy.types.Object, names: list[str], offsets: np.ndarray,
                  parents: list[int], vertices: np.ndarray, faces: np.ndarray,
                  weights: np.ndarray) -> bpy.types.Object:
    """A mesh skinned to `armature` (vertex groups + an Armature modifier). `vertices` are in
    the SMPL frame around the skeleton's own rest positions (as the backend sends them)."""
    offsets = np.asarray(offsets, dtype=np.float64)
    # the skeleton's rest root is at offsets[0]; the armature's is where rest_points puts it
    shift = rest_points(offsets, parents)[0] - offsets[0]
    verts = to_blender(np.asarray(vertices, dtype=np.float64) + shift)
    mesh = bpy.data.meshes.new(f"{armature.name}_body")
    mesh.from_pydata(verts.tolist(), [], np.asarray(faces).tolist())
    mesh.update()
    obj = bpy.data.objects.new(mesh.name, mesh)
    for collection in armature.users_collection:
        collection.objects.link(obj)
    obj.parent = armature
    weights = np.asarray(weights)
    for j, name in enumerate(names):
        idx = np.nonzero(weights[:, j] > 0)[0]
        group = obj.vertex_groups.new(name=name)
        for w in np.unique(weights[idx, j]):  # one add() per distinct weight: fast enough
            group.add(idx[weights[idx, j] == w].tolist(), float(w), "REPLACE")
    obj.modifiers.new("Armature", "ARMATURE").object = armature
    return obj
