"""`motionfield addon build` without Blender: wheel tags, the manifest rewrite, and clear
errors when bpy or the network is missing."""

from __future__ import annotations

import tomllib

import pytest

from motionfield import addon_build
from motionfield.addon_build import (
    ROOT,
    WHEEL_SLOTS,
    _download,
    blender_ext_tool,
    staged_manifest,
    supplied_wheels,
    wheel_platforms,
)
from motionfield.cli import main
from motionfield.errors import MotionfieldError

LINUX = "pyzmq-27.3.0-cp311-cp311-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl"
MAC = "pyzmq-27.3.0-cp311-cp311-macosx_10_15_universal2.whl"
WIN_ABI3 = "pyzmq-27.3.0-cp312-abi3-win_amd64.whl"


def test_wheel_platforms():
    assert wheel_platforms(LINUX) == ({"linux-x64"}, "cp311", "cp311")
    assert wheel_platforms(MAC)[0] == {"macos-arm64", "macos-x64"}
    assert wheel_platforms(WIN_ABI3) == ({"windows-x64"}, "cp312", "abi3")
    with pytest.raises(MotionfieldError):
        wheel_platforms("pyzmq.tar.gz")


def test_slots_cover_blender_311_and_abi3_for_three_platforms():
    names = {s.name for s in WHEEL_SLOTS}
    assert names == {"linux-x64-cp311", "windows-x64-cp311", "macos-arm64-cp311",
                     "linux-x64-abi3", "windows-x64-abi3", "macos-arm64-abi3"}


def test_manifest_rewrite_sets_wheels_and_platforms():
    text = staged_manifest((ROOT / "blender_manifest.toml").read_text(), [LINUX, WIN_ABI3])
    data = tomllib.loads(text)
    assert data["wheels"] == [f"./wheels/{LINUX}", f"./wheels/{WIN_ABI3}"]
    assert data["platforms"] == ["linux-x64"]  # windows only has an abi3 wheel (Python 3.12+)
    assert data["permissions"]["network"].endswith("(localhost)")


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


def test_wheels_folder_without_a_cp311_wheel_is_refused(tmp_path):
    (tmp_path / WIN_ABI3).write_bytes(b"")
    with pytest.raises(MotionfieldError, match="cp311"):
        supplied_wheels(tmp_path)
