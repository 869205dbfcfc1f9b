"""Atomic output files: a writer killed with SIGKILL at any moment leaves the target absent,
the old file, or the whole new file, never a part; outputs never overwrite their input."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from motionfield.errors import MotionfieldError
from motionfield.io.atomic import (
    TEMP_SUFFIX,
    atomic_writer,
    check_output,
    write_bytes_atomic,
    write_text_atomic,
)
from motionfield.io.bvh import read_bvh
from motionfield.motion import Motion

# A child that builds a motion of `frames` frames, says "ready", then writes it over and
# over at the target until killed. "plain" writes with np.savez straight to the target (how
# Motion.save once wrote): the control that shows the test can see a partial file.
WRITER = r"""
import sys
import numpy as np
from motionfield.body.skeleton import smpl_skeleton
from motionfield.io.bvh import write_bvh
from motionfield.motion import Motion

target, kind, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = np.zeros((frames, 24, 4))
q[..., 0] = 1.0
motion = Motion.from_frames(q, np.zeros((frames, 3)), smpl_skeleton(), 30)
print("ready", flush=True)
while True:
    if kind == "npz":
        motion.save(target)
    elif kind == "bvh":
        write_bvh(target, motion)
    else:
        np.savez(open(target, "wb"), rotations=motion.rotations, times=motion.times)
"""
FRAMES = {"npz": 30_000, "bvh": 3_000, "plain": 30_000}


def _kill_while_writing(target, kind: str, delay: float) -> None:
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(target), kind,
                              str(FRAMES[kind])], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()


def _complete(target, kind: str) -> bool:
    """Whether the file at target is a whole output (or a whole earlier one)."""
    try:
        if kind == "bvh":
            return read_bvh(target).num_frames in (FRAMES["bvh"], 1)
        if kind == "npz":
            return Motion.load(target).num_frames in (FRAMES["npz"], 1)
        with np.load(target) as z:
            return z["rotations"].shape == (FRAMES["plain"], 24, 4) and len(z["times"]) > 0
    except Exception:
        return False


def _old_file(target, kind: str) -> None:
    """A previous output (one frame) at the target, which a kill must never damage."""
    q = np.zeros((1, 24, 4))
    q[..., 0] = 1.0
    from motionfield.body.skeleton import smpl_skeleton
    from motionfield.io.bvh import write_bvh

    motion = Motion.from_frames(q, np.zeros((1, 3)), smpl_skeleton(), 30)
    motion.save(target) if kind == "npz" else write_bvh(target, motion)


def test_sigkill_at_random_moments_never_leaves_a_partial_file(tmp_path):
    rng = np.random.default_rng(2026)
    outcomes = {"absent": 0, "complete": 0}
    for attempt in range(50):
        kind = ("npz", "bvh")[attempt % 2]
        target = tmp_path / f"out{attempt}.{kind}"
        if attempt % 4 >= 2:
            _old_file(target, kind)
        _kill_while_writing(target, kind, float(rng.uniform(0.0, 0.4)))
        if target.exists():
            assert _complete(target, kind), f"attempt {attempt}: partial {target.name}"
            outcomes["complete"] += 1
        else:
            outcomes["absent"] += 1
        leftovers = [p.name for p in tmp_path.iterdir()
                     if p.name.startswith(".") and not p.name.endswith(TEMP_SUFFIX)]
        assert not leftovers
    assert outcomes["complete"] >= 25, outcomes  # the kills did land after writes began


def test_the_kill_test_sees_a_plain_writers_partial_files(tmp_path):
    """Control: the same kills on a non-atomic writer leave broken files."""
    rng = np.random.default_rng(1)
    broken = 0
    for attempt in range(12):
        target = tmp_path / f"plain{attempt}.npz"
        _kill_while_writing(target, "plain", float(rng.uniform(0.2, 0.6)))
        broken += target.exists() and not _complete(target, "plain")
    assert broken > 0


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_writes_keep_the_target_name_and_mode(tmp_path):
    target = tmp_path / "Take.NPZ"
    assert write_bytes_atomic(target, b"abc") == target and target.read_bytes() == b"abc"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    os.chmod(target, 0o640)
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Take.NPZ"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_check_output_refuses_the_input_and_existing_files(tmp_path, monkeypatch):
    source = tmp_path / "walk.bvh"
    source.write_text("data")
    monkeypatch.chdir(tmp_path)
    for same in (source, "walk.bvh", tmp_path / "." / "walk.bvh"):
        with pytest.raises(MotionfieldError, match="over the input"):
            check_output(same, [source], force=True)
    (tmp_path / "link.bvh").symlink_to(source)
    with pytest.raises(MotionfieldError, match="over the input"):
        check_output(tmp_path / "link.bvh", [source], force=True)
    existing = tmp_path / "out.npz"
    existing.write_bytes(b"x")
    with pytest.raises(MotionfieldError, match="--force"):
        check_output(existing, [source])
    assert check_output(existing, [source], force=True) == existing
    assert check_output(tmp_path / "new.NPZ", [source], suffixes=(".npz", ".bvh")).name == \
        "new.NPZ"
    with pytest.raises(MotionfieldError, match="must end in"):
        check_output(tmp_path / "new.txt", [source], suffixes=(".npz", ".bvh"))
    with pytest.raises(MotionfieldError, match="folder"):
        check_output(tmp_path, [source], force=True)
    assert source.read_text() == "data"


def test_sigkill_during_the_convert_command(tmp_path):
    """The issue's case end to end: `motionfield convert ... -o OUT` killed at 50 seeded
    moments spread over its whole run (start-up, conversion, the write) leaves OUT absent or
    whole."""
    from rigs_synth import MIXAMO, names_for, smooth_motion, synth_bvh

    source = tmp_path / "walk.bvh"
    source.write_text(synth_bvh(smooth_motion(frames=2000), names_for(MIXAMO), 0.01, "ZYX"))

    def convert(target):
        return subprocess.Popen([sys.executable, "-m", "motionfield.cli", "convert",
                                 str(source), "--fps", "120", "-o", str(target)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    began = time.monotonic()
    assert convert(tmp_path / "whole.npz").wait(timeout=60) == 0
    full = time.monotonic() - began
    rng = np.random.default_rng(32)
    finished = 0
    for attempt in range(50):
        target = tmp_path / f"out{attempt}.npz"
        child = convert(target)
        time.sleep(float(rng.uniform(0.3, 1.05)) * full)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert not target.exists() or Motion.load(target).num_frames == 7997, attempt
        finished += target.exists()
    assert 0 < finished < 50, finished  # the kills fell before, during and after the write
