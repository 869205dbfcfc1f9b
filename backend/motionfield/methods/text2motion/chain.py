"""Motion longer than one sample (up to MAX_CHAINED_SECONDS): segments of at most
MAX_SECONDS drawn for the same prompt, each turned and moved on the ground to start where
the one before is BRIDGE_SECONDS before its end, and the bridge between them answered by
the prediction method's fill (methods/predict: the shipped SMPL field) from the frames on
both sides of it. Up to MAX_SECONDS this is the plain sample, frame for frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from motionfield.body.rotations import quat_multiply, quat_rotate
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.timing import frame_times, parse_fps
from motionfield.methods.text2motion.config import (
    BRIDGE_SECONDS,
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    MAX_CHAINED_SECONDS,
    MAX_SECONDS,
    MIN_SECONDS,
)
from motionfield.motion import Motion

UP = np.array([0.0, 1.0, 0.0])  # SMPL frame: Y up, the body facing +Z
KEY_FPS = 30  # the grid of frames the fill of a bridge is keyed on


def segments(seconds: float) -> tuple[int, float]:
    """(how many segments, each one's length): as few as cover `seconds` with a bridge
    between neighbours, all of one length."""
    if seconds <= MAX_SECONDS:
        return 1, seconds
    count = math.ceil((seconds - BRIDGE_SECONDS) / (MAX_SECONDS - BRIDGE_SECONDS))
    return count, (seconds + (count - 1) * BRIDGE_SECONDS) / count


def generate(model, prompt: str, seconds: float, fps, seed: int = 0,
             guidance: float = DEFAULT_GUIDANCE, steps: int = DEFAULT_STEPS,
             progress: Callable[[int, int], None] | None = None) -> Motion:
    """`seconds` of motion for `prompt` at `fps` (model: an infer.Text2Motion). The segments
    come from one sampler run (one seeded batch), so a seed gives one motion."""
    if not (isinstance(seconds, (int, float)) and MIN_SECONDS <= seconds <= MAX_CHAINED_SECONDS):
        raise ValueError(f"duration {seconds!r} s: text2motion makes {MIN_SECONDS:g} to "
                         f"{MAX_CHAINED_SECONDS:g} s of motion")
    fps = parse_fps(fps)
    count, length = segments(seconds)
    if count == 1:
        return model.generate([prompt], seconds, fps, seed=seed, guidance=guidance,
                              steps=steps, progress=progress)[0]
    from motionfield.methods.predict.infer import fill_smpl

    latents = model.latents([prompt] * count, length, seed, guidance, steps, progress)
    starts = [j * (length - BRIDGE_SECONDS) for j in range(count)]
    places = _placements(model, latents, length)
    times = frame_times(fps, 0.0, seconds)
    rotations, root, bridge = _joined(model, latents, starts, places, times)
    # the fill's keys on a grid of their own, so that every framerate gets the same motion
    keys = frame_times(KEY_FPS, 0.0, seconds)
    key_rotations, key_root, key_bridge = _joined(model, latents, starts, places, keys)
    rotations[bridge], root[bridge] = fill_smpl(
        _fill_model(), key_rotations[~key_bridge], key_root[~key_bridge], keys[~key_bridge],
        times[bridge])
    return Motion(rotations, root, times, smpl_skeleton(), fps)


def _placements(model, latents, length: float) -> list[tuple]:
    """Per segment, the turn about +Y and the ground positions (from, to) that start it
    where the segment before is BRIDGE_SECONDS before its end."""
    places = [(np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3), np.zeros(3))]
    for j in range(1, len(latents)):
        rot, trans = model.poses(latents[j - 1:j], np.array([length - BRIDGE_SECONDS]))
        to_rotation, to_position = _placed(rot, trans, *places[-1])
        start_rotation, start_position = model.poses(latents[j:j + 1], np.zeros(1))
        turn = _yaw(to_rotation[0, 0]) - _yaw(start_rotation[0, 0])
        places.append((np.array([math.cos(turn / 2), 0.0, math.sin(turn / 2), 0.0]),
                       start_position[0], to_position[0]))
    return places


def _joined(model, latents, starts: list[float], places: list[tuple], times: np.ndarray):
    """The placed segments at `times` (seconds from the start): rotations, root positions
    and which times fall inside a bridge (left for the fill)."""
    rotations, root = np.empty((len(times), 24, 4)), np.empty((len(times), 3))
    bridge = np.zeros(len(times), dtype=bool)
    for j, start in enumerate(starts):
        end = starts[j + 1] if j + 1 < len(starts) else np.inf
        first = start + BRIDGE_SECONDS if j else 0.0
        own = (times >= first - 1e-9) & (times <= end + 1e-9)
        if j:
            bridge |= (times > start + 1e-9) & (times < first - 1e-9)
        rot, trans = model.poses(latents[j:j + 1], times[own] - start)
        rotations[own], root[own] = _placed(rot, trans, *places[j])
    return rotations, root, bridge


def _yaw(rotation: np.ndarray) -> float:
    """The heading (radians about +Y) of a root rotation: where the body's +Z faces."""
    forward = quat_rotate(rotation, np.array([0.0, 0.0, 1.0]))
    return math.atan2(forward[0], forward[2])


def _placed(rot, trans, turn, from_position, to_position):
    """Rotations (F, 24, 4) and root positions (F, 3) turned by `turn` about +Y around
    `from_position` and moved on the ground to `to_position`; heights kept."""
    rot = rot.copy()
    rot[:, 0] = quat_multiply(turn, rot[:, 0])
    moved = quat_rotate(turn, trans - from_position)
    ground = np.array([1.0, 0.0, 1.0])
    return rot, (moved + to_position) * ground + trans * UP


@lru_cache(maxsize=1)
def _fill_model():
    from motionfield.methods.predict.infer import load_checkpoint, shipped_checkpoint

    return load_checkpoint(shipped_checkpoint("smpl"))
