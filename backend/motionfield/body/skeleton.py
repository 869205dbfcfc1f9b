"""Skeletons: joint names, parents (root -1, parents before children) and rest offsets.

The SMPL joint table lives here, and the default SMPL skeleton is read from
`assets/smpl_skeleton.json` (see that file for its source).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
NUM_SMPL_JOINTS = 24


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A joint hierarchy with rest offsets.

    Attributes
    ----------
    names : tuple of J str
    parents : tuple of J int, -1 for the root; every parent index is below its child's
    offsets : (J, 3) float64, each joint's rest position relative to its parent (metres);
        the root's entry is its rest position in the skeleton's own coordinates
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        names, parents = tuple(self.names), tuple(int(p) for p in self.parents)
        offsets = np.asarray(self.offsets, dtype=np.float64)
        if len(names) != len(parents) or offsets.shape != (len(names), 3):
            raise ValueError(
                f"skeleton needs J names, J parents and (J, 3) offsets; got {len(names)}, "
                f"{len(parents)} and {offsets.shape}")
        if len(set(names)) != len(names):
            raise ValueError("skeleton joint names must be unique")
        if not names or parents[0] != -1 or any(p == -1 for p in parents[1:]):
            raise ValueError("skeleton needs exactly one root, at index 0")
        if any(not 0 <= p < j for j, p in enumerate(parents) if j):
            raise ValueError("skeleton parents must come before their children")
        if not np.all(np.isfinite(offsets)):
            raise ValueError("skeleton offsets must be finite")
        offsets.setflags(write=False)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "offsets", offsets)

    def __len__(self) -> int:
        return len(self.names)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Skeleton) and self.names == other.names
                and self.parents == other.parents
                and np.allclose(self.offsets, other.offsets, atol=1e-9))

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint named {name!r} in this skeleton") from None

    def children(self, joint: int) -> list[int]:
        return [j for j, p in enumerate(self.parents) if p == joint]

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions in the rest pose."""
        pos = np.zeros((len(self), 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        return pos

    def height(self) -> float:
        """Vertical (Y) extent of the rest pose, a scale for comparing skeletons."""
        y = self.rest_positions()[:, 1]
        return float(y.max() - y.min())

    def with_offsets(self, offsets: np.ndarray) -> Skeleton:
        return Skeleton(self.names, self.parents, offsets)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "parents": list(self.parents),
                "offsets_m": self.offsets.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Skeleton:
        return cls(tuple(d["names"]), tuple(d["parents"]), np.asarray(d["offsets_m"]))


@cache
def smpl_skeleton() -> Skeleton:
    """The shipped default SMPL skeleton (neutral body, betas = 0)."""
    text = resources.files("motionfield.assets").joinpath("smpl_skeleton.json").read_text()
    skel = Skeleton.from_dict(json.loads(text))
    if skel.names != SMPL_JOINT_NAMES or skel.parents != SMPL_PARENTS:
        raise RuntimeError("assets/smpl_skeleton.json disagrees with the SMPL joint table")
    return skel
