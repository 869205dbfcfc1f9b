"""The Motion value: local joint rotations, root translation and timestamps on a skeleton."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.rotations import quat_to_matrix
from motionfield.body.skeleton import Skeleton
from motionfield.body.timing import frame_times, parse_fps, resample

FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Motion:
    """A motion sampled at known times (seconds), in the SMPL frame (Y up, facing +Z).

    Attributes
    ----------
    rotations : (T, J, 4) wxyz, each joint relative to its parent (the root's is global)
    root_translation : (T, 3) world position of the root joint, metres
    times : (T,) strictly increasing timestamps, seconds
    skeleton : the joints the rotations apply to
    fps : the nominal framerate when the samples are regular, else None
    betas : optional (B,) SMPL shape coefficients
    """

    rotations: np.ndarray
    root_translation: np.ndarray
    times: np.ndarray
    skeleton: Skeleton
    fps: Fraction | None = None
    betas: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        rot = np.asarray(self.rotations, dtype=np.float64)
        trans = np.asarray(self.root_translation, dtype=np.float64)
        times = np.asarray(self.times, dtype=np.float64)
        frames, joints = len(times), len(self.skeleton)
        if times.ndim != 1 or frames == 0:
            raise ValueError(f"times must be a non-empty (T,) array, got shape {times.shape}")
        if rot.shape != (frames, joints, 4):
            raise ValueError(f"rotations must be (T={frames}, J={joints}, 4), got {rot.shape}")
        if trans.shape != (frames, 3):
            raise ValueError(f"root_translation must be (T={frames}, 3), got {trans.shape}")
        for name, arr in (("rotations", rot), ("root_translation", trans), ("times", times)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or infinite values")
        if np.any(np.diff(times) <= 0):
            raise ValueError("times must be strictly increasing")
        norms = np.linalg.norm(rot, axis=-1)
        if np.any(np.abs(norms - 1.0) > 1e-3):
            raise ValueError("rotations must be unit quaternions (w, x, y, z)")
        rot = rot / norms[..., None]
        betas = None if self.betas is None else np.asarray(self.betas, dtype=np.float64)
        if betas is not None and (betas.ndim != 1 or not np.all(np.isfinite(betas))):
            raise ValueError("betas must be a finite (B,) array")
        for arr in (rot, trans, times):
            arr.setflags(write=False)
        object.__setattr__(self, "rotations", rot)
        object.__setattr__(self, "root_translation", trans)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "fps", None if self.fps is None else parse_fps(self.fps))
        object.__setattr__(self, "betas", betas)

    @classmethod
    def from_frames(cls, rotations: np.ndarray, root_translation: np.ndarray,
                    skeleton: Skeleton, fps: float | str | Fraction, start: float = 0.0,
                    betas: np.ndarray | None = None) -> Motion:
        """Regularly sampled frames: frame k is at start + k / fps."""
        fps = parse_fps(fps)
        count = len(rotations)
        times = start + (np.arange(count) * fps.denominator) / fps.numerator
        return cls(rotations, root_translation, times, skeleton, fps, betas)

    @property
    def num_frames(self) -> int:
        return len(self.times)

    @property
    def duration(self) -> float:
        return float(self.times[-1] - self.times[0])

    def joint_positions(self) -> np.ndarray:
        """(T, J, 3) world joint positions by forward kinematics."""
        _, pos = forward_kinematics(quat_to_matrix(self.rotations), self.root_translation,
                                    self.skeleton.offsets, self.skeleton.parents)
        return pos

    def global_rotations(self) -> np.ndarray:
        """(T, J, 3, 3) world rotation of every joint."""
        glob, _ = forward_kinematics(quat_to_matrix(self.rotations), self.root_translation,
                                     self.skeleton.offsets, self.skeleton.parents)
        return glob

    def reordered(self, names: tuple[str, ...] | list[str]) -> Motion:
        """The same motion with its joints listed in another order (parents first)."""
        index = [self.skeleton.index(n) for n in names]
        if sorted(index) != list(range(len(self.skeleton))):
            raise ValueError("reordering must name every joint exactly once")
        where = {old: new for new, old in enumerate(index)}
        parents = tuple(-1 if self.skeleton.parents[i] < 0 else where[self.skeleton.parents[i]]
                        for i in index)
        skel = Skeleton(tuple(names), parents, self.skeleton.offsets[index])
        return Motion(self.rotations[:, index], self.root_translation, self.times, skel,
                      self.fps, self.betas)

    def sample(self, query: np.ndarray) -> Motion:
        """The motion at arbitrary times inside its span (slerp between samples)."""
        rot, trans = resample(self.times, self.rotations, self.root_translation, query)
        return Motion(rot, trans, query, self.skeleton, None, self.betas)

    def at_fps(self, fps: float | str | Fraction, start: float | None = None,
               end: float | None = None) -> Motion:
        """Resample onto a regular grid start + k / fps inside [start, end] (seconds)."""
        start = float(self.times[0]) if start is None else float(start)
        end = float(self.times[-1]) if end is None else float(end)
        if start < self.times[0] - 1e-9 or end > self.times[-1] + 1e-9 or end < start:
            raise ValueError(
                f"range [{start}, {end}] s is not inside the motion's "
                f"[{self.times[0]:.4f}, {self.times[-1]:.4f}] s")
        query = frame_times(fps, start, end)
        return Motion(*resample(self.times, self.rotations, self.root_translation, query),
                      query, self.skeleton, parse_fps(fps), self.betas)

    # ------------------------------------------------------------------ files

    def save(self, path: str | Path) -> None:
        """Write a `.npz` (plain arrays, readable without pickle)."""
        fps = (0, 0) if self.fps is None else (self.fps.numerator, self.fps.denominator)
        arrays = dict(
            format_version=np.array(FORMAT_VERSION), rotations=self.rotations,
            root_translation=self.root_translation, times=self.times,
            joint_names=np.array(self.skeleton.names), parents=np.array(self.skeleton.parents),
            offsets=self.skeleton.offsets, fps=np.array(fps, dtype=np.int64))
        if self.betas is not None:
            arrays["betas"] = self.betas
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Motion:
        """Read a `.npz` written by `save`; never unpickles."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["format_version"]) > FORMAT_VERSION:
                    raise ValueError(f"{path}: written by a newer motionfield")
                skel = Skeleton(tuple(str(n) for n in z["joint_names"]),
                                tuple(int(p) for p in z["parents"]), z["offsets"])
                num, den = (int(v) for v in z["fps"])
                return cls(z["rotations"], z["root_translation"], z["times"], skel,
                           Fraction(num, den) if den else None,
                           z["betas"] if "betas" in z.files else None)
        except KeyError as e:
            raise ValueError(f"{path}: not a motionfield motion file (missing {e})") from None
