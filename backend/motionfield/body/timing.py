"""Continuous time: framerates (fractional NTSC ones exact), frame timestamps, resampling.

Any framerate is a resampling, never a retraining: rotations are slerped per joint between
the two neighbouring samples, the root translation is interpolated linearly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from motionfield.body.rotations import quat_continuous, quat_slerp

# The NTSC rates are n * 1000 / 1001; "23.976" or 29.97 means exactly that.
_NTSC_BASES = (24, 30, 48, 60, 120, 240)


def parse_fps(value: float | str | Fraction) -> Fraction:
    """A framerate as an exact fraction: 23.976 -> 24000/1001, 29.97 -> 30000/1001, 25 -> 25.

    Raises ValueError for anything that is not a positive finite number.
    """
    if isinstance(value, Fraction):
        fps = value
    else:
        try:
            fps = Fraction(str(value).strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"framerate must be a positive number, got {value!r}") from None
    if fps <= 0:
        raise ValueError(f"framerate must be a positive number, got {value!r}")
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if fps != base and abs(fps - ntsc) < Fraction(1, 200):
            return ntsc
    return fps


def frame_times(fps: float | str | Fraction, start: float, end: float) -> np.ndarray:
    """Timestamps start + k / fps for every k with start + k / fps <= end (seconds).

    k / fps is computed as (k * den) / num on exact integers, so each timestamp is the
    correctly rounded value of the exact one (1001 / 24000 for 23.976 fps).
    """
    fps = parse_fps(fps)
    if not (np.isfinite(start) and np.isfinite(end)) or end < start:
        raise ValueError(f"need start <= end, got {start} and {end}")
    # A tolerance of a nanosecond keeps the end frame of an exact-length clip.
    count = int(np.floor((end - start) * fps.numerator / fps.denominator + 1e-9)) + 1
    k = np.arange(count, dtype=np.int64)
    return start + (k * fps.denominator) / fps.numerator


def resample(
    times: np.ndarray, rotations: np.ndarray, translation: np.ndarray, query: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample a motion at new times.

    Parameters
    ----------
    times : (T,) increasing sample times, T >= 1
    rotations : (T, J, 4) wxyz local rotations
    translation : (T, 3) root positions
    query : (N,) times inside [times[0], times[-1]] (a nanosecond of slack either side)

    Returns
    -------
    rotations : (N, J, 4), translation : (N, 3)
    """
    times = np.asarray(times, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    if query.size and (query.min() < times[0] - 1e-9 or query.max() > times[-1] + 1e-9):
        raise ValueError(
            f"resampling asks for [{query.min():.6f}, {query.max():.6f}] s outside the motion's "
            f"[{times[0]:.6f}, {times[-1]:.6f}] s")
    if len(times) == 1:
        return (np.repeat(rotations, len(query), axis=0),
                np.repeat(translation, len(query), axis=0))
    idx = np.clip(np.searchsorted(times, query, side="right") - 1, 0, len(times) - 2)
    alpha = np.clip((query - times[idx]) / (times[idx + 1] - times[idx]), 0.0, 1.0)
    rot = quat_continuous(rotations, axis=0)
    out_rot = quat_slerp(rot[idx], rot[idx + 1], alpha[:, None])
    out_trans = translation[idx] + alpha[:, None] * (translation[idx + 1] - translation[idx])
    return out_rot, out_trans
