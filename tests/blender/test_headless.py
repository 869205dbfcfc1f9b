"""docs/headless.md's script, run as a user would: backend, import, keys, a rendered PNG."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_headless_example_renders_a_body(data_root, tmp_path):
    png = tmp_path / "frame.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "headless_import_render.py"),
         str(data_root / "cmu_bvh" / "02_01.bvh"), str(png)],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "keyed 02_01 on 02_01" in done.stdout
    import bpy

    image = bpy.data.images.load(str(png))
    alpha = np.array(image.pixels[:]).reshape(-1, image.channels)[:, 3]
    covered = (alpha > 0.5).mean()
    assert 0.01 < covered < 0.5, covered  # a body on an empty background, not a blank frame
