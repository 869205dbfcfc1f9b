"""BVH reading and writing: real files, round trips, channel orders, malformed input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motionfield.body.rotations import quat_to_matrix
from motionfield.body.skeleton import smpl_skeleton
from motionfield.errors import BVHError
from motionfield.io.bvh import bvh_text, guess_unit_scale, motion_from_clip, parse_bvh, read_bvh
from motionfield.motion import Motion

from rigs_synth import smooth_motion

ONE_JOINT = """HIERARCHY
ROOT hips
{{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition {order}
  End Site
  {{
    OFFSET 1 0 0
  }}
}}
MOTION
Frames: 1
Frame Time: 0.0333333
0 0 0 {values}
"""


def _all_bvh(data_root):
    files = sorted((data_root / "Bandai-Namco-Research-Motiondataset-1" / "data").glob("*.bvh"))
    files += sorted((data_root / "Bandai-Namco-Research-Motiondataset-2" / "data").glob(
        "*.bvh"))[::50]
    files += sorted((data_root / "cmu_bvh").glob("*.bvh"))
    files += sorted((data_root / "ReActIdle").rglob("*.bvh"))
    return files


def test_every_real_file_parses_with_its_frame_count(data_root):
    files = _all_bvh(data_root)
    assert len(files) > 250
    for path in files:
        text = path.read_text()
        frames = int(re.search(r"Frames:\s*(\d+)", text).group(1))
        clip = parse_bvh(text, path.name)
        assert clip.num_frames == frames, path
        assert clip.frames.shape[1] == sum(len(c) for c in clip.channels)
        assert np.isfinite(clip.forward_kinematics(0.01)[1]).all()


def test_fps_and_units_of_the_shipped_rigs(data_root):
    cmu = read_bvh(data_root / "cmu_bvh" / "02_01.bvh")
    idle = read_bvh(data_root / "ReActIdle" / "genuine" / "003_genuine.bvh")
    assert cmu.fps == 120 and idle.fps == 24
    assert guess_unit_scale(cmu)[1] == "cmu_asf"
    assert guess_unit_scale(idle)[1] == "metres"


def test_zxy_channels_turn_x_onto_y():
    clip = parse_bvh(ONE_JOINT.format(order="Zrotation Xrotation Yrotation", values="90 0 0"))
    glob, _ = clip.forward_kinematics()
    np.testing.assert_allclose(glob[0, 0] @ [1, 0, 0], [0, 1, 0], atol=1e-12)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX"])
def test_channel_order_is_intrinsic_as_listed(order):
    angles = [30.0, -50.0, 70.0]
    chans = " ".join(f"{a}rotation" for a in order)
    clip = parse_bvh(ONE_JOINT.format(order=chans, values=" ".join(map(str, angles))))
    expected = Rotation.from_euler(order, angles, degrees=True).as_matrix()
    np.testing.assert_allclose(quat_to_matrix(clip.local_rotations()[0, 0]), expected, atol=1e-12)


@pytest.mark.parametrize("fps", [30, "29.97", 120])
def test_write_then_read_gives_the_same_motion(fps):
    motion = smooth_motion(frames=40, fps=fps)
    back = motion_from_clip(parse_bvh(bvh_text(motion))).reordered(motion.skeleton.names)
    assert back.fps == motion.fps and back.skeleton.names == motion.skeleton.names
    np.testing.assert_allclose(back.joint_positions(), motion.joint_positions(), atol=1e-4)
    np.testing.assert_allclose(quat_to_matrix(back.rotations), quat_to_matrix(motion.rotations),
                               atol=1e-4)
    np.testing.assert_allclose(back.times, motion.times, atol=1e-9)


def test_real_clip_round_trip(data_root):
    path = data_root / "Bandai-Namco-Research-Motiondataset-1" / "data" / \
        "dataset-1_walk_normal_001.bvh"
    clip = read_bvh(path)
    motion = motion_from_clip(clip, 0.01)  # drops Bandai's static joint_Root
    assert motion.skeleton.names[0] == "Hips"
    again = motion_from_clip(parse_bvh(bvh_text(motion)))
    _, source = clip.forward_kinematics(0.01)
    np.testing.assert_allclose(again.joint_positions(), source[:, 1:], atol=1e-4)


def test_irregular_motion_is_refused_by_the_writer():
    m = smooth_motion(frames=3)
    irregular = Motion(m.rotations, m.root_translation, np.array([0, 0.1, 0.5]), m.skeleton)
    with pytest.raises(ValueError, match="at_fps"):
        bvh_text(irregular)


def _valid() -> str:
    return bvh_text(Motion.from_frames(smooth_motion(frames=5).rotations,
                                       np.zeros((5, 3)), smpl_skeleton(), 30))


@pytest.mark.parametrize("mutate,message", [
    (lambda t: "", "empty"),
    (lambda t: t[: len(t) // 3], "MOTION"),
    (lambda t: t[: t.rindex("\n", 0, len(t) - 1)], "truncated"),
    (lambda t: t.replace("CHANNELS 3 Zrotation Xrotation Yrotation",
                         "CHANNELS 4 Zrotation Xrotation Yrotation", 1), "channel"),
    (lambda t: t.replace("CHANNELS 3", "CHANNELS 2", 1), "inside joint"),
    (lambda t: _replace_value(t, "nan"), "NaN"),
    (lambda t: _replace_value(t, "abc"), "not a number"),
    (lambda t: t.replace("Frame Time: ", "Frame Time: -", 1), "positive"),
    (lambda t: t.replace("Frames: 5", "Frames: 6"), "truncated"),
    (lambda t: t.replace("Frames: 5", "Frames: 4"), "more frame lines"),
    (lambda t: t.replace("Frames: 5", "Frames: five"), "(?i)bad frames value"),
    (lambda t: t.replace("HIERARCHY", "HIERARCHIES"), "HIERARCHY"),
    (lambda t: t.replace("JOINT left_hip", "JOINT pelvis"), "twice"),
    (lambda t: t.replace("Xrotation", "Wrotation", 1), "not a channel"),
    (lambda t: t.replace("OFFSET", "OFFSET x", 1), "number"),
    (lambda t: _drop_value(t), "values, expected"),
])
def test_malformed_files_raise_clear_errors(mutate, message):
    with pytest.raises(BVHError, match=message):
        parse_bvh(mutate(_valid()), "bad.bvh")


def _value_lines(text: str) -> tuple[list[str], int]:
    lines = text.split("\n")
    return lines, lines.index("MOTION") + 3


def _replace_value(text: str, value: str) -> str:
    lines, first = _value_lines(text)
    parts = lines[first + 2].split()
    parts[7] = value
    lines[first + 2] = " ".join(parts)
    return "\n".join(lines)


def _drop_value(text: str) -> str:
    lines, first = _value_lines(text)
    lines[first + 1] = " ".join(lines[first + 1].split()[:-1])
    return "\n".join(lines)


def test_error_names_the_line():
    with pytest.raises(BVHError, match=r"bad\.bvh: line \d+"):
        parse_bvh(_replace_value(_valid(), "abc"), "bad.bvh")


def test_missing_file_is_a_bvh_error(tmp_path):
    with pytest.raises(BVHError, match="cannot read"):
        read_bvh(tmp_path / "nope.bvh")


def test_crlf_tabs_and_trailing_blank_lines_are_fine():
    text = _valid().replace("\n", "\r\n").replace("  ", "\t") + "\r\n\r\n"
    assert parse_bvh(text).num_frames == 5
