"""The `convert` job: BVH text (any rig) or SMPL arrays in, SMPL motion at a framerate out."""

from __future__ import annotations

import numpy as np

from motionfield.errors import MotionfieldError
from motionfield.methods.convert.cli import add_commands  # noqa: F401  (the CLI's hook)
from motionfield.methods.results import (
    MOTION_ARRAYS,
    OUTPUT_FPS,
    body_arrays,
    motion_arrays,
    motion_content,
)
from motionfield.server.jobs import JobError, JobType, Param, Progress

MAX_OFFSET_SECONDS = 24 * 3600.0  # start / end: a day of mocap is more than any take
MAX_REFERENCE_FRAME = 10_000_000


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


def _source(params: dict, arrays: dict[str, np.ndarray], progress: Progress):
    """The BvhClip or the SMPL Motion the job converts."""
    from motionfield.body.skeleton import smpl_skeleton
    from motionfield.io.bvh import parse_bvh
    from motionfield.motion import Motion

    bvh = _bvh_text(params, arrays)
    progress(0, 3, "reading BVH" if bvh is not None else "reading arrays")
    if bvh is not None:
        return parse_bvh(bvh, params["name"] or "<bvh>")
    missing = sorted(set(MOTION_ARRAYS) - set(arrays))
    if missing:
        raise JobError(f"convert: without 'bvh' it needs the arrays {missing}")
    return Motion(arrays["rotations"], arrays["root_translation"], arrays["times"],
                  smpl_skeleton())


def _run(params: dict, arrays: dict[str, np.ndarray], progress: Progress):
    from motionfield.body.proxy import proxy_body
    from motionfield.io.rigs import rig_map_from_dict
    from motionfield.methods.convert.pipeline import convert

    try:
        source = _source(params, arrays, progress)
        # the user's model fixes the output skeleton, so their mesh sits on its bones
        user = user_body(params)
        rig = rig_map_from_dict(params["map"], "map") if params["map"] is not None else None
        out, report = convert(source, params["fps"], start=params["start"], end=params["end"],
                              rig=rig, units=params["units"],
                              reference_frame=params["reference_frame"],
                              proportions=params["proportions"],
                              skeleton=user[1] if user else None, progress=progress)
    except MotionfieldError as e:
        raise JobError(str(e)) from None
    except ValueError as e:
        raise JobError(f"convert: {e}") from None
    arrays_out = motion_arrays(out)
    if params["body"]:
        arrays_out.update(body_arrays(user[0] if user else proxy_body(out.skeleton)))
    content = {**motion_content(out), "report": None if report is None else {
        k: v for k, v in report.__dict__.items() if k != "mapped"}}
    progress(3, 3, "done")
    return content, arrays_out


JOB = JobType(
    name="convert",
    label="Import Mocap",
    help="Import mocap onto SMPL: BVH text of any rig (or SMPL arrays) at any framerate",
    params={
        "fps": OUTPUT_FPS,
        "bvh": Param("string", "BVH file text", optional=True, panel=False),
        "name": Param("string", "file name for messages", optional=True, panel=False),
        "start": Param("number", "seconds from the clip's start", optional=True,
                       minimum=0.0, maximum=MAX_OFFSET_SECONDS),
        "end": Param("number", "seconds from the clip's start", optional=True,
                     minimum=0.0, maximum=MAX_OFFSET_SECONDS),
        "proportions": Param("string", "SMPL bone lengths: the actor's or SMPL's",
                             default="source", choices=("source", "smpl")),
        "units": Param("string", "BVH length unit (default: the rig's or guessed)",
                       optional=True,
                       choices=("metres", "centimetres", "millimetres", "inches", "cmu_asf")),
        "reference_frame": Param("integer", "a neutral frame for rigs without a T/A zero pose",
                                 optional=True, minimum=0, maximum=MAX_REFERENCE_FRAME),
        "map": Param("object", "rig map {'joints': {smpl_joint: source_joint}}", optional=True,
                     panel=False),
        "body": Param("boolean", "also return the body mesh for this skeleton (the proxy, "
                      "or the SMPL model's mesh with smpl_folder)", default=False, panel=False),
        "smpl_folder": Param("string", "your SMPL/SMPL-H/SMPL-X model folder (or file): the "
                             "output skeleton and body mesh become that model's; through "
                             "a server, inside a folder it allows (serve --smpl-folder)",
                             optional=True, panel=False, allowed_in="smpl_folders"),
        "smpl_gender": Param("string", "which model in smpl_folder", default="neutral",
                             choices=("neutral", "female", "male"), panel=False),
    },
    arrays={**MOTION_ARRAYS, "bvh_file": "(N,) uint8: a BVH file's bytes"},
    run=_run,
)
