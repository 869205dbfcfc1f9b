"""What a prediction model learns from: sequences as (T, J, D) value tracks, their frame
time, normalisation and loss. Two tasks:

* `cmu`: the CMU-Mocap benchmark's 25 joint positions in LTD's units (the published protocol;
  see data.py);
* `smpl`: SMPL motion for the product as tokens (body/tokens.py: 24 local rotations as 6D
  + the root translation as a 25th token), from Bandai Namco's training split and the CMU
  benchmark's training files, resampled to 25 fps (the frame time the benchmark counts
  in) so that training windows, the baselines' frames and the published horizons line
  up; the field itself takes any times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionfield.body import tokens
from motionfield.data.sources import source_path
from motionfield.data.windows import mirror_positions
from motionfield.methods.predict.data import CMU_FRAME_TIME, CMU_KEPT_FPS, CmuBenchmark

TASKS = ("cmu", "smpl")
SMPL_FPS = 25
SMPL_SOURCES = ("bandai-namco-1", "bandai-namco-2", "cmu-benchmark")


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
    augment: Callable[[np.random.Generator, np.ndarray], np.ndarray]  # windows -> windows
    # Where `train` mixes sources: each sequence's source and each source's share of the
    # windows (data.windows.WindowSampler); None: every window equally likely.
    train_groups: np.ndarray | None = None
    group_shares: tuple[float, ...] | None = None
    # Each sequence's class inside its source (CMU: the action), for balancing the draw
    # (TrainConfig.action_balance); None: one class.
    train_labels: np.ndarray | None = None


def mean_joint_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE: the mean over frames and joints of the Euclidean distance."""
    return (pred - target).norm(dim=-1).mean()


CMU_SIDES = {"Left": "Right", "Right": "Left", "LThumb": "RThumb", "RThumb": "LThumb"}


CMU_DESCRIPTION = ("CMU-Mocap prediction benchmark, training split (32 files, ConvSeq2Seq/LTD), "
                   "LTD 3D joint positions, every 2nd frame")
CMU_LICENCE = "CMU Graphics Lab Motion Capture Database terms (free for all uses)"


def cmu_task(root: Path, extra_data: tuple[str, ...] = (), extra_share: float = 0.5,
             hold_out_validation: bool = False, extra_root: Path | None = None) -> Task:
    """The benchmark's training files (less the validation files with
    `hold_out_validation`, data.CmuBenchmark.files); with `extra_data`, sets built from
    the unpacked data folder `extra_root` (default: the unpacked archives) put on the
    benchmark's skeleton join them for `extra_share` of the windows. Normalisation comes
    from the benchmark's files alone."""
    bench = CmuBenchmark.load(root)
    by_action = bench.sequences("train-without-validation" if hold_out_validation else "train")
    train = [seq[:, bench.used].astype(np.float32) for seqs in by_action.values() for seq in seqs]
    labels = np.repeat(np.arange(len(by_action)), [len(seqs) for seqs in by_action.values()])
    frames = np.concatenate(train)
    steps = np.concatenate([s[10:] - s[:-10] for s in train])
    description, licence, groups, shares = CMU_DESCRIPTION, CMU_LICENCE, None, None
    if hold_out_validation:
        description += "; the validation files (one per test action) held out"
    if extra_data:
        from motionfield.data.build import LICENCES

        unknown = set(extra_data) - set(EXTRA_SOURCE_RIGS)
        if unknown:
            raise ValueError(f"extra data {sorted(unknown)}: use {', '.join(EXTRA_SOURCE_RIGS)}")
        if not 0.0 < extra_share <= 1.0:  # 1: the extra data alone (pretraining)
            raise ValueError(f"extra_share must be above 0 and at most 1, got {extra_share}")
        extra = extra_on_cmu_skeleton(bench, extra_data, data_root=extra_root)
        groups = np.repeat([0, 1], [len(train), len(extra)])
        shares = (1.0 - extra_share, extra_share)
        train = train + extra
        labels = np.concatenate([labels, np.zeros(len(extra), int)])
        extra_description = (f"the training split of {', '.join(extra_data)} on the "
                             f"benchmark's skeleton at {CMU_KEPT_FPS} fps")
        if extra_share == 1.0:  # the benchmark's files (held out or not) normalise only
            description = (f"{extra_description} alone; the {description}, gave only the "
                           "normalisation")
        else:
            description += f"; plus {extra_description}, {extra_share:.0%} of the windows"
        licence = "; ".join([licence, *sorted({LICENCES[name] for name in extra_data})])
    return Task("cmu", len(bench.used), 3, CMU_FRAME_TIME, train,
                mean_pose=frames.mean(axis=0), scale=np.full(3, steps.std(), np.float32),
                value_mask=np.ones((len(bench.used), 3), np.float32),
                description=description, licence=licence, loss=mean_joint_distance,
                augment=mirror_positions(tokens.mirror_pairs(bench.used_names, CMU_SIDES)),
                train_groups=groups,
                group_shares=shares, train_labels=labels)


# Sets that may join the CMU task, with the rig they were captured on: SMPL joints that rig
# does not drive (hands without fingers) carry no motion and are not transferred.
EXTRA_SOURCE_RIGS = {"bandai-namco-1": "bandai_namco", "bandai-namco-2": "bandai_namco"}


def extra_on_cmu_skeleton(bench: CmuBenchmark, sources: tuple[str, ...],
                          progress: bool = True, data_root: Path | None = None
                          ) -> list[np.ndarray]:
    """The training split of each set built from `data_root` (SMPL; data.build.build),
    resampled to the benchmark's kept-frame rate and put on its skeleton: [(T, 25, 3)] LTD
    positions of the used joints."""
    from tqdm import tqdm

    from motionfield.body.skeleton import smpl_skeleton
    from motionfield.data.build import build, load_set
    from motionfield.io.cmu_benchmark import list_sequences, read_cmu_sequence
    from motionfield.io.rigs import builtin_rigs
    from motionfield.io.smpl_to_cmu import (
        cmu_calibration,
        mean_local_rotations,
        smpl_to_ltd_positions,
    )
    from motionfield.motion import Motion

    sets = {source: load_set(build(source, progress=progress, data_root=data_root))
            for source in sources}  # first: a missing source is said before the work
    calibration = cmu_calibration(bench.skeleton)
    fixed = mean_local_rotations(read_cmu_sequence(p) for paths in
                                 list_sequences(bench.root, "train").values() for p in paths)
    out = []
    for source, data in sets.items():
        captured = list(builtin_rigs()[EXTRA_SOURCE_RIGS[source]].joints)
        clips = tqdm(data.split("train"), desc=f"{source} onto the CMU skeleton",
                     disable=not progress)
        for i in clips:
            rot, trans = data.clip(i)
            if len(rot) < 2:
                continue
            motion = Motion.from_frames(rot, trans, smpl_skeleton(), data.clips[i]["fps"])
            positions = smpl_to_ltd_positions(motion.at_fps(CMU_KEPT_FPS), bench.skeleton,
                                              calibration, fixed, captured)
            out.append(positions[:, bench.used].astype(np.float32))
    return out


def load_task(name: str, data_root: Path | None = None, extra_data: tuple[str, ...] = (),
              extra_share: float = 0.5, hold_out_validation: bool = False) -> Task:
    """A task by name; `data_root` is the unpacked data folder (or, for `cmu`, the cmu_mocap
    folder itself, with the extra data's folders beside it); by default the unpacked
    archives (`motionfield data unpack`)."""
    if name == "cmu":
        if data_root is None:
            root, extra_root = source_path("cmu_mocap"), None
        else:
            root = Path(data_root)
            root = root if (root / "skeleton.json").exists() else root / "cmu_mocap"
            extra_root = root.parent
        return cmu_task(root, tuple(extra_data), extra_share, hold_out_validation, extra_root)
    if extra_data:
        raise ValueError(f"extra data is for the cmu task; the {name} task has its own")
    if hold_out_validation:
        raise ValueError(f"the validation split is the CMU benchmark's; the {name} task "
                         "has held-out clips of its own")
    if name == "smpl":
        return smpl_task(Path(data_root) if data_root else None)
    raise ValueError(f"unknown task {name!r}: use one of {', '.join(TASKS)}")


SMPL_DESCRIPTION = ("Bandai Namco Research Motiondataset 1 and 2 (training split, sha256 rule) "
                    "and the CMU-Mocap benchmark's training files, retargeted to SMPL, 25 fps")
SMPL_LICENCE = ("CC BY-NC 4.0 (Bandai Namco Research Motiondataset) and the CMU Graphics Lab "
                "Motion Capture Database terms: non-commercial use")


def smpl_clips(data_root: Path | None = None, sources=SMPL_SOURCES, split: str = "train",
               progress: bool = True) -> list[np.ndarray]:
    """Every clip of `split` from the sets built from `sources` in `data_root` (default:
    the unpacked archives), at 25 fps, as (T, 25, 6) tokens."""
    from motionfield.data.build import build, load_set

    out = []
    for source in sources:
        data = load_set(build(source, progress=progress, data_root=data_root))
        out += [tokens.clip_tokens(data, i, SMPL_FPS) for i in data.split(split)
                if data.clips[i]["frames"] > 1]
    return out


def smpl_task(data_root: Path | None = None) -> Task:
    """SMPL motion for the product, from the unpacked data folder `data_root`."""
    train = smpl_clips(data_root)
    frames = np.concatenate(train)
    steps = np.concatenate([s[10:] - s[:-10] for s in train if len(s) > 10])
    value_mask = np.ones((tokens.TOKENS, tokens.VALUES), np.float32)
    value_mask[tokens.ROOT_TOKEN, 3:] = 0.0  # the translation token's padding
    scale = steps.reshape(-1, tokens.VALUES).std(axis=0).clip(1e-3).astype(np.float32)
    return Task("smpl", tokens.TOKENS, tokens.VALUES, 1 / SMPL_FPS, train,
                mean_pose=frames.mean(axis=0), scale=scale, value_mask=value_mask,
                description=SMPL_DESCRIPTION, licence=SMPL_LICENCE, loss=tokens.SmplLoss(),
                augment=tokens.mirror_and_turn())
