"""BVH reading and writing: real files, round trips, channel orders, malformed input."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motionfield.body.rotations import axis_angle_to_quat, quat_to_matrix
from motionfield.body.skeleton import smpl_skeleton
from motionfield.errors import BVHError
from motionfield.io.bvh import (
    BvhClip,
    bvh_text,
    guess_unit_scale,
    motion_from_clip,
    parse_bvh,
    read_bvh,
    write_bvh,
)
from motionfield.motion import Motion

from rigs_synth import smooth_motion


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


def test_fps_of_the_shipped_rigs(data_root):
    cmu = read_bvh(data_root / "cmu_bvh" / "02_01.bvh")
    idle = read_bvh(data_root / "ReActIdle" / "genuine" / "003_genuine.bvh")
    assert cmu.fps == 120 and idle.fps == 24


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX"])
def test_channel_order_is_intrinsic_as_listed(order):
    angles = [30.0, -50.0, 70.0]
    chans = " ".join(f"{a}rotation" for a in order)
    clip = parse_bvh(ONE_JOINT_END.format(channels=chans, values=" ".join(map(str, angles))))
    expected = Rotation.from_euler(order, angles, degrees=True).as_matrix()
    np.testing.assert_allclose(quat_to_matrix(clip.local_rotations()[0, 0]), expected, atol=1e-12)


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


# --------------------------------------------------------------------------- more cases
# Real rigs in detail, unit guesses, random-rotation and real-clip round trips, channel
# semantics, framerate snapping, exact messages for malformed text.

BANDAI1 = "Bandai-Namco-Research-Motiondataset-1/data"
BANDAI2 = "Bandai-Namco-Research-Motiondataset-2/data"


def _frames_line(path) -> int:
    with open(path, encoding="utf-8") as f:
        match = re.search(r"^\s*Frames:\s*(\d+)", f.read(), flags=re.M)
    return int(match.group(1))


def _world(clip: BvhClip, scale: float) -> dict[str, np.ndarray]:
    _, pos = clip.forward_kinematics(scale)
    return {name: pos[:, j] for j, name in enumerate(clip.names)}


def _random_smpl_motion(fps, frames=40, seed=0) -> Motion:
    rng = np.random.default_rng(seed)
    rot = axis_angle_to_quat(rng.normal(scale=0.8, size=(frames, 24, 3)))
    trans = np.cumsum(rng.normal(scale=0.02, size=(frames, 3)), axis=0) + [0.1, 0.9, -0.3]
    return Motion.from_frames(rot, trans, smpl_skeleton(), fps)


def test_real_rigs_fps_and_hierarchy(data_root):
    bandai = read_bvh(data_root / BANDAI1 / "dataset-1_bow_normal_001.bvh")
    assert bandai.fps == 30 and bandai.names[:3] == ("joint_Root", "Hips", "Spine")
    assert bandai.channels[1] == ("Xposition", "Yposition", "Zposition",
                                  "Zrotation", "Xrotation", "Yrotation")
    np.testing.assert_allclose(bandai.end_sites[bandai.names.index("Head")], [10, 0, 0])
    bandai2 = sorted((data_root / BANDAI2).glob("*.bvh"))[0]
    assert read_bvh(bandai2).num_frames == _frames_line(bandai2)


def test_cmu_bvh_hierarchy_and_units(data_root):
    clip = read_bvh(data_root / "cmu_bvh" / "02_01.bvh")
    assert len(clip.names) == 31 and len(clip.end_sites) == 5 + 2
    assert clip.channels[0][3:] == ("Zrotation", "Yrotation", "Xrotation")
    assert sum(map(len, clip.channels)) == 96 and clip.frame_time == pytest.approx(0.008333)
    np.testing.assert_allclose(clip.offsets[clip.names.index("LeftUpLeg")],
                               [1.36306, -1.79463, 0.83929])


def test_guess_unit_scale_on_real_rigs(data_root):
    bandai = read_bvh(data_root / BANDAI1 / "dataset-1_bow_active_001.bvh")  # hips OFFSET z = -452
    assert guess_unit_scale(bandai) == (0.01, "centimetres")
    for name in ("02_01.bvh", "05_06.bvh"):
        assert guess_unit_scale(read_bvh(data_root / "cmu_bvh" / name)) == (0.056444, "cmu_asf")
    for path in sorted((data_root / "ReActIdle").glob("*/*.bvh"))[:5]:
        assert guess_unit_scale(read_bvh(path)) == (1.0, "metres")


def test_guess_unit_scale_follows_the_numbers():
    motion = _random_smpl_motion(30, frames=2)
    text = bvh_text(motion)
    assert guess_unit_scale(parse_bvh(text)) == (1.0, "metres")
    mm = re.sub(r"OFFSET (\S+) (\S+) (\S+)",
                lambda m: "OFFSET " + " ".join(f"{float(v) * 1000:.3f}" for v in m.groups()),
                text)
    assert guess_unit_scale(parse_bvh(mm)) == (0.001, "millimetres")


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fps", [30, 29.97, 120])
def test_smpl_motion_round_trip(tmp_path, fps):
    motion = _random_smpl_motion(fps)
    path = tmp_path / "m.bvh"
    write_bvh(path, motion)
    clip = read_bvh(path)
    assert clip.fps == motion.fps and clip.num_frames == motion.num_frames
    # the unit guess must say metres; the file lists joints depth first, SMPL does not
    back = motion_from_clip(clip, scale=None).reordered(motion.skeleton.names)
    np.testing.assert_allclose(back.skeleton.offsets, motion.skeleton.offsets, atol=1e-6)
    np.testing.assert_allclose(back.joint_positions(), motion.joint_positions(), atol=1e-4)
    dots = np.abs(np.sum(back.rotations * motion.rotations, axis=-1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-8)
    np.testing.assert_allclose(back.times, motion.times, atol=1e-9)


def test_write_refuses_irregular_motion_and_bad_names():
    motion = _random_smpl_motion(30, frames=5)
    irregular = motion.sample(np.array([0.0, 0.01, 0.05, 0.1]))
    with pytest.raises(ValueError, match="at_fps"):
        bvh_text(irregular)
    with pytest.raises(ValueError, match="permutation of XYZ"):
        bvh_text(motion, rotation_order="XXY")
    spaced = motion.skeleton.__class__(("left hip",) + motion.skeleton.names[1:],
                                       motion.skeleton.parents, motion.skeleton.offsets)
    bad = Motion.from_frames(motion.rotations, motion.root_translation, spaced, 30)
    with pytest.raises(BVHError, match="rename"):
        bvh_text(bad)


@pytest.mark.parametrize("order", ["XYZ", "YZX", "ZYX"])
def test_round_trip_in_other_rotation_orders(order):
    motion = _random_smpl_motion(60, frames=10, seed=3)
    clip = parse_bvh(bvh_text(motion, rotation_order=order))
    assert clip.channels[1] == tuple(f"{a}rotation" for a in order)
    back = motion_from_clip(clip, scale=1.0)
    order_idx = [back.skeleton.index(n) for n in motion.skeleton.names]
    np.testing.assert_allclose(back.joint_positions()[:, order_idx], motion.joint_positions(),
                               atol=1e-4)


@pytest.mark.parametrize("name", ["dataset-1_bow_normal_001.bvh",   # static joint_Root
                                  "dataset-1_dash_normal_001.bvh"])  # joint_Root slides on Z
def test_bandai_clip_round_trip(data_root, name):
    clip = read_bvh(data_root / BANDAI1 / name)
    motion = motion_from_clip(clip)  # centimetres guessed
    assert motion.skeleton.names[0] == "Hips" and len(motion.skeleton) == len(clip.names) - 1
    assert motion.fps == 30 and motion.num_frames == clip.num_frames
    source = _world(clip, 0.01)
    ours = motion.joint_positions()
    for j, joint in enumerate(motion.skeleton.names):
        np.testing.assert_allclose(ours[:, j], source[joint], atol=1e-6)
    again = _world(parse_bvh(bvh_text(motion)), 1.0)
    for joint in motion.skeleton.names:
        np.testing.assert_allclose(again[joint], source[joint], atol=1e-4)
    # the rest pose stands where the file's rest pose is (root offset = rest position)
    np.testing.assert_allclose(motion.skeleton.rest_positions()[0],
                               clip.rest_positions(0.01)[1], atol=1e-9)


def test_cmu_bvh_round_trip(data_root):
    clip = read_bvh(data_root / "cmu_bvh" / "05_06.bvh")
    motion = motion_from_clip(clip)
    assert motion.skeleton.names[0] == "Hips" and motion.fps == 120
    again = _world(parse_bvh(bvh_text(motion)), 1.0)
    for joint, pos in _world(clip, 0.056444).items():
        np.testing.assert_allclose(again[joint], pos, atol=1e-4)


def test_motion_from_clip_refuses_moving_joint_positions(data_root):
    path = sorted((data_root / "ReActIdle" / "acted").glob("*.bvh"))[0]
    with pytest.raises(BVHError, match=r"'thigh\.[LR]' has position channels that move"):
        motion_from_clip(read_bvh(path))


# --------------------------------------------------------------------------- channel semantics

ONE_JOINT_END = """HIERARCHY
ROOT a
{{
  OFFSET 0 0 0
  CHANNELS 3 {channels}
  End Site
  {{
    OFFSET 1 0 0
  }}
}}
MOTION
Frames: 1
Frame Time: 0.1
{values}
"""

TWO_JOINTS_END = """HIERARCHY
ROOT a
{{
  OFFSET 0 0 0
  CHANNELS 3 {channels}
  JOINT b
  {{
    OFFSET 1 0 0
    CHANNELS 0
    End Site
    {{
      OFFSET 0 0 1
    }}
  }}
}}
MOTION
Frames: 1
Frame Time: 0.1
{values}
"""


def test_zxy_quarter_turn_about_z_takes_x_to_y():
    clip = parse_bvh(TWO_JOINTS_END.format(channels="Zrotation Xrotation Yrotation",
                                       values="90 0 0"))
    _, pos = clip.forward_kinematics()
    np.testing.assert_allclose(pos[0, 1], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(clip.local_rotations()[0, 1], [1, 0, 0, 0])  # no channels


def test_two_axis_case_by_hand():
    # Z 90 then (intrinsic) X 90: the local x axis goes to +Y, then turning about the new
    # x axis takes local y (now -X) to +Z: R = Rz(90) Rx(90).
    clip = parse_bvh(ONE_JOINT_END.format(channels="Zrotation Xrotation Yrotation",
                                      values="90 90 0"))
    r = quat_to_matrix(clip.local_rotations()[0, 0])
    np.testing.assert_allclose(r, [[0, 0, 1], [1, 0, 0], [0, 1, 0]], atol=1e-12)


def test_position_channels_replace_the_offset_axis_by_axis():
    text = """HIERARCHY
ROOT r
{
  OFFSET 5 5 5
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT c
  {
    OFFSET 1 2 3
    CHANNELS 2 Yposition Xrotation
    End Site
    {
      OFFSET 0 1 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
0.5 0 -1 0 0 0 7 0
0.5 0 -1 0 0 0 9 90
"""
    clip = parse_bvh(text)
    trans = clip.local_translations()
    np.testing.assert_allclose(trans[:, 0], [[0.5, 0, -1], [0.5, 0, -1]])
    np.testing.assert_allclose(trans[:, 1], [[1, 7, 3], [1, 9, 3]])
    np.testing.assert_allclose(clip.rest_positions(), [[5, 5, 5], [6, 7, 8]])
    _, pos = clip.forward_kinematics(scale=2.0)
    np.testing.assert_allclose(pos[1, 1], [3, 18, 4])
    assert clip.fps == 2
    # c moves and is the root's only child: the root is folded into it
    motion = motion_from_clip(clip, scale=2.0)
    assert motion.skeleton.names == ("c",)
    np.testing.assert_allclose(motion.root_translation, pos[:, 1])
    np.testing.assert_allclose(quat_to_matrix(motion.rotations[:, 0]),
                               clip.forward_kinematics()[0][:, 1], atol=1e-12)
    # with a second child under the root there is nothing to fold into: refused
    two = text.replace("  JOINT c", "  JOINT d\n  {\n    OFFSET 0 0 1\n    End Site\n"
                       "    {\n      OFFSET 0 0 1\n    }\n  }\n  JOINT c")
    with pytest.raises(BVHError, match="'c' has position channels that move"):
        motion_from_clip(parse_bvh(two), scale=1.0)


@pytest.mark.parametrize("frame_time, fps", [
    ("0.0333333", 30), ("0.008333", 120), ("0.041667", 24), ("0.0333667", Fraction(30000, 1001)),
    ("0.04", 25), ("0.0417083", Fraction(24000, 1001)), ("0.016667", 60)])
def test_fps_snaps_to_whole_and_ntsc_rates(frame_time, fps):
    clip = parse_bvh(ONE_JOINT_END.format(channels="Xrotation Yrotation Zrotation", values="0 0 0")
                     .replace("Frame Time: 0.1", f"Frame Time: {frame_time}"))
    assert clip.fps == fps


def test_tolerates_what_real_files_do():
    text = ("HIERARCHY\r\nROOT\tHips \r\n{\r\n\tOFFSET\t0 0 0  \r\n"
            "\tCHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation \r\n"
            "\tJOINT Spine\r\n\t{\r\n\t\tOFFSET 0 1 0\r\n\t\tCHANNELS 3 Zrotation Yrotation "
            "Xrotation\r\n\t\tEnd Site\r\n\t\t{\r\n\t\t\tOFFSET 0 0.5 0\r\n\t\t}\r\n\t}\r\n"
            "\tJOINT Leg\r\n\t{\r\n\t\tOFFSET 0.2 -1 0\r\n\t\tEnd Site\r\n\t\t{\r\n"
            "\t\t\tOFFSET 0 -1 0\r\n\t\t}\r\n\t}\r\n}\r\nMOTION\r\nFrames:\t3\r\n"
            "Frame Time:\t0.008333\r\n"
            "1 2 3 0 0 0\t0 0 0 \r\n"
            "4 5 6 \t 10 20 30 40 50 60\r\n"
            "7 8 9 0 0 0\r\n 1 1 1\r\n"          # one frame's values wrapped onto two lines
            "\r\n\r\n   \r\n")
    clip = parse_bvh(text, "tabs.bvh")
    assert clip.names == ("Hips", "Spine", "Leg") and clip.parents == (-1, 0, 0)
    assert clip.channels[2] == () and clip.fps == 120
    np.testing.assert_allclose(clip.frames[:, 0], [1, 4, 7])
    np.testing.assert_allclose(clip.frames[2, 6:], [1, 1, 1])
    np.testing.assert_allclose(clip.end_sites[1], [0, 0.5, 0])


# --------------------------------------------------------------------------- malformed files

GOOD = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
0 90 0 0 0 0 1 2 3
0 91 0 0 0 0 1 2 3
0 92 0 0 0 0 1 2 3
"""


def test_good_text_parses():
    clip = parse_bvh(GOOD)
    assert clip.frames.shape == (3, 9) and clip.fps == 30


@pytest.mark.parametrize("old, new, message", [
    ("0 92 0 0 0 0 1 2 3\n", "", r"truncated: Frames says 3 but only 2 frame lines"),
    ("0 92 0 0 0 0 1 2 3\n", "0 92 0 0", r"truncated: the last frame line \(21\) has 4 of 9"),
    ("0 91 0 0 0 0 1 2 3", "0 91 0 0 0 0 1 2", r"line 20: 8 values, expected 9"),
    ("0 91 0 0 0 0 1 2 3", "0 91 0 0 0 0 1 2 3 4", r"line 20: 10 values, expected 9"),
    ("0 91 0 0 0 0 1 2 3", "0 91 0 nan 0 0 1 2 3", r"line 20, frame 2, value 4: nan"),
    ("0 91 0 0 0 0 1 2 3", "0 91 0 0 0 0 1 inf 3", r"line 20, frame 2, value 8: inf"),
    ("0 91 0 0 0 0 1 2 3", "0 91 0 0 x7 0 1 2 3", r"line 20: 'x7' is not a number"),
    ("Frames: 3", "Frames: 2", r"line 21: more frame lines than Frames \(2\)"),
    ("CHANNELS 3 Zrotation", "CHANNELS 4 Zrotation", r"line 10: Spine: 'End' is not a channel"),
    ("CHANNELS 3 Zrotation", "CHANNELS 2 Zrotation", r"line 9: unexpected 'Yrotation' inside"),
    ("Xrotation Yrotation\n    End", "Xrotation Wrotation\n    End",
     r"line 9: Spine: 'Wrotation' is not a channel name"),
    ("JOINT Spine", "JOINT Hips", r"line 6: joint name 'Hips' appears twice"),
    ("MOTION\n", "", r"no MOTION section"),
    ("HIERARCHY\n", "", r"line 1: expected 'HIERARCHY', found 'ROOT'"),
    ("Frame Time: 0.0333333", "Frame Time: -0.0333333", r"Frame Time must be a positive"),
    ("Frame Time: 0.0333333", "Frame Time: 0", r"Frame Time must be a positive"),
    ("Frame Time: 0.0333333", "Frame Time: nan", r"Frame Time must be a positive"),
    ("Frame Time: 0.0333333", "Frame Tme: 0.03", r"line 18: expected 'Frame Time:'"),
    ("Frame Time: 0.0333333", "Frame Time: fast", r"line 18: bad Frame Time value 'fast'"),
    ("Frames: 3", "Frames: 2.5", r"Frames must be a positive whole number, got 2.5"),
    ("Frames: 3", "Frames: nan", r"Frames must be a positive whole number"),
    ("Frames: 3", "Frames:", r"line 17: bad Frames value ''"),
    ("Frames: 3\nFrame Time: 0.0333333\n", "Frames: 3\n", r"line 18: expected 'Frame Time:'"),
    ("Frames: 3", "Frames: 2000000", r"over 10,000,000 values"),
    ("    }\n  }\n}", "    }\n  }\n", r"file ends where '\}' closing Hips was expected"),
    ("    }\n  }\n}", "    }\n  }\n}\n}", r"line 16: unexpected '\}' after the root joint"),
    ("    End Site", "    End Sight", r"line 10: expected 'Site', found 'Sight'"),
    ("  JOINT Spine", "  BONE Spine", r"line 6: unexpected 'BONE' inside joint Hips"),
    ("OFFSET 0 10 0", "OFFSET 0 ten 0", r"line 8: expected a number for Spine OFFSET"),
])
def test_malformed_text_raises_bvh_error(old, new, message):
    assert old in GOOD
    with pytest.raises(BVHError, match=message) as info:
        parse_bvh(GOOD.replace(old, new, 1), "bad.bvh")
    assert str(info.value).startswith("bad.bvh")


def test_empty_and_unreadable_files(tmp_path):
    for text in ("", "  \n\n\t\n"):
        with pytest.raises(BVHError, match="empty file"):
            parse_bvh(text)
    with pytest.raises(BVHError, match="cannot read"):
        read_bvh(tmp_path / "missing.bvh")
    path = tmp_path / "cut.bvh"
    path.write_text(GOOD[:GOOD.index("0 91")])
    with pytest.raises(BVHError, match=r"cut\.bvh: truncated: Frames says 3 but only 1"):
        read_bvh(path)


# ---------------------------------------------------------------- limits and encodings

def _chain(depth: int) -> str:
    lines = ["HIERARCHY", "ROOT j0", "{", "OFFSET 0 0 0", "CHANNELS 3 Xposition Yposition "
             "Zposition"]
    for i in range(1, depth):
        lines += [f"JOINT j{i}", "{", "OFFSET 0 1 0", "CHANNELS 0"]
    lines += ["}"] * depth + ["MOTION", "Frames: 1", "Frame Time: 0.04", "0 0 0"]
    return "\n".join(lines)


def test_depth_limit_is_explicit():
    from motionfield.io.bvh import MAX_DEPTH

    assert len(parse_bvh(_chain(MAX_DEPTH)).names) == MAX_DEPTH
    for depth in (MAX_DEPTH + 1, 10_000):
        with pytest.raises(BVHError, match=rf"^deep\.bvh: line \d+: joints nested more than "
                                           rf"{MAX_DEPTH} deep"):
            parse_bvh(_chain(depth), "deep.bvh")


@pytest.mark.parametrize("old,new,message", [
    ("OFFSET 0 1 0", "OFFSET 0 1e308 0", r"j1 OFFSET is 1e308, beyond the plausible limit"),
    ("0.04\n0 0 0", "0.04\n0 -2e6 0", r"frame 1, value 2: -2000000.0 \(NaN, infinite or beyond"),
    ("Frame Time: 0.04", "Frame Time: 1e-300", r"Frame Time must be .* got 1e-300"),
    ("Frame Time: 0.04", "Frame Time: 1e300", r"Frame Time must be .* got 1e\+300"),
])
def test_implausible_values_are_refused_naming_the_file(old, new, message):
    text = _chain(3) + "\n"
    assert old in text
    with pytest.raises(BVHError, match=rf"^take\.bvh: .*{message}"):
        parse_bvh(text.replace(old, new, 1), "take.bvh")


@pytest.mark.parametrize("encode", [
    lambda t: b"\xef\xbb\xbf" + t.encode(), lambda t: t.encode("utf-16"),
    lambda t: b"\xfe\xff" + t.encode("utf-16-be"), lambda t: t.encode("utf-16-le"),
    lambda t: t.encode("utf-32"), lambda t: t.replace("\n", "\r\n").encode("utf-16")],
    ids=["utf8-bom", "utf16-le-bom", "utf16-be-bom", "utf16-no-bom", "utf32", "utf16-crlf"])
def test_boms_and_utf16_are_read(tmp_path, encode):
    text = _chain(4)
    (tmp_path / "enc.bvh").write_bytes(encode(text))
    clip = read_bvh(tmp_path / "enc.bvh")
    assert clip.names == ("j0", "j1", "j2", "j3") and clip.num_frames == 1


def test_binary_and_broken_encodings_are_refused_naming_the_file(tmp_path):
    from motionfield.io.bvh import decode_bvh

    assert decode_bvh("ROOT H\xe9".encode("latin-1")) == "ROOT H\xe9"  # legacy code page
    for data, message in ((bytes(64), "binary data"), (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
                          (b"\xff\xfeH\x00\x00\xd8", "not valid UTF-16")):
        (tmp_path / "odd.bvh").write_bytes(data)
        with pytest.raises(BVHError, match=rf"^odd\.bvh: .*{message}"):
            read_bvh(tmp_path / "odd.bvh")


def test_write_bvh_writes_exactly_its_path_even_for_deep_skeletons(tmp_path):
    from motionfield.body.skeleton import Skeleton

    joints = 3_000  # deeper than Python's recursion limit: the writer uses a stack
    skel = Skeleton(tuple(f"j{i}" for i in range(joints)), tuple(range(-1, joints - 1)),
                    np.tile([0.0, 0.01, 0.0], (joints, 1)))
    q = np.zeros((2, joints, 4))
    q[..., 0] = 1.0
    target = tmp_path / "deep.BVH"
    assert write_bvh(target, Motion.from_frames(q, np.zeros((2, 3)), skel, 30)) == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.BVH"]
    text = target.read_text()
    assert text.count("JOINT") == joints - 1 and text.count("}") == joints + 1
