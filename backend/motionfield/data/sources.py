"""Where the motion archives are and where they are unpacked.

The archives ship beside the project in `../shared/data` (see its SOURCES.md); they are
unpacked into a cache outside the repository, never committed.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from motionfield.errors import DataError

ARCHIVE_FOLDERS = {
    "bandai-namco-1.tar.xz": "Bandai-Namco-Research-Motiondataset-1",
    "bandai-namco-2.tar.xz": "Bandai-Namco-Research-Motiondataset-2",
    "cmu_mocap.tar.xz": "cmu_mocap",
    "cmu_bvh.tar.xz": "cmu_bvh",
    "reactidle.tar.xz": "ReActIdle",
}


def cache_dir() -> Path:
    """$MOTIONFIELD_CACHE, else ~/.cache/motionfield."""
    return Path(os.environ.get("MOTIONFIELD_CACHE", Path.home() / ".cache" / "motionfield"))


def data_dir() -> Path:
    """Unpacked archives: $MOTIONFIELD_DATA, else <cache>/data."""
    env = os.environ.get("MOTIONFIELD_DATA")
    return Path(env) if env else cache_dir() / "data"


def find_archives() -> Path | None:
    """The folder of archives: $MOTIONFIELD_ARCHIVES, else a `shared/data` beside or above
    the working directory or this checkout."""
    env = os.environ.get("MOTIONFIELD_ARCHIVES")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *Path.cwd().parents, *here.parents):
        for cand in (base / "shared" / "data", base / ".." / "shared" / "data"):
            if (cand / "SOURCES.md").exists():
                return cand.resolve()
    return None


def unpack(archives: Path | None = None, dest: Path | None = None) -> Path:
    """Unpack every archive into `dest` once (a stamp file marks each); returns `dest`."""
    archives = archives or find_archives()
    if archives is None or not archives.is_dir():
        raise DataError("no data archives found: pass the folder that holds them "
                        "(shared/data) or set MOTIONFIELD_ARCHIVES")
    dest = dest or data_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name in ARCHIVE_FOLDERS:
        stamp = dest / f".{name}.unpacked"
        if stamp.exists() or not (archives / name).exists():
            continue
        with tarfile.open(archives / name, "r:xz") as tar:
            tar.extractall(dest, filter="data")  # refuses absolute paths and links out
        stamp.touch()
    return dest


def source_path(folder: str) -> Path:
    """An unpacked source folder by name (e.g. "cmu_bvh"), unpacking the archives first."""
    path = data_dir() / folder
    if not path.exists():
        unpack()
    if not path.exists():
        raise DataError(f"data source {folder!r} not found under {data_dir()}")
    return path
