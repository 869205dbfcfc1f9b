"""What a prediction model learns from: sequences as (T, J, D) value tracks, their frame
time, normalisation and loss. Two tasks:

* `cmu`: the CMU-Mocap benchmark's 25 joint positions in LTD's units (the published protocol;
  see data.py);
* `smpl`: SMPL motion for the product (24 local rotations as 6D + the root translation as a
  25th token), from Bandai Namco's training split and the CMU benchmark's training files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionfield.data.sources import data_dir, source_path
from motionfield.methods.predict.data import CMU_FRAME_TIME, CmuBenchmark

TASKS = ("cmu", "smpl")


@dataclass
class Task:
    name: str
    joints: int
    dims: int
    frame_time: float
    train: list[np.ndarray]
    mean_pose: np.ndarray  # (J, D)
    scale: np.ndarray  # (D,)
    value_mask: np.ndarray  # (J, D): 0 where a value is padding
    description: str
    licence: str
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    augment: Callable[[np.random.Generator, np.ndarray], np.ndarray]


def mean_joint_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE: the mean over frames and joints of the Euclidean distance."""
    return (pred - target).norm(dim=-1).mean()


CMU_SIDES = {"Left": "Right", "Right": "Left", "LThumb": "RThumb", "RThumb": "LThumb"}


def mirror_pairs(names, swap: dict[str, str] = CMU_SIDES) -> np.ndarray:
    """For each joint, the index of its left/right counterpart (itself on the midline);
    `swap` maps each side's name prefix to the other's."""
    names = list(names)
    out = []
    for name in names:
        side = next((k for k in swap if name.startswith(k)), None)
        out.append(names.index(swap[side] + name[len(side):]) if side else names.index(name))
    return np.asarray(out)


def random_mirror(pairs: np.ndarray, lateral_axis: int = 0):
    """Augmentation: half the windows mirrored left to right (the lateral coordinate negated,
    left and right joints swapped). Root rotation is dropped in LTD's positions, so the
    lateral axis is the body's own."""
    def augment(rng: np.random.Generator, windows: np.ndarray) -> np.ndarray:
        flip = rng.random(len(windows)) < 0.5
        mirrored = windows[flip][:, :, pairs].copy()
        mirrored[..., lateral_axis] *= -1.0
        out = windows.copy()
        out[flip] = mirrored
        return out
    return augment


def cmu_task(root: Path) -> Task:
    bench = CmuBenchmark.load(root)
    train = [seq[:, bench.used].astype(np.float32)
             for seqs in bench.sequences("train").values() for seq in seqs]
    frames = np.concatenate(train)
    steps = np.concatenate([s[10:] - s[:-10] for s in train])
    return Task("cmu", len(bench.used), 3, CMU_FRAME_TIME, train,
                mean_pose=frames.mean(axis=0), scale=np.full(3, steps.std(), np.float32),
                value_mask=np.ones((len(bench.used), 3), np.float32),
                description=("CMU-Mocap prediction benchmark, training split (32 files, "
                             "ConvSeq2Seq/LTD), LTD 3D joint positions, every 2nd frame"),
                licence="CMU Graphics Lab Motion Capture Database terms (free for all uses)",
                loss=mean_joint_distance, augment=random_mirror(mirror_pairs(bench.used_names)))


def load_task(name: str, data_root: Path | None = None) -> Task:
    """A task by name; `data_root` is the unpacked data folder (or, for `cmu`, the cmu_mocap
    folder itself); by default the unpacked archives (`motionfield data unpack`)."""
    if name == "cmu":
        if data_root is None:
            return cmu_task(source_path("cmu_mocap"))
        root = Path(data_root)
        return cmu_task(root if (root / "skeleton.json").exists() else root / "cmu_mocap")
    if name == "smpl":
        from motionfield.methods.predict.smpl_task import smpl_task

        return smpl_task(Path(data_root) if data_root else data_dir())
    raise ValueError(f"unknown task {name!r}: use one of {', '.join(TASKS)}")
