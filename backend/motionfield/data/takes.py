"""The built sets' clips, source by source: the one loader every method's takes come from.

A method names the sources it learns from; each is built now if its set is missing or stale
(`data.build.build`), then its clips come back with their index entry (id, split, fps,
labels, frames) and their SMPL arrays at their native framerate. Named sources are found in
the unpacked archives (or `data_root`); `FOLDER_SOURCES` are folders of BVH files there.
The split is the set's own (`data.build.split_of`), so every method that keeps it holds out
the same takes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ALL_SOURCES = ("bandai-namco-1", "bandai-namco-2", "cmu-benchmark", "cmu_bvh", "ReActIdle")
FOLDER_SOURCES = ("cmu_bvh", "ReActIdle")  # built from their folder of BVH files


@dataclass(frozen=True)
class BuiltClip:
    """One clip of a built set at its native framerate."""

    source: str
    entry: dict                   # its index.json entry: id, split, fps (a string), labels...
    rotations: np.ndarray         # (T, 24, 4) wxyz, float32
    root_translation: np.ndarray  # (T, 3) metres, Y up

    @property
    def id(self) -> str:
        """`source/clip id`, unique over every source."""
        return f"{self.source}/{self.entry['id']}"

    @property
    def split(self) -> str:
        return self.entry["split"]


def built_set(source: str, data_root: Path | None = None, progress: bool = True) -> Path:
    """The folder of `source`'s built set (built now if missing or stale)."""
    from motionfield.data.build import build
    from motionfield.data.sources import source_path

    if source in FOLDER_SOURCES:
        folder = Path(data_root) / source if data_root else source_path(source)
        return build(str(folder), progress=progress)
    return build(source, progress=progress, data_root=data_root)


def built_clips(sources: tuple[str, ...] = ALL_SOURCES, data_root: Path | None = None,
                progress: bool = True) -> Iterator[BuiltClip]:
    """Every clip of `sources`, in source then index order."""
    from motionfield.data.build import load_set

    for source in sources:
        data = load_set(built_set(source, data_root, progress))
        for i, entry in enumerate(data.clips):
            rotations, root_translation = data.clip(i)
            yield BuiltClip(source, entry, rotations, root_translation)
