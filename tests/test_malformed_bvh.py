"""A corpus of malformed BVH files, generated here from one small valid file, through
`motionfield convert`: every bad file ends in exactly one line on stderr that names the file
(exit code 2, no traceback); every valid variant (BOM, UTF-16, CRLF, tabs...) converts."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from motionfield import cli
from motionfield.io.bvh import MAX_DEPTH, MAX_JOINTS
from motionfield.motion import Motion

from rigs_synth import MIXAMO, names_for, smooth_motion, synth_bvh

FRAMES = 4


def _base() -> str:
    """A valid 24-joint Mixamo-named BVH in centimetres, spaces and LF line ends."""
    text = synth_bvh(smooth_motion(frames=FRAMES), names_for(MIXAMO), 0.01, "ZYX")
    return text.replace("\r\n", "\n").replace("\t", "  ")


BASE = _base()
LINES = BASE.splitlines(keepends=True)
MOTION_LINE = LINES.index("MOTION\n")
FIRST_FRAME = MOTION_LINE + 3


def _sub(pattern: str, new: str, count: int = 1) -> str:
    out, done = re.subn(pattern, new, BASE, count=count, flags=re.M)
    assert done, pattern  # the corpus must really change the file
    return out


def _frame_line(k: int, new: str) -> str:
    return "".join(LINES[:FIRST_FRAME + k]) + new + "".join(LINES[FIRST_FRAME + k + 1:])


def _deep(depth: int) -> str:
    lines = ["HIERARCHY", "ROOT j0", "{", "OFFSET 0 0 0",
             "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"]
    for i in range(1, depth):
        lines += [f"JOINT j{i}", "{", "OFFSET 0 1 0", "CHANNELS 0"]
    lines += ["}"] * depth + ["MOTION", "Frames: 1", "Frame Time: 0.033", "0 0 0 0 0 0"]
    return "\n".join(lines) + "\n"


def _flat(joints: int) -> str:
    lines = ["HIERARCHY", "ROOT j0", "{", "OFFSET 0 0 0", "CHANNELS 3 Xposition Yposition "
             "Zposition"]
    for i in range(1, joints):
        lines += [f"JOINT j{i}", "{", "OFFSET 0 1 0", "End Site", "{", "OFFSET 0 1 0", "}", "}"]
    lines += ["}", "MOTION", "Frames: 1", "Frame Time: 0.033", "0 0 0"]
    return "\n".join(lines) + "\n"


def _bad_corpus() -> dict[str, bytes | str]:
    rng = np.random.default_rng(7)
    bad: dict[str, bytes | str] = {}
    # truncated: whole lines dropped from every section onwards, and cuts inside tokens
    for k in sorted({1, 2, 3, 4, 5, 6, 7, 10, 30, 60, 100, MOTION_LINE - 1, MOTION_LINE,
                     MOTION_LINE + 1, MOTION_LINE + 2, FIRST_FRAME, FIRST_FRAME + 1,
                     FIRST_FRAME + FRAMES - 1}):
        bad[f"cut_line_{k}"] = "".join(LINES[:k])
    for where in ("OFFSET", "CHANNELS", "End Site", "Frame Time"):
        at = BASE.index(where) + len(where) // 2
        bad[f"cut_inside_{where.replace(' ', '_')}"] = BASE[:at]
    bad["cut_mid_last_frame"] = BASE[: len(BASE) - len(LINES[-1]) // 2]
    # bad numbers
    bad["offset_word"] = _sub(r"OFFSET (\S+)", "OFFSET abc")
    bad["offset_two_numbers"] = _sub(r"OFFSET (\S+) (\S+) (\S+)", r"OFFSET \1 \2")
    bad["offset_nan"] = _sub(r"OFFSET (\S+)", "OFFSET nan")
    bad["offset_1e308"] = _sub(r"OFFSET (\S+)", "OFFSET 1e308")
    bad["offset_overflow"] = _sub(r"OFFSET (\S+)", "OFFSET 1e999")
    bad["end_site_short"] = _sub(r"(End Site\n\s*\{\n\s*OFFSET) \S+ \S+ \S+", r"\1 0 0")
    bad["value_word"] = _frame_line(1, "x " + LINES[FIRST_FRAME + 1].split(" ", 1)[1])
    bad["value_double_dot"] = _frame_line(0, "1.2.3 " + LINES[FIRST_FRAME].split(" ", 1)[1])
    bad["value_hex"] = _frame_line(2, "0x10 " + LINES[FIRST_FRAME + 2].split(" ", 1)[1])
    for token in ("nan", "inf", "-inf", "1e308", "5e6", "1e400"):
        rest = LINES[FIRST_FRAME + 1].split(" ", 1)[1]
        bad[f"value_{token}"] = _frame_line(1, f"{token} {rest}")
    # channels
    bad["channels_7"] = _sub(r"CHANNELS 3 ", "CHANNELS 7 ")
    bad["channels_negative"] = _sub(r"CHANNELS 3 ", "CHANNELS -1 ")
    bad["channels_fraction"] = _sub(r"CHANNELS 3 ", "CHANNELS 2.5 ")
    bad["channels_word"] = _sub(r"CHANNELS 3 ", "CHANNELS three ")
    bad["channels_count_low"] = _sub(r"CHANNELS 3 ", "CHANNELS 2 ")
    bad["channels_count_high"] = _sub(r"CHANNELS 3 ", "CHANNELS 4 ")
    bad["channel_unknown"] = _sub(r"Zrotation", "Wrotation")
    bad["channel_twice"] = _sub(r"CHANNELS 3 (\S+) (\S+) (\S+)", r"CHANNELS 3 \1 \1 \3")
    # structure
    bad["no_motion_word"] = "".join(LINES[:MOTION_LINE] + LINES[MOTION_LINE + 1:])
    bad["motion_twice_misplaced"] = BASE.replace("HIERARCHY\n", "HIERARCHY\nMOTION\n", 1)
    bad["no_hierarchy_word"] = BASE.replace("HIERARCHY\n", "", 1)
    bad["no_root"] = BASE.replace("ROOT ", "JOINT ", 1)
    bad["second_root"] = BASE.replace("MOTION\n", "ROOT Extra\n{\nOFFSET 0 0 0\n}\nMOTION\n")
    bad["extra_brace"] = BASE.replace("MOTION\n", "}\nMOTION\n")
    bad["missing_brace"] = _sub(r"^\}\n(?=MOTION)", "")
    bad["duplicate_joint"] = _sub(r"JOINT LeftLeg\b", "JOINT LeftUpLeg")
    bad["joint_without_name"] = _sub(r"JOINT LeftLeg\b", "JOINT")
    bad["deep_10000"] = _deep(10_000)
    bad["deep_over_limit"] = _deep(MAX_DEPTH + 1)
    bad["too_many_joints"] = _flat(MAX_JOINTS + 1)
    # MOTION header
    bad["no_frames_line"] = _sub(r"^Frames: \d+\n", "")
    bad["no_frame_time"] = _sub(r"^Frame Time: .*\n", "")
    for value in ("0", "-3", "2.5", "abc", "1e12"):
        bad[f"frames_{value}"] = _sub(r"^Frames: \d+", f"Frames: {value}")
    for value in ("0", "-0.033", "nan", "1e-300", "1e300", "0.00001", "11"):
        bad[f"frame_time_{value}"] = _sub(r"^Frame Time: .*", f"Frame Time: {value}")
    bad["frames_more_than_lines"] = _sub(r"^Frames: \d+", f"Frames: {FRAMES + 1}")
    bad["frames_fewer_than_lines"] = _sub(r"^Frames: \d+", f"Frames: {FRAMES - 1}")
    bad["values_missing_one"] = _frame_line(1, LINES[FIRST_FRAME + 1].rsplit(" ", 1)[0] + "\n")
    bad["values_one_extra"] = _frame_line(1, LINES[FIRST_FRAME + 1].rstrip("\n") + " 0\n")
    # meaning, not syntax
    bad["zero_offsets"] = re.sub(r"OFFSET( +\S+){3}", "OFFSET 0 0 0", BASE)
    bad["unknown_rig"] = re.sub(r"(JOINT|ROOT) (\S+)", lambda m: f"{m[1]} bone{m.start()}",
                                BASE)
    # not text, or nothing
    bad["empty"] = b""
    bad["blank_lines"] = "\n\n   \n\t\n"
    bad["binary_random"] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    bad["binary_zeros"] = bytes(1000)
    bad["png_header"] = b"\x89PNG\r\n\x1a\n" + bytes(200)
    bad["utf16_broken"] = b"\xff\xfe" + "HIERARCHY\n".encode("utf-16-le") + b"\x00\xd8"
    bad["utf8_junk_bytes"] = b"\xc3\x28\xa0\xa1" * 50
    return bad


def _valid_corpus() -> dict[str, bytes | str]:
    lower = BASE
    for word in ("HIERARCHY", "ROOT", "JOINT", "OFFSET", "CHANNELS", "End Site", "MOTION",
                 "Frames:", "Frame Time:"):
        lower = lower.replace(word, word.lower())
    return {
        "plain": BASE,
        "utf8_bom": "\ufeff".encode() + BASE.encode(),
        "utf16_le_bom": BASE.encode("utf-16"),
        "utf16_be_bom": b"\xfe\xff" + BASE.encode("utf-16-be"),
        "utf16_le_no_bom": BASE.encode("utf-16-le"),
        "utf16_be_no_bom_leading_blank_line": ("\n" + BASE).encode("utf-16-be"),
        "utf32_bom": BASE.encode("utf-32"),
        "crlf": BASE.replace("\n", "\r\n"),
        "cr_only": BASE.replace("\n", "\r"),
        "tabs": BASE.replace("  ", "\t"),
        "blank_lines_everywhere": BASE.replace("\n", "\n\n"),
        "trailing_spaces": BASE.replace("\n", "   \n"),
        "no_final_newline": BASE.rstrip("\n"),
        "lower_case_keywords": lower,
        "frame_values_wrapped": _frame_line(0, LINES[FIRST_FRAME].replace(" ", "\n", 3)),
        "plus_signs": _frame_line(0, re.sub(r"(^| )(\d)", r"\1+\2", LINES[FIRST_FRAME])),
        "latin1_comment_free_name": BASE.replace("HandMiddle1", "HandMiddle1\xe9").encode(
            "latin-1"),
    }


BAD = _bad_corpus()
VALID = _valid_corpus()


def _write(folder, name: str, content: bytes | str):
    path = folder / f"{name}.bvh"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_the_corpus_is_large_enough():
    assert len(BAD) >= 60 and len(VALID) >= 10
    assert len(set(map(bytes.__hash__, (c if isinstance(c, bytes) else c.encode()
                                        for c in BAD.values())))) == len(BAD)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_gives_one_line_naming_it(tmp_path, capsys, name):
    path = _write(tmp_path, name, BAD[name])
    out = tmp_path / "out.npz"
    code = cli.main(["convert", str(path), "--fps", "30", "-o", str(out)])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1 and lines[0].startswith("motionfield: error: "), captured.err
    assert f"{name}.bvh" in lines[0], lines[0]
    assert not out.exists()


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_variant_converts(tmp_path, capsys, name):
    path = _write(tmp_path, name, VALID[name])
    out = tmp_path / "out.npz"
    code = cli.main(["convert", str(path), "--fps", "30", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    motion = Motion.load(out)
    assert motion.num_frames == FRAMES and np.isfinite(motion.rotations).all()


def test_valid_variants_read_the_same_values(tmp_path):
    from motionfield.io.bvh import read_bvh

    plain = read_bvh(_write(tmp_path, "plain", BASE))
    for name, content in VALID.items():
        clip = read_bvh(_write(tmp_path, name, content))
        np.testing.assert_array_equal(clip.frames, plain.frames, err_msg=name)
        np.testing.assert_array_equal(clip.offsets, plain.offsets, err_msg=name)


def test_negative_reference_frame_is_refused(tmp_path, capsys):
    path = _write(tmp_path, "take", BASE)
    code = cli.main(["convert", str(path), "--fps", "30", "--reference-frame", "-5",
                     "-o", str(tmp_path / "out.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "take.bvh" in err[0] and "-5" in err[0], err


@pytest.mark.parametrize("name", ["deep_10000", "binary_random", "frame_time_1e300",
                                  "zero_offsets", "empty"])
def test_a_real_process_exits_2_without_traceback(tmp_path, name):
    path = _write(tmp_path, name, BAD[name])
    run = subprocess.run([sys.executable, "-m", "motionfield.cli", "convert", str(path),
                          "--fps", "30", "-o", str(tmp_path / "out.npz")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert f"{name}.bvh" in run.stderr
