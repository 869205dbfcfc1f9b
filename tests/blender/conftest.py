"""Tests inside real Blender (the bpy wheel). Skipped where bpy cannot be imported."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

try:
    import bpy
except ImportError:  # the test extra installs bpy==4.5.15; without it these tests are not collected
    bpy = None
collect_ignore_glob = ["test_*.py"] if bpy is None else []


@pytest.fixture
def empty_scene():
    """A factory-settings, empty scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene
