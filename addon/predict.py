"""Prediction in Blender: read the SMPL motion an armature shows (over a frame range, or at
its keys), and write the backend's answer into its action: a continuation right after the
last key, or the frames between the keys filled."""

from __future__ import annotations

import numpy as np

from .armature import bone_rest_rotations
from .axes import bone_to_smpl_rotations, smpl_to_bone_rotations
from .keyframes import LINEAR, root_location, root_translation_of, scene_fps
from .retarget import SMPL_NAMES

NOT_SMPL = ("select an SMPL armature made by motionfield (24 SMPL bones), a generated "
            "Rigify rig, or a rig motionfield keyed through a bone map")


def is_smpl_armature(obj) -> bool:
    return (obj is not None and obj.type == "ARMATURE"
            and all(name in obj.pose.bones for name in SMPL_NAMES))


def _own_rig(obj):
    """The module that reads and keys the animator's own rig: rigify_motion for a generated
    Rigify rig (its FK controls), rig_motion for a rig a bone-map retarget keyed; None for
    an SMPL armature or anything else."""
    from . import rig_motion, rigify_motion

    if is_smpl_armature(obj):
        return None
    if rigify_motion.is_rigify(obj):
        return rigify_motion
    return rig_motion if rig_motion.is_mapped_rig(obj) else None


def keyed_range(obj) -> tuple[float, float]:
    """First and last keyed frame of the armature's SMPL curves (read from the keys, not
    from the action's frame range, which may be a manual range)."""
    frames, _ = keyed_frames(obj)
    return float(frames[0]), float(frames[-1])


def history_frames(first: float, last: float, fps: float, history_seconds: float):
    """The frames a continuation reads: every whole frame of the last `history_seconds`
    before the last key, and the last key itself at its own frame (fractional ones too: a
    29.97 fps import keys 85.99999), so the answer counts from that key, never lands on it."""
    start = max(first, last - history_seconds * fps)
    whole = np.arange(np.ceil(start - 1e-6), last - 0.5)
    return np.append(whole, last)


def read_smpl_poses(scene, obj, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The armature's SMPL pose at each of `frames` (subframes allowed): rotations
    (T, 24, 4) wxyz SMPL local rotations and the root translation (T, 3), metres in the SMPL
    frame. The pose is read after Blender evaluates each frame, so it is what the viewport
    shows (F-curve interpolation, NLA). The scene's current frame is restored. A generated
    Rigify rig is read from its FK controls."""
    if _own_rig(obj) is not None:
        return _own_rig(obj).read_poses(scene, obj, frames)
    if not is_smpl_armature(obj):
        raise ValueError(NOT_SMPL)
    bones = [obj.pose.bones[n] for n in SMPL_NAMES]
    pose = np.empty((len(frames), 24, 4))
    location = np.empty((len(frames), 3))
    current = scene.frame_current
    try:
        for i, f in enumerate(frames):
            whole = int(np.floor(f))
            scene.frame_set(whole, subframe=float(f - whole))
            pose[i] = [tuple(b.rotation_quaternion) for b in bones]
            location[i] = tuple(bones[0].location)
    finally:
        scene.frame_set(current)
    local = bone_to_smpl_rotations(pose, bone_rest_rotations(obj, SMPL_NAMES))
    return local, root_translation_of(obj, SMPL_NAMES[0], location)


def continue_request(scene, obj, history_seconds: float, seconds: float):
    """What the predict job needs to continue `obj` after its last key from the last
    `history_seconds` it shows: (params, arrays, first frame the answer's times count from)."""
    if not (is_smpl_armature(obj) or _own_rig(obj) is not None):
        raise ValueError(NOT_SMPL)
    frames = history_frames(*keyed_range(obj), scene_fps(scene), history_seconds)
    if len(frames) < 2:
        raise ValueError(f"{obj.name} needs keys on at least two frames to continue")
    rotations, translation = read_smpl_poses(scene, obj, frames)
    times = (frames - frames[0]) / scene_fps(scene)
    return ({"mode": "continue", "seconds": seconds},
            _arrays(rotations, translation, times), float(frames[0]))


def fill_request(scene, obj):
    """What the predict job needs to fill `obj` between its keys: the pose at each keyed
    frame and which bones are keyed there. (params, arrays, first frame)."""
    frames, mask = keyed_frames(obj)
    if len(frames) < 2:
        raise ValueError(f"{obj.name} needs keys on at least two frames to fill")
    if not mask[:, 0].any():
        raise ValueError("key the pelvis at least once: it carries the root")
    rotations, translation = read_smpl_poses(scene, obj, frames)
    times = (frames - frames[0]) / scene_fps(scene)
    return ({"mode": "fill"}, _arrays(rotations, translation, times, mask), float(frames[0]))


def _arrays(rotations, translation, times, mask=None) -> dict:
    out = {"rotations": rotations.astype(np.float32),
           "root_translation": translation.astype(np.float32), "times": times}
    if mask is not None and not mask.all():
        out["joint_mask"] = mask.astype(np.float32)
    return out


def apply_prediction(scene, obj, first_frame: float, arrays: dict, mode: str) -> int:
    """Key a predict result on `obj`'s action; its times count from `first_frame`. Both a
    continuation (after the last key) and a fill (between the keys) only add keys."""
    frames = first_frame + np.asarray(arrays["times"], dtype=np.float64) * scene_fps(scene)
    if _own_rig(obj) is not None:
        return _own_rig(obj).write_keys(obj, np.asarray(arrays["rotations"], dtype=np.float64),
                                        np.asarray(arrays["root_translation"],
                                                   dtype=np.float64), frames, mode)
    write = append_keys if mode == "continue" else fill_keys
    return write(obj, np.asarray(arrays["rotations"], dtype=np.float64),
                 np.asarray(arrays["root_translation"], dtype=np.float64), frames)


def _bone_paths(j: int) -> list[tuple[str, int]]:
    """(data path, index) of the curves that key SMPL bone j (the pelvis: its location too)."""
    name = SMPL_NAMES[j]
    out = [(f'pose.bones["{name}"].rotation_quaternion', i) for i in range(4)]
    return out + ([(f'pose.bones["{name}"].location', i) for i in range(3)] if j == 0 else [])


def keyed_frames(obj) -> tuple[np.ndarray, np.ndarray]:
    """The frames where the armature's SMPL bones have keys (K,), and which bones have one
    at each (K, 24) of 0 and 1; a bone never keyed holds its pose, so it counts as seen.
    The animator's own rig (_own_rig): the keys on its controls or mapped bones."""
    if _own_rig(obj) is not None:
        return _own_rig(obj).keyed_frames(obj)
    if not is_smpl_armature(obj) or obj.animation_data is None or \
            obj.animation_data.action is None:
        raise ValueError(f"{NOT_SMPL}, with keys")
    return keys_per_joint(obj, _bone_paths)


def keys_per_joint(obj, paths_of) -> tuple[np.ndarray, np.ndarray]:
    """The frames where any of the 24 SMPL joints' curves have keys (K,), and which joints
    are keyed at each (K, 24) of 0 and 1; `paths_of(j)` lists joint j's curves as (data
    path, index). A joint with no curves, or never keyed, holds its pose: it counts as seen."""
    curves = _curves(obj)
    per_joint = []
    for j in range(len(SMPL_NAMES)):
        frames: set[float] = set()
        for path, index in paths_of(j):
            curve = curves.find(path, index=index)
            if curve is not None:
                frames.update(np.round(_vectors(curve.keyframe_points, "co")[:, 0], 3).tolist())
        per_joint.append(frames)
    every = np.array(sorted(set().union(*per_joint)))
    mask = np.array([[f in joint or not joint for joint in per_joint] for f in every],
                    dtype=np.float32)
    return every, mask.reshape(len(every), len(SMPL_NAMES))


def _curves(obj):
    """The F-curves of the armature's action (its slot's channelbag on 4.4+)."""
    action = obj.animation_data.action
    if hasattr(action, "layers") and action.layers:
        slot = obj.animation_data.action_slot
        for layer in action.layers:
            for strip in layer.strips:
                bag = strip.channelbag(slot)
                if bag is not None:
                    return bag.fcurves
    return action.fcurves


def append_keys(obj, rotations: np.ndarray, root_translation: np.ndarray,
                frames: np.ndarray) -> int:
    """Add keys at `frames`, all after the existing ones, to the action's rotation and root
    location curves; every existing key stays as it was (ValueError if a new frame is not
    after a curve's last key). Quaternion signs continue the last existing key's hemisphere
    so the seam interpolates the short way. Returns the number of frames keyed."""
    curves = _curves(obj)

    def hemisphere(path, quats):
        previous = np.array([_quat_value(curves, path, i) for i in range(4)])
        return -1.0 if np.dot(quats[0], previous) < 0 else 1.0  # the track is continuous

    def new_keys(existing, new_frames):
        if len(existing) and existing.max() >= new_frames[0] - 1e-4:
            raise ValueError(f"a continuation must start after the last key (frame "
                             f"{existing.max():g}), not at frame {new_frames[0]:g}")
        return np.ones(len(new_frames), bool)

    _write(obj, curves, rotations, root_translation, frames, hemisphere, new_keys)
    return len(frames)


def fill_keys(obj, rotations: np.ndarray, root_translation: np.ndarray,
              frames: np.ndarray) -> int:
    """Key each curve at those of `frames` where it has no key yet; existing keys stay as
    they are. Quaternion signs follow the curves' current values at each frame. Returns the
    number of frames that got a key on some curve."""
    curves = _curves(obj)

    def hemisphere(path, quats):
        current = np.array([[_quat_value(curves, path, i, f) for i in range(4)]
                            for f in frames])
        return np.where(np.sum(quats * current, axis=1) < 0, -1.0, 1.0)[:, None]

    added = np.zeros(len(frames), bool)

    def new_keys(existing, new_frames):
        new = np.abs(new_frames[:, None] - existing[None, :]).min(axis=1, initial=np.inf) > 1e-3
        added[new] = True
        return new

    _write(obj, curves, rotations, root_translation, frames, hemisphere, new_keys)
    return int(added.sum())


def _write(obj, curves, rotations, root_translation, frames, hemisphere, new_keys) -> None:
    """Write SMPL poses at `frames` into the bones' curves: `hemisphere(path, quats)` gives
    the quaternion signs, `new_keys(existing_frames, frames)` which frames get a key."""
    quats = smpl_to_bone_rotations(rotations, bone_rest_rotations(obj, SMPL_NAMES))
    location = root_location(obj, SMPL_NAMES[0], root_translation)
    for j, name in enumerate(SMPL_NAMES):
        rotation = f'pose.bones["{name}"].rotation_quaternion'
        track = quats[:, j] * hemisphere(rotation, quats[:, j])
        for path, index in _bone_paths(j):
            values = track[:, index] if path == rotation else location[:, index]
            curve = curves.find(path, index=index) or curves.new(path, index=index,
                                                                 action_group=name)
            chosen = new_keys(_vectors(curve.keyframe_points, "co")[:, 0], frames)
            add_keys(curve, frames[chosen], values[chosen])


def add_keys(curve, frames: np.ndarray, values: np.ndarray) -> None:
    """Add LINEAR keys at `frames` (none on an existing key's frame) to `curve`, leaving
    every existing key bit-identical: frame, value, handles, handle types, easing. Blender
    recomputes the automatic handles of a new key's neighbours; theirs are put back."""
    if not len(frames):
        return
    points = curve.keyframe_points
    old = len(points)
    kept = {name: _vectors(points, name) for name in ("handle_left", "handle_right")}
    points.add(len(frames))  # appended at the end: the old keys keep their settings
    co = _vectors(points, "co")
    co[old:] = np.stack([frames, values], 1)
    points.foreach_set("co", co.ravel())
    interpolation = np.empty(len(points), dtype=np.int32)
    points.foreach_get("interpolation", interpolation)
    interpolation[old:] = LINEAR
    points.foreach_set("interpolation", interpolation)
    curve.update()  # sorts by frame and gives the new keys their handles
    order = np.argsort(co[:, 0], kind="stable")
    where = np.empty(len(order), dtype=np.int64)
    where[order] = np.arange(len(order))  # each key's index after the sort
    for name, handles in kept.items():
        now = _vectors(points, name)
        now[where[:old]] = handles
        points.foreach_set(name, now.ravel())


def _vectors(points, name: str) -> np.ndarray:
    """A 2D vector attribute of every key ("co", "handle_left", ...) as (N, 2) float32."""
    out = np.empty(2 * len(points), dtype=np.float32)
    points.foreach_get(name, out)
    return out.reshape(-1, 2)


def _quat_value(curves, path: str, index: int, frame: float | None = None) -> float:
    """A quaternion curve's value at `frame` (None: its last key); the identity's component
    where the curve has no keys."""
    curve = curves.find(path, index=index)
    if curve is None or not len(curve.keyframe_points):
        return 1.0 if index == 0 else 0.0
    return curve.keyframe_points[-1].co[1] if frame is None else curve.evaluate(frame)
