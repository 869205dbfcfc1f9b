"""The CMU-Mocap prediction benchmark: its files as positions and its test windows.

The CMU benchmark task follows LTD's 3D protocol (wei-mao-2019/LearnTrajDep,
utils/cmu_motion_3d.py and main_cmu_3d.py; details in cmu_mocap/skeleton.json `ltd_eval`):
joint positions from LTD's forward kinematics (root rotation and translation dropped, units
ASF x 70 "mm"), every second frame kept and treated as 40 ms apart, the model sees and
predicts the 25 joints LTD uses, and the test takes 8 windows per test file from
np.random.RandomState(1234567890) re-seeded per file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionfield.io.cmu_benchmark import (
    expmap_to_positions_ltd,
    list_sequences,
    load_cmu_skeleton,
    read_cmu_sequence,
)

CMU_FRAME_TIME = 0.04  # seconds per kept frame, as the published horizons count them
# What a kept frame really is: the files hold 120 fps captures (io/cmu_benchmark.py) and
# every second frame is kept. Other data joins the benchmark's training at this rate, so
# that one frame step means the same motion in both.
CMU_KEPT_FPS = 60
CMU_SEED = 1234567890
CMU_WINDOWS_PER_FILE = 8
CMU_SOURCE_FRAMES = 50  # LTD's source_seq_len: windows end 50 frames after idx
CMU_TARGET_FRAMES = 25


def cmu_positions(path: Path, skeleton) -> np.ndarray:
    """One benchmark file -> (T', 38, 3) LTD positions on every second frame (rest line kept,
    as LTD keeps it)."""
    return expmap_to_positions_ltd(read_cmu_sequence(path), skeleton)[::2]


@dataclass
class CmuBenchmark:
    """The benchmark's files as positions: {action: [(T', 38, 3) arrays]} per split."""

    root: Path
    skeleton: object  # CmuBenchmarkSkeleton
    used: np.ndarray  # the 25 joints models see
    used_names: list[str]
    copy_to: np.ndarray  # joints set from the ones they coincide with, for the 38-joint error
    copy_from: np.ndarray

    @classmethod
    def load(cls, root: str | Path) -> CmuBenchmark:
        root = Path(root)
        meta = json.loads((root / "skeleton.json").read_text())
        ltd = meta["ltd_eval"]
        return cls(root, load_cmu_skeleton(root), np.asarray(meta["ltd_25_joints_used_0based"]),
                   list(meta["ltd_25_joints_used_names"]),
                   np.asarray(ltd["copied_joints_0based"]), np.asarray(ltd["copied_from_0based"]))

    def files(self, split: str) -> dict[str, list[Path]]:
        """{action: [paths]} for "train", "test", "validation" or "train-without-validation".

        The benchmark has no validation split; ours is, for every action with a test file
        and at least two training files, its last training file. A recipe is chosen on
        those windows by models trained without them (TrainConfig.hold_out_validation), so
        the test windows stay unseen by the choice."""
        if split not in ("validation", "train-without-validation"):
            return list_sequences(self.root, split)
        train, test = list_sequences(self.root, "train"), list_sequences(self.root, "test")
        held = {a: paths[-1:] for a, paths in train.items() if a in test and len(paths) > 1}
        if split == "validation":
            return held
        return {a: [p for p in paths if p not in held.get(a, [])] for a, paths in train.items()}

    def sequences(self, split: str) -> dict[str, list[np.ndarray]]:
        return {action: [cmu_positions(p, self.skeleton) for p in paths]
                for action, paths in self.files(split).items()}

    def test_windows(self, history: int, split: str = "test") -> dict[str, np.ndarray]:
        """{action: (8 * files, history + 25, 38, 3)} windows exactly as LTD draws them,
        from the test files (or from the validation files, drawn the same way)."""
        if not 1 <= history <= CMU_SOURCE_FRAMES:
            raise ValueError(f"history must be 1..{CMU_SOURCE_FRAMES} frames")
        if split not in ("test", "validation"):
            raise ValueError(f"windows come from the test or validation files, not {split!r}")
        return {action: np.concatenate([ltd_windows(seq, history) for seq in seqs])
                for action, seqs in self.sequences(split).items()}

    def full_pose(self, predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """LTD's 38-joint prediction: the truth with the used joints replaced by the
        prediction (B, T, 25, 3), then the duplicate joints copied."""
        full = truth.copy()
        full[..., self.used, :] = predicted
        full[..., self.copy_to, :] = full[..., self.copy_from, :]
        return full


def ltd_windows(seq: np.ndarray, history: int) -> np.ndarray:
    """The 8 test windows LTD draws from one sequence (T, ...): RandomState(1234567890)
    re-seeded per sequence, idx = randint(0, T - 75), window = idx + 50 - history ..
    idx + 75. (8, history + 25, ...); the sequence must be longer than 75 frames."""
    rng = np.random.RandomState(CMU_SEED)
    end = CMU_SOURCE_FRAMES + CMU_TARGET_FRAMES
    starts = [rng.randint(0, len(seq) - end) for _ in range(CMU_WINDOWS_PER_FILE)]
    return np.stack([seq[i + CMU_SOURCE_FRAMES - history:i + end] for i in starts])
