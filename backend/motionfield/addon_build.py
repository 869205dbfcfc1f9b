"""`motionfield addon build`: the Blender extension zip. No bpy module use.

Stages, in a temporary folder::

    blender_manifest.toml    the repo's manifest; `wheels` and `platforms` rewritten to match
    __init__.py, ...         everything under addon/ (the extension's Python package)
    wire/                    protocol.py and client.py copied from this package, unchanged
    wheels/                  pyzmq wheels for each platform and Python (see WHEEL_SLOTS)

then runs Blender's own extension tool (`blender_ext.py`, shipped inside the bpy wheel) to
`validate` the folder and `build` it into `<out>/motionfield-<version>.zip`, and validates
the zip. Wheels are downloaded once with pip into `<cache>/wheels/pyzmq-<version>/` and
reused; `--wheels DIR` supplies them where there is no network.

One zip serves Blender on Python 3.11 (4.2 to 5.0) and on Python 3.13 (5.1 and newer,
Debian's 4.3). Blender's installer takes the Python versions an extension supports from its
wheels' file names: `cp311` counts as 3.11, `cp313` as 3.13, but any `abi3` wheel only as
"3", and "3" is dropped as soon as one version-specific wheel is listed. So a zip with
cp311 and cp312-abi3 wheels counts as 3.11-only and Blender 5.x refuses it. The zip
therefore carries version-specific cp311 and cp313 wheels of ADDON_PYZMQ.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import motionfield
from motionfield.errors import MotionfieldError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parent
VENDORED = ("protocol.py", "client.py")


# The pyzmq the extension bundles (the backend may run a newer one: the wire protocol is
# ZeroMQ's, not pyzmq's). 26.4.0 is the newest pyzmq with version-specific cp313 wheels;
# 27.x ships only cp312-abi3 for Python >= 3.12, which Blender reads as 3.11-only when
# listed beside cp311 wheels (see the module docstring).
ADDON_PYZMQ = "26.4.0"

# Blender 4.2 to 5.0 embed Python 3.11; Blender 5.1 and newer (and Debian trixie's 4.3)
# embed Python 3.13.
PYTHONS = ("3.11", "3.13")


@dataclass(frozen=True)
class WheelSlot:
    """One wheel the zip carries: for a Blender platform and a Python version."""

    platform: str  # Blender's name, e.g. "linux-x64"
    pip_platform: str  # `pip download --platform`
    python: str  # `pip download --python-version`, e.g. "3.13"

    @property
    def tag(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def name(self) -> str:
        return f"{self.platform}-{self.tag}"


# The macOS wheels are universal2, so they also cover macos-x64.
WHEEL_SLOTS = tuple(
    WheelSlot(platform, pip_platform, python)
    for python in PYTHONS
    for platform, pip_platform in (("linux-x64", "manylinux_2_28_x86_64"),
                                   ("windows-x64", "win_amd64"),
                                   ("macos-arm64", "macosx_11_0_arm64"))
)


def _say(msg: str) -> None:
    print(f"motionfield addon build: {msg}", file=sys.stderr, flush=True)


def blender_ext_tool() -> Path:
    """Blender's extension CLI inside the installed bpy wheel (without importing bpy)."""
    try:
        spec = importlib.util.find_spec("bpy")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise MotionfieldError("building the extension needs Blender's extension tool, which "
                               "ships in the bpy wheel: pip install bpy==4.5.15")
    found = sorted(Path(spec.origin).parent.glob(
        "*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise MotionfieldError(f"no blender_ext.py under {Path(spec.origin).parent} (a bpy "
                               "without the extension tool?): pip install bpy==4.5.15")
    return found[-1]


def wheel_platforms(filename: str) -> tuple[set[str], str, str]:
    """Blender platforms, python tag and abi tag of a wheel file name."""
    parts = filename[:-4].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise MotionfieldError(f"not a wheel file name: {filename!r}")
    py, abi, plat = parts[-3:]
    found = set()
    for tag in plat.split("."):
        if tag.startswith("manylinux") or tag.startswith("linux"):
            found.add("linux-x64" if tag.endswith("x86_64") else
                      "linux-arm64" if tag.endswith("aarch64") else tag)
        elif tag == "win_amd64":
            found.add("windows-x64")
        elif tag == "win_arm64":
            found.add("windows-arm64")
        elif tag.startswith("macosx"):
            if tag.endswith(("arm64", "universal2")):
                found.add("macos-arm64")
            if tag.endswith(("x86_64", "universal2", "intel")):
                found.add("macos-x64")
    return found, py, abi


def _fits(slot: WheelSlot, filename: str) -> bool:
    """A version-specific wheel for the slot's platform and Python (never abi3: see above)."""
    platforms, py, abi = wheel_platforms(filename)
    return slot.platform in platforms and slot.tag in py.split(".") and abi == slot.tag


def _download(slot: WheelSlot, version: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="dl-", dir=dest.parent))
    cmd = [sys.executable, "-m", "pip", "download", f"pyzmq=={version}", "--only-binary=:all:",
           "--no-deps", "--platform", slot.pip_platform, "--python-version", slot.python,
           "--implementation", "cp", "--abi", slot.tag, "--timeout", "30", "--retries", "2",
           "-d", str(tmp)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    got = [p for p in tmp.glob("*.whl") if _fits(slot, p.name)]
    if done.returncode != 0 or len(got) != 1:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-4:])
        raise MotionfieldError(
            f"could not download the pyzmq {version} {slot.tag} wheel for {slot.platform} "
            f"(offline? or that pyzmq has no {slot.tag}-{slot.tag} wheel). "
            f"Pass --wheels DIR with the wheels listed in blender_manifest.toml, or run once "
            f"with network to fill the cache.\n{' '.join(cmd)}\n{tail}")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / got[0].name
    got[0].replace(target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def cached_wheels(cache: Path | None = None, version: str | None = None) -> list[Path]:
    """One pyzmq wheel per slot, downloaded into the cache the first time."""
    from motionfield.data.sources import cache_dir

    version = version or ADDON_PYZMQ
    base = (cache or cache_dir() / "wheels") / f"pyzmq-{version}"
    wheels = []
    for slot in WHEEL_SLOTS:
        folder = base / slot.name
        have = sorted(p for p in folder.glob("*.whl") if _fits(slot, p.name))
        if have:
            wheels.append(have[0])
            continue
        _say(f"downloading pyzmq {version} for {slot.name}")
        wheels.append(_download(slot, version, folder))
    return sorted(set(wheels), key=lambda p: p.name)


def supplied_wheels(folder: Path) -> list[Path]:
    """The wheels of a --wheels folder that fill a slot (warns about slots left empty)."""
    files = sorted(folder.glob("*.whl"))
    chosen, empty = [], []
    for slot in WHEEL_SLOTS:
        fit = [p for p in files if p.name.lower().startswith("pyzmq-") and _fits(slot, p.name)]
        if fit:
            chosen.append(fit[-1])
        else:
            empty.append(slot.name)
    if not chosen:
        raise MotionfieldError(
            f"no pyzmq wheel in {folder} fits: the zip needs version-specific wheels "
            f"({', '.join(s.name for s in WHEEL_SLOTS)}), e.g. "
            f"pyzmq-{ADDON_PYZMQ}-cp313-cp313-manylinux_2_28_x86_64.whl; abi3 wheels are not "
            f"used (Blender would read the zip as Python 3.11-only)")
    if empty:
        _say(f"no wheel in {folder} for: {', '.join(empty)}; the zip will lack those")
    return sorted(set(chosen), key=lambda p: p.name)


def _toml_list(values: list[str]) -> str:
    return "[\n" + "".join(f'  "{v}",\n' for v in values) + "]"


PLATFORM_ORDER = ("linux-x64", "linux-arm64", "windows-x64", "windows-arm64", "macos-arm64",
                  "macos-x64")


def served_platforms(wheels: list[str]) -> list[str]:
    """Blender platforms that have a wheel for every Python the wheels cover (a platform with
    a 3.11 wheel only would install on Blender 5.x without a zmq)."""
    pythons = {s.python for s in WHEEL_SLOTS if any(_fits(s, w) for w in wheels)}

    def has(platform: str, python: str) -> bool:
        return any(_fits(WheelSlot(platform, "", python), w) for w in wheels)

    return [p for p in PLATFORM_ORDER if pythons and all(has(p, py) for py in pythons)]


def staged_manifest(text: str, wheels: list[str]) -> str:
    """The repo's manifest with `wheels` (file names under ./wheels/) and `platforms` set."""
    platforms = served_platforms(wheels)
    if not platforms:
        raise MotionfieldError(f"no platform has a wheel for every Python: {wheels}")
    for key, value in (("wheels", [f"./wheels/{w}" for w in wheels]), ("platforms", platforms)):
        pattern = re.compile(rf"^{key}\s*=\s*\[[^\]]*\]", re.MULTILINE)
        if not pattern.search(text):
            raise MotionfieldError(f"blender_manifest.toml has no `{key} = [...]` to fill")
        text = pattern.sub(lambda _m, k=key, v=value: f"{k} = {_toml_list(v)}", text, count=1)
    return text


def find_root() -> Path:
    """The checkout holding blender_manifest.toml and addon/: this package's, else the cwd."""
    for root in (ROOT, Path.cwd()):
        if (root / "blender_manifest.toml").is_file() and (root / "addon").is_dir():
            return root
    raise MotionfieldError("no blender_manifest.toml and addon/ here: run from a motionfield "
                           "checkout (the extension is built from the sources)")


def stage(dest: Path, wheels: list[Path], root: Path | None = None) -> Path:
    """Lay out the extension's source folder in `dest` (which must not exist)."""
    root = root or find_root()
    manifest = root / "blender_manifest.toml"
    addon = root / "addon"
    if not (addon / "__init__.py").is_file():
        raise MotionfieldError(f"{addon} has no __init__.py (the extension's module)")
    data = tomllib.loads(manifest.read_text())
    if data.get("version") != motionfield.__version__:
        raise MotionfieldError(f"blender_manifest.toml says version {data.get('version')!r} but "
                               f"motionfield is {motionfield.__version__}: make them equal")
    if (addon / "wire").exists():
        raise MotionfieldError("addon/wire is written by the build: remove it from addon/")
    shutil.copytree(addon, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wire = dest / "wire"
    wire.mkdir()
    (wire / "__init__.py").write_text(
        f'"""motionfield {motionfield.__version__} protocol and client, copied unchanged from '
        f'the backend by `motionfield addon build`. No bpy, no torch."""\n\n'
        f'__version__ = "{motionfield.__version__}"\n')
    for name in VENDORED:
        shutil.copy2(PACKAGE / name, wire / name)
    (dest / "wheels").mkdir()
    for w in wheels:
        shutil.copy2(w, dest / "wheels" / w.name)
    text = staged_manifest(manifest.read_text(), [w.name for w in wheels])
    (dest / "blender_manifest.toml").write_text(text)
    tomllib.loads(text)  # the rewrite kept it TOML
    return dest


def _ext(tool: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
    out = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise MotionfieldError(f"Blender's extension tool failed: {args[0]}\n{out}")
    return out


def build(out_dir: Path | None = None, wheels_dir: Path | None = None,
          split_platforms: bool = False, root: Path | None = None) -> list[Path]:
    """Build and validate the extension zip(s); returns their paths.

    out_dir: where the zip goes (default <root>/dist). wheels_dir: a folder of pyzmq wheels
    to use instead of downloading. split_platforms: one smaller zip per platform.
    """
    root = root or find_root()
    out_dir = Path(out_dir) if out_dir else root / "dist"
    _say("[1/4] finding Blender's extension tool")
    tool = blender_ext_tool()
    _say("[2/4] collecting pyzmq wheels")
    wheels = supplied_wheels(Path(wheels_dir)) if wheels_dir else cached_wheels()
    for w in wheels:
        _say(f"      {w.name}")
    with tempfile.TemporaryDirectory(prefix="motionfield-ext-") as tmp:
        src = stage(Path(tmp) / "motionfield", wheels, root)
        _say(f"[3/4] validating the staged extension ({sum(1 for _ in src.rglob('*'))} files)")
        _ext(tool, "validate", str(src))
        _say(f"[4/4] building into {out_dir}")
        out_dir.mkdir(parents=True, exist_ok=True)
        before = {p: p.stat().st_mtime_ns for p in out_dir.glob("motionfield-*.zip")}
        args = ["build", "--source-dir", str(src), "--output-dir", str(out_dir)]
        _ext(tool, *args, *(["--split-platforms"] if split_platforms else []))
    version = motionfield.__version__
    zips = [out_dir / f"motionfield-{version}.zip"] if not split_platforms else sorted(
        p for p in out_dir.glob(f"motionfield-{version}-*.zip")
        if before.get(p) != p.stat().st_mtime_ns)
    for z in zips:
        if not z.is_file():
            raise MotionfieldError(f"Blender's extension tool wrote no {z}")
        _ext(tool, "validate", str(z))
        _say(f"wrote {z} ({z.stat().st_size / 1e6:.1f} MB), validated")
    return zips
