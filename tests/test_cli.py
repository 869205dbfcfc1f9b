"""The `motionfield` command: the main job end to end, and clear failures."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from motionfield.cli import main
from motionfield.io.bvh import read_bvh
from motionfield.motion import Motion


def test_convert_to_npz_at_ntsc_rate(data_root, tmp_path, capsys):
    src = data_root / "cmu_bvh" / "02_01.bvh"
    assert main(["convert", str(src), "--fps", "23.976", "--start", "0.5", "--end", "2",
                 "-o", str(tmp_path / "walk.npz")]) == 0
    out = capsys.readouterr().out
    assert "cmu_cgspeed" in out and "missing: spine2" in out and "retarget error" in out
    m = Motion.load(tmp_path / "walk.npz")
    assert m.fps == Fraction(24000, 1001)
    np.testing.assert_allclose(m.times - m.times[0], np.arange(m.num_frames) * 1001 / 24000)
    assert m.num_frames == 36  # 1.5 s at 23.976 fps, both ends included


def test_convert_to_bvh_and_back(data_root, tmp_path, capsys):
    src = data_root / "ReActIdle" / "genuine" / "003_genuine.bvh"
    assert main(["convert", str(src), "--fps", "30", "-o", str(tmp_path / "a.bvh"),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rig"] == "reactidle" and report["frames"] > 0
    clip = read_bvh(tmp_path / "a.bvh")
    assert clip.fps == 30 and clip.names[0] == "pelvis"
    assert main(["convert", str(tmp_path / "a.bvh"), "--fps", "30", "-o",
                 str(tmp_path / "b.npz"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["rig"] == "smpl" and again["error_mean_m"] < 1e-4


@pytest.mark.parametrize("content,args,message", [
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation", [], "truncated"),
    (None, ["--fps", "0"], "framerate"),
    (None, ["--fps", "abc"], "framerate"),
    (None, ["--start", "99"], "not inside"),
    (None, ["--fps", "1e9"], "more than one job returns"),  # checked before allocating
])
def test_convert_failures_exit_2_with_a_message(data_root, tmp_path, capsys, content, args,
                                                message):
    src = tmp_path / "in.bvh"
    src.write_text(content if content else (data_root / "cmu_bvh" / "02_01.bvh").read_text())
    argv = ["convert", str(src), "--fps", "30", "-o", str(tmp_path / "o.npz"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("motionfield: error:") and message in err
    assert not (tmp_path / "o.npz").exists()  # nothing half-written


def test_unknown_rig_exits_2(tmp_path, capsys):
    from rigs_synth import smooth_motion, synth_bvh

    text = synth_bvh(smooth_motion(frames=5), [f"bone{i}" for i in range(24)], 1.0, "ZXY")
    (tmp_path / "odd.bvh").write_text(text)
    assert main(["convert", str(tmp_path / "odd.bvh"), "--fps", "30", "-o",
                 str(tmp_path / "o.npz")]) == 2
    assert "unknown rig" in capsys.readouterr().err


def test_wrong_output_extension(data_root, tmp_path, capsys):
    assert main(["convert", str(data_root / "cmu_bvh" / "02_01.bvh"), "--fps", "30", "-o",
                 str(tmp_path / "o.fbx")]) == 2
    assert ".npz or .bvh" in capsys.readouterr().err


def test_console_script_runs(data_root, tmp_path):
    done = subprocess.run([sys.executable, "-m", "motionfield.cli", "rig", "show",
                           str(data_root / "cmu_bvh" / "02_01.bvh")], capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout)["joints"]["left_shoulder"] == "LeftArm"


# --------------------------------------------------------------------------- outputs (issue 32)


def test_convert_never_writes_over_its_input(data_root, tmp_path, capsys):
    src = tmp_path / "take.bvh"
    src.write_bytes((data_root / "cmu_bvh" / "02_01.bvh").read_bytes())
    before = src.read_bytes()
    for output in (src, tmp_path / "." / "take.bvh"):
        assert main(["convert", str(src), "--fps", "30", "-o", str(output), "--force"]) == 2
        assert "over the input" in capsys.readouterr().err
    link = tmp_path / "link.bvh"
    link.symlink_to(src)
    assert main(["convert", str(src), "--fps", "30", "-o", str(link), "--force"]) == 2
    assert src.read_bytes() == before


def test_convert_needs_force_to_overwrite(data_root, tmp_path, capsys):
    src = str(data_root / "cmu_bvh" / "02_01.bvh")
    out = tmp_path / "o.npz"
    out.write_bytes(b"keep me")
    assert main(["convert", src, "--fps", "30", "--end", "0.5", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["convert", src, "--fps", "30", "--end", "0.5", "-o", str(out),
                 "--force"]) == 0
    assert Motion.load(out).num_frames == 16


def test_the_suffix_written_is_the_one_reported(data_root, tmp_path, capsys):
    out = tmp_path / "o.NPZ"
    assert main(["convert", str(data_root / "cmu_bvh" / "02_01.bvh"), "--fps", "30",
                 "--end", "0.5", "-o", str(out)]) == 0
    assert f"-> {out}:" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["o.NPZ"]
    assert Motion.load(out).num_frames == 16


def test_rig_calibrate_checks_its_output(data_root, tmp_path, capsys):
    src = str(data_root / "cmu_bvh" / "02_01.bvh")
    out = tmp_path / "rig.json"
    assert main(["rig", "calibrate", src, "--frame", "0", "-o", str(out)]) == 0
    first = out.read_text()
    assert main(["rig", "calibrate", src, "--frame", "1", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_text() == first
    assert main(["rig", "calibrate", src, "--frame", "1", "-o", str(out), "--force"]) == 0
    assert out.read_text() != first
    assert main(["rig", "calibrate", src, "--frame", "1", "-o", str(tmp_path / "r.txt")]) == 2
    assert ".json" in capsys.readouterr().err
