"""Keying 10 s of 120 fps SMPL motion (1,200 frames, 24 bones, rotations + root location)
into a new Action: ours (keyframe_points.add + foreach_set) against keyframe_insert per key,
in the same run, in real Blender (the bpy wheel). Also BVH file -> keyed armature, end to end.

    python benchmarks/bench_keyframes.py [--json benchmarks/results/keyframes.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import bpy
import numpy as np
from results_io import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from addon.armature import create_armature  # noqa: E402
from addon.keyframes import write_motion  # noqa: E402
from motionfield.data.sources import source_path  # noqa: E402
from motionfield.io.bvh import read_bvh  # noqa: E402
from motionfield.io.retarget import retarget  # noqa: E402

from rigs_synth import smooth_motion  # noqa: E402


def fresh_armature(motion):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sk = motion.skeleton
    return create_armature("SMPL", list(sk.names), list(sk.parents), sk.offsets)


def ours(motion) -> float:
    obj = fresh_armature(motion)
    began = time.perf_counter()
    write_motion(obj, list(motion.skeleton.names), motion.rotations, motion.root_translation,
                 motion.times, fps=120)
    return time.perf_counter() - began


def keyframe_insert(motion) -> float:
    """The usual script: set each bone's rotation, insert a key, frame by frame."""
    obj = fresh_armature(motion)
    bones = [obj.pose.bones[n] for n in motion.skeleton.names]
    began = time.perf_counter()
    for k in range(motion.num_frames):
        for j, bone in enumerate(bones):
            bone.rotation_quaternion = motion.rotations[k, j]
            bone.keyframe_insert("rotation_quaternion", frame=k + 1)
        bones[0].location = motion.root_translation[k]
        bones[0].keyframe_insert("location", frame=k + 1)
    return time.perf_counter() - began


def bvh_to_keys(path: Path) -> float:
    began = time.perf_counter()
    motion, _ = retarget(read_bvh(path))
    motion = motion.at_fps(24)
    sk = motion.skeleton
    obj = create_armature("take", list(sk.names), list(sk.parents), sk.offsets)
    write_motion(obj, list(sk.names), motion.rotations, motion.root_translation, motion.times,
                 fps=24)
    return time.perf_counter() - began


def bvh_through_backend(path: Path) -> float:
    """The add-on's path: the backend's convert job (a real process), then keys and body."""
    from addon import api

    bpy.ops.wm.read_factory_settings(use_empty=True)
    began = time.perf_counter()
    api.import_mocap(path, fps=24)
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/keyframes.json")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    motion = smooth_motion(frames=121, fps=12).at_fps(120)  # 10 s
    assert motion.num_frames == 1201
    ours_s = [ours(motion) for _ in range(args.repeat)]
    insert_s = keyframe_insert(motion)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    clip = source_path("cmu_bvh") / "05_06.bvh"
    end_to_end = [bvh_to_keys(clip) for _ in range(3)]
    from addon import api

    api.start_backend()
    try:
        bvh_through_backend(clip)  # warm: the backend's first job imports its modules
        served = [bvh_through_backend(clip) for _ in range(3)]
    finally:
        api.stop_backend()
    result = {"frames": motion.num_frames, "bones": 24,
              "ours_median_ms": statistics.median(ours_s) * 1e3,
              "keyframe_insert_ms": insert_s * 1e3,
              "speedup": insert_s / statistics.median(ours_s),
              "target_ms": 50, "target_speedup": 20,
              "bvh_to_keyed_armature_ms": statistics.median(end_to_end) * 1e3,
              "bvh_through_backend_to_keyed_armature_with_body_ms":
                  statistics.median(served) * 1e3,
              "bvh": "cmu_bvh/05_06.bvh (885 frames at 120 fps) -> 24 fps keys",
              "blender": bpy.app.version_string, "numpy": np.__version__}
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
