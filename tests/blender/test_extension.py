"""The extension zip: builds, validates with Blender's own tool, installs into bpy-as-module
(Python 3.11 for bpy 4.2 to 5.0, 3.13 for 5.1 and newer) with its pyzmq wheel for this Python
unpacked, and every module of it imports there without the backend package, torch, or any
pyzmq but the bundled one."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("bpy", reason="needs bpy==4.5.15 (the test extra) for Blender's "
                                  "extension tool and an install")

import motionfield  # noqa: E402
from motionfield.addon_build import (  # noqa: E402
    ADDON_PYZMQ,
    ROOT,
    blender_ext_tool,
    build,
    cached_wheels,
)
from motionfield.errors import MotionfieldError  # noqa: E402

VERSION = motionfield.__version__

# Runs in a fresh process: BLENDER_USER_RESOURCES must be set before bpy is imported.
# zmq may only come from the extensions' site-packages, as in a real Blender, which has no
# pyzmq of its own (this venv has one, for the backend).
INSTALL = r"""
import importlib, importlib.abc, importlib.machinery, json, os, sys
res = os.environ["BLENDER_USER_RESOURCES"]

class OnlyBundledZmq(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "zmq":
            return None
        spec = importlib.machinery.PathFinder.find_spec(
            name, [p for p in sys.path if p.startswith(res)])
        if spec is None:
            raise ModuleNotFoundError("no zmq in the extensions' site-packages", name=name)
        return spec

sys.meta_path.insert(0, OnlyBundledZmq())
sys.modules["motionfield"] = None  # the installed extension must not need the backend
sys.modules["torch"] = None
import pkgutil
import bpy
import addon_utils
done = bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True)
mod = importlib.import_module("bl_ext.user_default.motionfield")
client = importlib.import_module("bl_ext.user_default.motionfield.wire.client")
modules = [m.name for m in pkgutil.walk_packages(mod.__path__, mod.__name__ + ".")]
for name in modules:
    importlib.import_module(name)
import zmq
ctx = zmq.Context()
a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
a.bind("inproc://x"); b.connect("inproc://x"); a.send(b"hi")
echo = b.recv().decode()
a.close(); b.close(); ctx.term()
print("RESULT " + json.dumps({
    "op": sorted(done), "module": mod.__file__, "client": client.__file__,
    "zmq": zmq.__file__, "pyzmq": zmq.pyzmq_version(), "echo": echo,
    "enabled": list(addon_utils.check(mod.__name__)),
    "has_client": hasattr(client, "Client"), "modules": modules}))
"""


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    (path,) = build(out)
    return path


def test_zip_holds_manifest_addon_wire_and_wheels(zip_path):
    assert zip_path.name == f"motionfield-{VERSION}.zip"
    names = set(zipfile.ZipFile(zip_path).namelist())
    assert {"blender_manifest.toml", "__init__.py", "wire/__init__.py", "wire/protocol.py",
            "wire/client.py"} <= names
    wheels = sorted(n for n in names if n.startswith("wheels/"))
    for tag in ("cp311-cp311", "cp313-cp313"):  # Blender 4.2 to 5.0; 5.1+ and Debian's 4.3
        assert any(tag in w and "manylinux" in w and "x86_64" in w for w in wheels), tag
        assert any(tag in w and "win_amd64" in w for w in wheels), tag
        assert any(tag in w and "macosx" in w and "universal2" in w for w in wheels), tag
    assert not any("abi3" in w for w in wheels)
    assert not any("__pycache__" in n for n in names)
    # vendored unchanged
    zf = zipfile.ZipFile(zip_path)
    for name in ("protocol.py", "client.py"):
        src = (ROOT / "backend" / "motionfield" / name).read_bytes()
        assert zf.read(f"wire/{name}") == src
    # the zip's manifest names exactly its wheels; the repo's manifest stays truthful
    manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert sorted(w.removeprefix("./") for w in manifest["wheels"]) == wheels
    assert manifest["version"] == VERSION and manifest["id"] == "motionfield"
    repo = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert repo["wheels"] == manifest["wheels"], \
        "blender_manifest.toml lists other wheels than the build bundles: update it"
    assert repo["platforms"] == manifest["platforms"]
    assert {"linux-x64", "windows-x64", "macos-arm64"} <= set(manifest["platforms"])
    assert set(manifest["permissions"]) == {"network", "files"}


def _blender_ext():
    """Blender's extension tool as a module, for its own wheel-reading rules."""
    spec = importlib.util.spec_from_file_location("blender_ext", blender_ext_tool())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_blender_reads_the_zip_as_python_311_and_313(zip_path):
    """The rule that refused the cp311 + cp312-abi3 zip on Python 3.13: an abi3 wheel counts
    as plain "3", dropped once a version-specific wheel is listed."""
    ext = _blender_ext()
    manifest = tomllib.loads(zipfile.ZipFile(zip_path).read("blender_manifest.toml").decode())
    assert ext.python_versions_from_wheels(manifest["wheels"]) == {(3, 11), (3, 13)}
    assert sys.version_info[:2] in {(3, 11), (3, 13)}
    old = ["./wheels/pyzmq-27.3.0-cp311-cp311-win_amd64.whl",
           "./wheels/pyzmq-27.3.0-cp312-abi3-win_amd64.whl"]
    assert ext.python_versions_from_wheels(old) == {(3, 11)}


def test_installs_in_blender_with_its_wheel(zip_path, tmp_path):
    res = tmp_path / "blender_user"
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(res)}
    done = subprocess.run([sys.executable, "-c", INSTALL, str(zip_path)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    got = json.loads(lines[-1][len("RESULT "):])
    ext = res / "extensions"
    assert got["op"] == ["FINISHED"]
    assert Path(got["module"]) == ext / "user_default" / "motionfield" / "__init__.py"
    assert Path(got["client"]).parent == ext / "user_default" / "motionfield" / "wire"
    assert Path(got["zmq"]).is_relative_to(ext / ".local"), got["zmq"]
    assert got["pyzmq"] == ADDON_PYZMQ
    assert got["echo"] == "hi" and got["enabled"] == [True, True] and got["has_client"]
    prefix = "bl_ext.user_default.motionfield."
    assert {prefix + "wire.protocol", prefix + "wire.client"} <= set(got["modules"])
    shipped = {p.stem for p in (ROOT / "addon").glob("*.py") if p.stem != "__init__"}
    assert {prefix + m for m in shipped} <= set(got["modules"])


def test_offline_build_from_a_wheels_folder(tmp_path):
    linux = sorted(w for w in cached_wheels() if "manylinux" in w.name)
    assert [w.name.split("-")[2] for w in linux] == ["cp311", "cp313"]
    (tmp_path / "wheels").mkdir()
    for wheel in linux:
        shutil.copy2(wheel, tmp_path / "wheels")
    (path,) = build(tmp_path / "out", wheels_dir=tmp_path / "wheels")
    manifest = tomllib.loads(zipfile.ZipFile(path).read("blender_manifest.toml").decode())
    assert manifest["platforms"] == ["linux-x64"]
    assert manifest["wheels"] == [f"./wheels/{w.name}" for w in linux]


def test_validation_failure_shows_the_tools_output(tmp_path):
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "addon", root / "addon",
                    ignore=shutil.ignore_patterns("__pycache__"))
    text = (ROOT / "blender_manifest.toml").read_text()
    (root / "blender_manifest.toml").write_text(
        text.replace('tagline = "', 'tagline = "' + "x" * 70, 1))
    with pytest.raises(MotionfieldError, match="(?s)validate.*tagline"):
        build(tmp_path / "out", root=root)
