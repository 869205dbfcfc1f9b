"""The CMU-Mocap benchmark reader: files, LTD's forward kinematics, and the real motion."""

from __future__ import annotations

import os

import numpy as np
import pytest

from motionfield.errors import DataError
from motionfield.io.cmu_benchmark import (
    ASF_UNIT_M,
    CmuBenchmarkSkeleton,
    expmap_to_positions_ltd,
    has_rest_frame,
    list_sequences,
    load_cmu_skeleton,
    read_cmu_sequence,
    sequence_to_motion,
)

MISSING = {  # absent from the public snapshots (cmu_mocap/README.md)
    "test": ["basketball_signal/basketball_signal_1", "directing_traffic/directing_traffic_1"],
    "train": ["directing_traffic/directing_traffic_2", "directing_traffic/directing_traffic_3",
              "directing_traffic/directing_traffic_5"]
             + [f"washwindow/washwindow_{n}" for n in range(1, 6)],
}


@pytest.fixture(scope="module")
def cmu(data_root):
    return data_root / "cmu_mocap"


@pytest.fixture(scope="module")
def skel(cmu):
    return load_cmu_skeleton(cmu)


@pytest.fixture(scope="module")
def walking(cmu):
    return read_cmu_sequence(cmu / "test" / "walking" / "walking_1.txt")


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("split", ["train", "test"])
def test_list_sequences_matches_the_folder(cmu, split):
    found = list_sequences(cmu, split)
    for action in os.listdir(cmu / split):
        present = sorted(f for f in os.listdir(cmu / split / action) if f.endswith(".txt"))
        listed = sorted(p.name for p in found.get(action, []))
        assert listed == present
        assert all(p.is_file() for p in found.get(action, []))
    names = {f"{a}/{p.stem}" for a, paths in found.items() for p in paths}
    assert not names & set(MISSING[split])
    assert sum(map(len, found.values())) == {"train": 32, "test": 6}[split]


def test_list_sequences_orders_by_number_and_skips_empty_actions(cmu):
    train = list_sequences(cmu, "train")
    assert [p.stem for p in train["directing_traffic"]] == ["directing_traffic_1",
                                                            "directing_traffic_4"]
    assert "washwindow" not in train
    assert "basketball_signal" not in list_sequences(cmu, "test")


def test_list_sequences_refuses_unknown_split(cmu):
    with pytest.raises(DataError, match="unknown split 'val'"):
        list_sequences(cmu, "val")


def test_read_cmu_sequence_shape(walking):
    assert walking.shape == (359, 117) and walking.dtype == np.float64


def _write(tmp_path, lines):
    path = tmp_path / "bad_1.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("bad, message", [
    (",".join(["0"] * 116), r"line 2: expected 117 comma-separated values, found 116"),
    (",".join(["0"] * 50 + ["nan"] + ["0"] * 66), r"line 2, value 51: 'nan' is not finite"),
    (",".join(["0"] * 7 + ["abc"] + ["0"] * 109), r"line 2, value 8: 'abc' is not a number"),
])
def test_malformed_lines_raise_with_line_number(tmp_path, bad, message):
    path = _write(tmp_path, [",".join(["0.5"] * 117), bad, ",".join(["0"] * 117)])
    with pytest.raises(DataError, match=message) as info:
        read_cmu_sequence(path)
    assert "bad_1.txt" in str(info.value)


def test_missing_and_empty_files_raise(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_cmu_sequence(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="no frames"):
        read_cmu_sequence(_write(tmp_path, [""]))


def test_skeleton_matches_ltd(skel):
    assert len(skel) == 38 and skel.names[0] == "Hips" and skel.names[18] == "Head"
    assert skel.parents[:8] == (-1, 0, 1, 2, 3, 4, 5, 0)
    np.testing.assert_allclose(skel.offsets_ltd[2], [115.9718, -126.1974, 43.7339])
    np.testing.assert_allclose(skel.offsets_m, skel.offsets_ltd / 70 * ASF_UNIT_M, atol=1e-9)
    assert len(skel.used_joints) == 25 and len(skel.ignored_joints) == 13


def test_load_cmu_skeleton_missing_folder(tmp_path):
    with pytest.raises(DataError, match="skeleton.json not found"):
        load_cmu_skeleton(tmp_path)


# --------------------------------------------------------------------------- LTD kinematics


def _chain_skeleton():
    """root -> a (offset 0) -> b (1, 0, 0) -> c (0, 1, 0)."""
    offsets = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float64)
    return CmuBenchmarkSkeleton(("root", "a", "b", "c"), (-1, 0, 1, 2), offsets * 0.01,
                                offsets, (2, 3), (0, 1), (), ())


def test_ltd_fk_hand_made_chain():
    skel = _chain_skeleton()
    frame = np.zeros(3 + 3 * 4)
    frame[:6] = [5, 6, 7, 0.3, -1.2, 0.4]        # root translation and rotation: ignored
    frame[6:9] = [0, 0, np.pi / 2]                # a: a quarter turn about z
    pos = expmap_to_positions_ltd(frame[None], skel)[0]
    # Row vectors: (1, 0, 0) @ Rz(90) is Rz's first row (0, -1, 0); (0, 1, 0) its second.
    np.testing.assert_allclose(pos, [[0, 0, 0], [0, 0, 0], [0, -1, 0], [1, -1, 0]],
                               atol=1e-6)
    frame[9:12] = [np.pi / 2, 0, 0]               # b: then a quarter turn about x
    pos = expmap_to_positions_ltd(frame[None], skel)[0]
    # c = (0, 1, 0) @ Rx(90) @ Rz(90) + b: Rx's second row is (0, 0, -1), and
    # (0, 0, -1) @ Rz(90) is minus Rz's third row, (0, 0, -1); b is still (0, -1, 0)
    np.testing.assert_allclose(pos[2:], [[0, -1, 0], [0, -1, -1]], atol=1e-6)


def test_ltd_fk_keeps_bone_lengths_on_real_frames(walking, skel):
    pos = expmap_to_positions_ltd(walking, skel)
    assert pos.shape == (359, 38, 3)
    np.testing.assert_allclose(pos[:, [0, 1, 7, 13]], 0.0, atol=1e-12)
    for j in range(1, 38):
        p = skel.parents[j]
        bone = np.linalg.norm(pos[:, j] - pos[:, p], axis=-1)
        np.testing.assert_allclose(bone, np.linalg.norm(skel.offsets_ltd[j]), atol=1e-4)
    # the pose does change: not just rest offsets
    assert np.ptp(pos[:, 4, 2]) > 200


def test_ltd_fk_rejects_wrong_width(skel):
    with pytest.raises(ValueError, match=r"\(T, 117\)"):
        expmap_to_positions_ltd(np.zeros((4, 99)), skel)


# --------------------------------------------------------------------------- real motion


def test_every_file_starts_with_the_rest_frame(cmu):
    for split in ("train", "test"):
        for paths in list_sequences(cmu, split).values():
            assert all(has_rest_frame(read_cmu_sequence(p)[:2]) for p in paths)


def test_motion_equals_ltd_pose_in_metres_up_to_root(walking, skel):
    motion = sequence_to_motion(walking, skel)
    assert motion.num_frames == len(walking) - 1 and motion.fps == 120
    assert motion.skeleton.names == skel.names
    pos = motion.joint_positions()
    root_rot = motion.global_rotations()[:, 0]
    np.testing.assert_allclose(pos[:, 0], walking[1:, :3] * ASF_UNIT_M, atol=1e-12)
    # undo the root transform LTD drops: R0^T (x - x0), written with row vectors
    local = np.einsum("tjk,tkl->tjl", pos - pos[:, :1], root_rot)
    ltd = expmap_to_positions_ltd(walking, skel)[1:] / 70 * ASF_UNIT_M
    np.testing.assert_allclose(local, ltd, atol=1e-6)
    assert np.ptp(root_rot[:, 0, 2]) > 0.1  # the root really rotates, so the check bites


def test_motion_keeps_every_frame_when_asked(walking, skel):
    motion = sequence_to_motion(walking, skel, fps=60, drop_rest_frame=False)
    assert motion.num_frames == len(walking) and motion.fps == 60
    np.testing.assert_allclose(motion.times[1], 1 / 60)


def test_motion_is_y_up_facing_plus_z(walking, skel):
    motion = sequence_to_motion(walking, skel)
    pos = motion.joint_positions()
    head, feet = pos[:, skel.names.index("Head"), 1], pos[:, [4, 10], 1]
    assert np.all(head > feet.max(axis=1) + 1.0)
    assert -0.15 < feet.min() < 0.15                       # on the ground, in metres
    step = np.diff(pos[:, 0], axis=0) * 120
    speed = np.linalg.norm(step[:, [0, 2]], axis=1)
    assert 0.8 < speed.mean() < 2.0 and np.abs(step[:, 1]).mean() < 0.3
    facing = np.einsum("tij,j->ti", motion.global_rotations()[:, 0], [0.0, 0.0, 1.0])
    along = np.sum(step * facing[1:], axis=1) / speed
    assert np.median(along) > 0.9                          # walks where the body faces
