"""Tests inside real Blender (the bpy wheel). Skipped where bpy cannot be imported."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

bpy = pytest.importorskip("bpy", reason="real Blender tests need the bpy wheel "
                                        "(pip install bpy==4.5.15)")


@pytest.fixture
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene
