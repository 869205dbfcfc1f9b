"""Real-window checks: Debian's Blender 4.3 (Python 3.13) in a window under Xvfb, driven by
real keys through xdotool (scripts/real_window/harness.py). Not part of CI: they run only
through `bash scripts/real_window/run_checks.sh` (which sets MOTIONFIELD_REAL_WINDOW=1), as
root, once scripts/real_window/setup_chroot.sh has built the chroot.

MOTIONFIELD_REAL_WINDOW_ZIP picks the extension zip (default: `motionfield addon build`
now). MOTIONFIELD_REAL_WINDOW_DROP_CP311=1 installs a zip that Blender refuses on 3.13 by
dropping its cp311 wheels, only to reproduce the panel's bugs on such code; the install
check itself never does that.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "real_window"))

from animator import Animator  # noqa: E402  (the harness lives with the scripts)
from harness import (  # noqa: E402
    HarnessError,
    RealBlender,
    build_extension,
    chroot_ready,
    start_backend,
)

ENABLED = os.environ.get("MOTIONFIELD_REAL_WINDOW") == "1"
# the backend/ folder of the checkout the zip was built from (run_checks.sh --commit)
SOURCE = os.environ.get("MOTIONFIELD_REAL_WINDOW_BACKEND_SRC") or None
SHOTS = Path(os.environ.get("MOTIONFIELD_REAL_WINDOW_OUT", "/tmp/motionfield_real_window"))


def pytest_collection_modifyitems(config, items):
    if ENABLED and chroot_ready():
        return
    reason = ("real-window checks run through scripts/real_window/run_checks.sh"
              if not ENABLED else "no chroot: run scripts/real_window/setup_chroot.sh as root")
    for item in items:
        if "real_window" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def backend_source() -> str | None:
    return SOURCE


@pytest.fixture(scope="session")
def workdir():
    folder = Path(tempfile.mkdtemp(prefix="motionfield-real-window-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def extension_zip(workdir) -> Path:
    given = os.environ.get("MOTIONFIELD_REAL_WINDOW_ZIP")
    return Path(given).resolve() if given else build_extension(workdir / "dist")


@pytest.fixture(scope="session")
def bvh_files(workdir, data_root) -> dict[str, Path]:
    """The CMU BVHs, copied where the chroot sees them (/tmp), and "long": 05_06's motion
    played eight times over, an import that runs long enough to act during it."""
    folder = workdir / "bvh"
    folder.mkdir()
    files = {name: Path(shutil.copy(data_root / "cmu_bvh" / f"{name}.bvh", folder))
             for name in ("02_01", "05_06")}
    files["long"] = repeated_bvh(files["05_06"], folder / "long.bvh", times=8)
    return files


def repeated_bvh(source: Path, out: Path, times: int) -> Path:
    head, motion = source.read_text().split("MOTION\n", 1)
    frames_line, time_line, frames = motion.split("\n", 2)
    count = int(frames_line.split(":")[1])
    out.write_text(f"{head}MOTION\nFrames: {count * times}\n{time_line}\n"
                   + (frames.rstrip("\n") + "\n") * times)
    return out


@pytest.fixture(scope="module")
def backend(workdir):
    """`motionfield serve` on the host; Blender connects to it through loopback."""
    connection_file = workdir / "connection.json"
    process = start_backend(connection_file, workdir / "backend.log", SOURCE)
    yield connection_file
    process.terminate()
    process.wait(10)


def install(blender: RealBlender, zip_path: Path) -> None:
    try:
        blender.install_extension(zip_path)
    except HarnessError:
        if os.environ.get("MOTIONFIELD_REAL_WINDOW_DROP_CP311") != "1":
            raise
        blender.drop_cp311_wheels()


@pytest.fixture
def installed(extension_zip):
    """install(blender): the extension zip into that Blender's fresh user folder."""
    return lambda blender: install(blender, extension_zip)


@pytest.fixture(scope="module")
def animator(workdir, extension_zip, backend, bvh_files, request):
    """A Blender window connected to the host backend, the motionfield tab open."""
    folder = workdir / request.module.__name__.rsplit(".", 1)[-1]
    with RealBlender(folder, display=77, backend_source=SOURCE) as blender:
        blender.start_display()
        install(blender, extension_zip)
        blender.configure(connection_file=backend)
        blender.launch()
        blender.eval("show_sidebar()")
        time.sleep(0.5)
        blender.eval("show_sidebar()")  # the tab can be picked once the sidebar has drawn
        yield Animator(blender, bvh_files, SHOTS)
