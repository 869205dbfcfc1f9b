"""Motion files (.npz): every malformed file is a ValueError naming it, sizes are checked from
the .npy headers before anything is decompressed, a stored fps must match the timestamps,
and `save` writes exactly the path it is given."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from motionfield.body.skeleton import smpl_skeleton
from motionfield.motion import MAX_FRAME_JOINTS, Motion


def _motion(frames: int = 5) -> Motion:
    rng = np.random.default_rng(0)
    q = rng.normal(size=(frames, 24, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return Motion.from_frames(q, rng.normal(size=(frames, 3)), smpl_skeleton(), "29.97")


def _arrays(tmp_path) -> dict[str, np.ndarray]:
    path = tmp_path / "good.npz"
    _motion().save(path)
    with np.load(path) as z:
        return dict(z)


def _write(path, arrays: dict[str, np.ndarray]):
    np.savez(path, **arrays)
    return path


def _npy_member(shape: tuple[int, ...], dtype: str, body: bytes) -> bytes:
    """A .npy file whose header claims `shape` whatever the body holds."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    return out.getvalue() + body


def test_save_writes_exactly_the_given_path(tmp_path):
    for name in ("out.NPZ", "out.npz", "no_suffix"):
        written = _motion().save(tmp_path / name)
        assert written == tmp_path / name and (tmp_path / name).is_file()
        Motion.load(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no_suffix", "out.NPZ", "out.npz"]


def test_round_trip_keeps_everything(tmp_path):
    m = _motion()
    back = Motion.load(m.save(tmp_path / "m.npz"))
    assert back.fps == m.fps and back.skeleton == m.skeleton
    np.testing.assert_allclose(back.rotations, m.rotations, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(back.times, m.times)


@pytest.mark.parametrize("content", [b"", b"PK", b"\x00" * 100, b"hello, not a zip",
                                     b"PK\x03\x04" + b"\xff" * 60])
def test_junk_files_are_value_errors_naming_the_file(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="junk.npz"):
        Motion.load(path)


def test_truncated_archive_is_a_value_error(tmp_path):
    data = _motion(50).save(tmp_path / "m.npz").read_bytes()
    for cut in (10, len(data) // 3, len(data) // 2, len(data) - 30):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut.npz"):
            Motion.load(tmp_path / "cut.npz")


@pytest.mark.parametrize("change", [
    {"rotations": None},                                   # missing
    {"rotations": np.zeros((5, 24, 3))},                   # wrong last axis
    {"times": np.zeros((4,))},                             # frames disagree
    {"times": np.full(5, np.nan)},                         # NaN
    {"root_translation": np.full((5, 3), np.inf)},         # infinite
    {"joint_names": np.arange(24)},                        # names not text
    {"parents": np.full(24, 0.5)},                         # parents not integers
    {"parents": np.arange(24) + 5},                        # parents out of range
    {"fps": np.array([30, 0])},                            # zero denominator
    {"fps": np.array([-30, 1])},                           # negative
    {"format_version": np.array(99)},                      # from the future
    {"format_version": np.array("1")},                     # wrong type
    {"betas": np.zeros((2, 10))},                          # betas not (B,)
])
def test_wrong_arrays_are_value_errors(tmp_path, change):
    arrays = _arrays(tmp_path)
    for key, value in change.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    with pytest.raises(ValueError, match="bad.npz"):
        Motion.load(_write(tmp_path / "bad.npz", arrays))


def test_object_arrays_are_never_unpickled(tmp_path):
    arrays = _arrays(tmp_path)
    arrays["joint_names"] = np.array(list(arrays["joint_names"]), dtype=object)
    with pytest.raises(ValueError, match="evil.npz"):
        Motion.load(_write(tmp_path / "evil.npz", arrays))


def test_fps_must_agree_with_the_timestamps(tmp_path):
    arrays = _arrays(tmp_path)
    arrays["fps"] = np.array([60, 1])  # the times are 29.97 fps
    with pytest.raises(ValueError, match="contradicts the timestamps"):
        Motion.load(_write(tmp_path / "liar.npz", arrays))
    arrays["fps"] = np.array([0, 0])  # no nominal rate: any increasing times are fine
    assert Motion.load(_write(tmp_path / "free.npz", arrays)).fps is None


def test_sizes_are_checked_before_decompressing(tmp_path):
    """A 100 MB run of zeros compresses to ~100 KB; its header claims 3.8 GB. The loader
    must refuse from the header, allocating next to nothing."""
    arrays = _arrays(tmp_path)
    frames = MAX_FRAME_JOINTS // 24 * 5
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for key, value in arrays.items():
            if key not in ("rotations", "root_translation", "times"):
                z.writestr(f"{key}.npy", _npy_member(value.shape, value.dtype.str,
                                                     value.tobytes()))
        for key, shape in (("rotations", (frames, 24, 4)), ("root_translation", (frames, 3)),
                           ("times", (frames,))):
            with z.open(f"{key}.npy", "w", force_zip64=True) as member:
                member.write(_npy_member(shape, "<f8", b""))
                for _ in range(100 if key == "rotations" else 1):
                    member.write(bytes(1 << 20))
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="over the limit"):
            Motion.load(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000


def test_header_shapes_that_lie_about_the_data_are_value_errors(tmp_path):
    """A header within bounds whose member holds fewer bytes than it claims."""
    arrays = _arrays(tmp_path)
    path = tmp_path / "short.npz"
    with zipfile.ZipFile(path, "w") as z:
        for key, value in arrays.items():
            body = value.tobytes()[: 16 if key == "rotations" else None]
            z.writestr(f"{key}.npy", _npy_member(value.shape, value.dtype.str, body))
    with pytest.raises(ValueError, match="short.npz"):
        Motion.load(path)


def test_a_missing_file_stays_an_os_error(tmp_path):
    with pytest.raises(OSError):
        Motion.load(tmp_path / "absent.npz")
