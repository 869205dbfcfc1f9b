"""`motionfield addon build` without Blender: wheel tags, the manifest rewrite, and clear
errors when bpy or the network is missing."""

from __future__ import annotations

import tomllib

import pytest

from motionfield import addon_build
from motionfield.addon_build import (
    ADDON_PYZMQ,
    ROOT,
    WHEEL_SLOTS,
    _download,
    _fits,
    blender_ext_tool,
    served_platforms,
    staged_manifest,
    supplied_wheels,
    wheel_platforms,
)
from motionfield.cli import main
from motionfield.errors import MotionfieldError

LINUX = "pyzmq-27.3.0-cp311-cp311-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl"
MAC = "pyzmq-27.3.0-cp311-cp311-macosx_10_15_universal2.whl"
WIN_ABI3 = "pyzmq-27.3.0-cp312-abi3-win_amd64.whl"
LINUX_311 = "pyzmq-26.4.0-cp311-cp311-manylinux_2_28_x86_64.whl"
LINUX_313 = "pyzmq-26.4.0-cp313-cp313-manylinux_2_28_x86_64.whl"
WIN_311 = "pyzmq-26.4.0-cp311-cp311-win_amd64.whl"
MAC_311 = "pyzmq-26.4.0-cp311-cp311-macosx_10_15_universal2.whl"
MAC_313 = "pyzmq-26.4.0-cp313-cp313-macosx_10_15_universal2.whl"


def test_wheel_platforms():
    assert wheel_platforms(LINUX) == ({"linux-x64"}, "cp311", "cp311")
    assert wheel_platforms(MAC)[0] == {"macos-arm64", "macos-x64"}
    assert wheel_platforms(WIN_ABI3) == ({"windows-x64"}, "cp312", "abi3")
    with pytest.raises(MotionfieldError):
        wheel_platforms("pyzmq.tar.gz")


def test_slots_cover_python_311_and_313_for_three_platforms():
    names = {s.name for s in WHEEL_SLOTS}
    assert names == {"linux-x64-cp311", "windows-x64-cp311", "macos-arm64-cp311",
                     "linux-x64-cp313", "windows-x64-cp313", "macos-arm64-cp313"}
    assert ADDON_PYZMQ == "26.4.0"  # the newest pyzmq with cp313-cp313 wheels (27: abi3 only)


def test_slots_take_version_specific_wheels_only():
    (linux_311,) = [s for s in WHEEL_SLOTS if s.name == "linux-x64-cp311"]
    (linux_313,) = [s for s in WHEEL_SLOTS if s.name == "linux-x64-cp313"]
    assert _fits(linux_311, LINUX_311) and _fits(linux_311, LINUX)
    assert _fits(linux_313, LINUX_313) and not _fits(linux_313, LINUX_311)
    assert not any(_fits(s, WIN_ABI3) for s in WHEEL_SLOTS)


def test_manifest_rewrite_sets_wheels_and_platforms():
    wheels = [LINUX_311, LINUX_313, MAC_311, MAC_313, WIN_311]
    text = staged_manifest((ROOT / "blender_manifest.toml").read_text(), wheels)
    data = tomllib.loads(text)
    assert data["wheels"] == [f"./wheels/{w}" for w in wheels]
    # windows has no cp313 wheel: Blender 5.x there would install the zip without a zmq
    assert data["platforms"] == ["linux-x64", "macos-arm64", "macos-x64"]
    assert data["permissions"]["network"].endswith("(localhost)")
    assert served_platforms([LINUX_311, WIN_311]) == ["linux-x64", "windows-x64"]
    with pytest.raises(MotionfieldError, match="no platform"):
        staged_manifest(text, [WIN_ABI3])


def test_repo_manifest_matches_the_package():
    import motionfield

    data = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert data["id"] == "motionfield" and data["version"] == motionfield.__version__
    assert data["blender_version_min"] == "4.2.0" and data["type"] == "add-on"
    assert data["license"] == ["SPDX:MIT"]
    assert set(data["permissions"]) == {"network", "files"}


def test_no_bpy_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(addon_build.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MotionfieldError, match=r"pip install bpy==4\.5\.15"):
        blender_ext_tool()
    assert main(["addon", "build", "-o", "unused"]) == 2
    assert "pip install bpy==4.5.15" in capsys.readouterr().err


def test_offline_download_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(MotionfieldError, match="offline.*--wheels DIR"):
        _download(WHEEL_SLOTS[0], "27.3.0", tmp_path / "cache" / "slot")


def test_wheels_folder_of_abi3_wheels_is_refused(tmp_path):
    (tmp_path / WIN_ABI3).write_bytes(b"")
    with pytest.raises(MotionfieldError, match="abi3 wheels are not used"):
        supplied_wheels(tmp_path)


def test_wheels_folder_fills_the_slots_it_can(tmp_path):
    for name in (LINUX_311, LINUX_313, WIN_ABI3):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in supplied_wheels(tmp_path)] == [LINUX_311, LINUX_313]
