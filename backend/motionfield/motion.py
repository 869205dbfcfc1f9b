"""The Motion value: local joint rotations, root translation and timestamps on a skeleton."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.rotations import quat_to_matrix
from motionfield.body.skeleton import Skeleton
from motionfield.body.timing import frame_times, parse_fps, resample
from motionfield.io.atomic import atomic_writer

FORMAT_VERSION = 1
# Bounds on what a motion file may hold, checked before its arrays are decompressed:
# frames x joints (200,000 frames of SMPL's 24 joints, an hour at 55 fps), joints, betas.
MAX_FRAME_JOINTS = 24 * 200_000
MAX_JOINTS = 10_000
MAX_BETAS = 1_000


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

    def save(self, path: str | Path) -> Path:
        """Write a `.npz` (plain arrays, readable without pickle) at exactly `path` (no suffix
        added), atomically (`io.atomic`); returns the path written."""
        fps = (0, 0) if self.fps is None else (self.fps.numerator, self.fps.denominator)
        arrays = dict(
            format_version=np.array(FORMAT_VERSION), rotations=self.rotations,
            root_translation=self.root_translation, times=self.times,
            joint_names=np.array(self.skeleton.names), parents=np.array(self.skeleton.parents),
            offsets=self.skeleton.offsets, fps=np.array(fps, dtype=np.int64))
        if self.betas is not None:
            arrays["betas"] = self.betas
        with atomic_writer(path) as out:
            np.savez(out, **arrays)  # a file object: numpy appends no ".npz"
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Motion:
        """Read a `.npz` written by `save`; never unpickles.

        Every array's shape and type is checked from its `.npy` header before any data is
        decompressed (a small archive cannot claim gigabytes), frames x joints is bounded by
        MAX_FRAME_JOINTS, and a stored fps must agree with the timestamps. ValueError, with
        the file named, for anything that is not such a file; OSError if it cannot be read.
        """
        try:
            with zipfile.ZipFile(path) as archive:
                arrays = _read_motion_arrays(archive)
            return _motion_from_arrays(cls, arrays)
        except (ValueError, zipfile.BadZipFile, zlib.error, EOFError, KeyError,
                NotImplementedError) as e:
            raise ValueError(f"{path}: not a motionfield motion file ({e})") from None


# The .npy members `save` writes: name -> (dimensions, allowed dtype kinds). Sizes are named
# T (frames), J (joints), B (shape coefficients); numbers are fixed sizes.
_MEMBERS = {
    "format_version": ((), "iu"),
    "rotations": (("T", "J", 4), "f"),
    "root_translation": (("T", 3), "f"),
    "times": (("T",), "f"),
    "joint_names": (("J",), "U"),
    "parents": (("J",), "iu"),
    "offsets": (("J", 3), "f"),
    "fps": ((2,), "iu"),
    "betas": (("B",), "f"),
}
_OPTIONAL = {"betas"}


def _read_motion_arrays(archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """The members of `_MEMBERS`, read only after every header passed `_check_headers`."""
    names = {Path(n).stem: n for n in archive.namelist() if n.endswith(".npy")}
    missing = sorted(set(_MEMBERS) - _OPTIONAL - set(names))
    if missing:
        raise ValueError(f"missing arrays {missing}")
    headers = {}
    for key in _MEMBERS:
        if key in names:
            with archive.open(names[key]) as member:
                headers[key] = _npy_header(member, key)
    _check_headers(headers)
    arrays = {}
    for key in headers:
        with archive.open(names[key]) as member:
            arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


def _npy_header(member, key: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise ValueError(f"{key}: unsupported .npy version {version}")
    return tuple(int(n) for n in shape), dtype


def _check_headers(headers: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
    """Shapes consistent with one (T, J, B) and within bounds, dtypes numeric or text."""
    sizes: dict[str, int] = {}
    for key, (shape, dtype) in headers.items():
        dims, kinds = _MEMBERS[key]
        if dtype.kind not in kinds or dtype.hasobject:
            raise ValueError(f"{key} has dtype {dtype}")
        if len(shape) != len(dims):
            raise ValueError(f"{key} has shape {shape}, expected {len(dims)} dimensions")
        for dim, n in zip(dims, shape):
            if isinstance(dim, int) and n != dim:
                raise ValueError(f"{key} has shape {shape}")
            if isinstance(dim, str) and sizes.setdefault(dim, n) != n:
                raise ValueError(f"{key} has shape {shape}: its {dim} disagrees with "
                                 f"{sizes[dim]} in another array")
    frames, joints = sizes.get("T", 0), sizes.get("J", 0)
    if frames * joints > MAX_FRAME_JOINTS or joints > MAX_JOINTS:
        raise ValueError(f"{frames} frames x {joints} joints is over the limit of "
                         f"{MAX_FRAME_JOINTS:,} (and {MAX_JOINTS} joints)")
    if sizes.get("B", 0) > MAX_BETAS or headers["joint_names"][1].itemsize > 4 * 256:
        raise ValueError("betas or joint names are implausibly long")


def _motion_from_arrays(cls: type[Motion], z: dict[str, np.ndarray]) -> Motion:
    if int(z["format_version"]) > FORMAT_VERSION:
        raise ValueError("written by a newer motionfield")
    skel = Skeleton(tuple(str(n) for n in z["joint_names"]),
                    tuple(int(p) for p in z["parents"]), z["offsets"])
    num, den = (int(v) for v in z["fps"])
    if (num, den) == (0, 0):
        fps = None
    elif num > 0 and den > 0:
        fps = Fraction(num, den)
    else:
        raise ValueError(f"fps {num}/{den} is not a positive fraction")
    motion = cls(z["rotations"], z["root_translation"], z["times"], skel, fps, z.get("betas"))
    _check_fps(motion)
    return motion


def _check_fps(motion: Motion) -> None:
    """A stored framerate must be the spacing of the timestamps (1 microsecond tolerance)."""
    if motion.fps is None or motion.num_frames < 2:
        return
    step = np.diff(motion.times)
    expected = motion.fps.denominator / motion.fps.numerator
    worst = float(np.max(np.abs(step - expected)))
    if worst > 1e-6:
        raise ValueError(f"fps {motion.fps} contradicts the timestamps (a step differs from "
                         f"1/fps = {expected:.6g} s by {worst:.3g} s)")
