"""The `convert` job: BVH text (any rig) or SMPL arrays in, SMPL motion at a framerate out."""

from __future__ import annotations

import numpy as np

from motionfield.errors import MotionfieldError
from motionfield.server.jobs import JobError, JobType, Param, Progress, register

MOTION_ARRAYS = {
    "rotations": "(T, 24, 4) float: SMPL local rotations, wxyz",
    "root_translation": "(T, 3) float: pelvis position, metres, Y up",
    "times": "(T,) float: timestamps, seconds",
}


def motion_arrays(motion) -> dict[str, np.ndarray]:
    """A Motion as the arrays a result carries. Poses travel as float32, the precision of
    Blender's keyframes (and half the bytes to sign and copy); times stay float64 so
    fractional-rate timestamps stay exact."""
    return {"rotations": motion.rotations.astype(np.float32),
            "root_translation": motion.root_translation.astype(np.float32),
            "times": motion.times, "offsets": motion.skeleton.offsets.astype(np.float32),
            "parents": np.asarray(motion.skeleton.parents, dtype=np.int32)}


def body_arrays(mesh) -> dict[str, np.ndarray]:
    """A SkinnedMesh (the proxy or the user's SMPL body) in its rest pose, SMPL frame."""
    return {"body_vertices": mesh.vertices.astype(np.float32),
            "body_faces": mesh.faces.astype(np.int32),
            "body_weights": mesh.weights.astype(np.float32)}


def _bvh_text(params: dict, arrays: dict[str, np.ndarray]) -> str | None:
    """The BVH, from the `bvh` parameter (short texts) or the `bvh_file` byte array (files:
    JSON content is capped at 1 MiB, buffers are not)."""
    given = [params["bvh"] is not None, "bvh_file" in arrays]
    motion = set(arrays) & set(MOTION_ARRAYS)
    if sum(given) > 1 or (any(given) and motion):
        raise JobError("convert: give one of 'bvh' text, a 'bvh_file' array, or motion arrays")
    if "bvh_file" in arrays:
        data = arrays["bvh_file"]
        if data.dtype != np.uint8 or data.ndim != 1:
            raise JobError("convert: 'bvh_file' must be the file's bytes, a 1-D uint8 array")
        return data.tobytes().decode("utf-8", errors="replace")
    return params["bvh"]


def user_body(params: dict):
    """(SkinnedMesh, Skeleton) of the user's SMPL model when the job names one, else None."""
    if not params["smpl_folder"]:
        return None
    from motionfield.body.smpl_model import rest_body

    return rest_body(params["smpl_folder"], params["smpl_gender"])


def _leg_length(skeleton) -> float:
    """Mean hip-to-ankle length along the bones (knee and ankle offsets)."""
    return float(np.linalg.norm(skeleton.offsets[[4, 7, 5, 8]], axis=1).sum() / 2)


def onto_skeleton(motion, skeleton):
    """The motion's rotations on another SMPL skeleton, the root path scaled by the legs'
    ratio (as `retarget` scales a source) so the feet keep meeting the floor."""
    from motionfield.motion import Motion

    scale = _leg_length(skeleton) / _leg_length(motion.skeleton)
    return Motion(motion.rotations, motion.root_translation * scale, motion.times, skeleton,
                  motion.fps, motion.betas)


def _read_motion(params: dict, arrays: dict[str, np.ndarray], bvh: str | None, skeleton,
                 progress: Progress):
    """(Motion, retarget report or None) from the BVH text or the motion arrays, on
    `skeleton` (None: the source's proportions or the shipped SMPL skeleton, as asked)."""
    from motionfield.body.skeleton import smpl_skeleton
    from motionfield.io.bvh import parse_bvh
    from motionfield.io.retarget import retarget
    from motionfield.io.rigs import rig_map_from_dict
    from motionfield.motion import Motion

    if bvh is not None:
        progress(0, 3, "reading BVH")
        clip = parse_bvh(bvh, params["name"] or "<bvh>")
        progress(1, 3, "retargeting onto SMPL")
        rig = rig_map_from_dict(params["map"], "map") if params["map"] is not None else None
        return retarget(clip, rig, units=params["units"],
                        reference_frame=params["reference_frame"],
                        proportions="smpl" if skeleton else params["proportions"],
                        skeleton=skeleton)
    missing = sorted(set(MOTION_ARRAYS) - set(arrays))
    if missing:
        raise JobError(f"convert: without 'bvh' it needs the arrays {missing}")
    progress(1, 3, "reading arrays")
    motion = Motion(arrays["rotations"], arrays["root_translation"], arrays["times"],
                    smpl_skeleton())
    return (motion if skeleton is None else onto_skeleton(motion, skeleton)), None


def _run(params: dict, arrays: dict[str, np.ndarray], progress: Progress):
    from motionfield.body.proxy import proxy_body

    try:
        bvh = _bvh_text(params, arrays)
        # the user's model fixes the output skeleton, so their mesh sits on its bones
        user = user_body(params)
        motion, report = _read_motion(params, arrays, bvh, user[1] if user else None,
                                      progress)
        progress(2, 3, "resampling")
        start = motion.times[0] + (params["start"] or 0.0)
        end = motion.times[-1] if params["end"] is None else motion.times[0] + params["end"]
        out = motion.at_fps(str(params["fps"]), start, end)
    except MotionfieldError as e:
        raise JobError(str(e)) from None
    except ValueError as e:
        raise JobError(f"convert: {e}") from None
    arrays_out = motion_arrays(out)
    if params["body"]:
        arrays_out.update(body_arrays(user[0] if user else proxy_body(out.skeleton)))
    content = {"joint_names": list(out.skeleton.names), "fps": str(out.fps),
               "frames": out.num_frames,
               "report": None if report is None else {
                   k: v for k, v in report.__dict__.items() if k != "mapped"}}
    progress(3, 3, "done")
    return content, arrays_out


CONVERT = register(JobType(
    name="convert",
    help="Import mocap onto SMPL: BVH text of any rig (or SMPL arrays) at any framerate",
    params={
        "fps": Param("number", "output framerate (23.976 and 29.97 are NTSC-exact)",
                     minimum=1e-3),
        "bvh": Param("string", "BVH file text", optional=True),
        "name": Param("string", "file name for messages", optional=True),
        "start": Param("number", "seconds from the clip's start", optional=True),
        "end": Param("number", "seconds from the clip's start", optional=True),
        "proportions": Param("string", "SMPL bone lengths: the actor's or SMPL's",
                             default="source", choices=("source", "smpl")),
        "units": Param("string", "BVH length unit (default: the rig's or guessed)",
                       optional=True,
                       choices=("metres", "centimetres", "millimetres", "inches", "cmu_asf")),
        "reference_frame": Param("integer", "a neutral frame for rigs without a T/A zero pose",
                                 optional=True),
        "map": Param("object", "rig map {'joints': {smpl_joint: source_joint}}", optional=True),
        "body": Param("boolean", "also return the body mesh for this skeleton (the proxy, "
                      "or the SMPL model's mesh with smpl_folder)", default=False),
        "smpl_folder": Param("string", "your SMPL/SMPL-H/SMPL-X model folder (or file): the "
                             "output skeleton and body mesh become that model's",
                             optional=True),
        "smpl_gender": Param("string", "which model in smpl_folder", default="neutral",
                             choices=("neutral", "female", "male")),
    },
    arrays={**MOTION_ARRAYS, "bvh_file": "(N,) uint8: a BVH file's bytes"},
    run=_run,
))
