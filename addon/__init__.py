"""motionfield: human motion for Blender, generated and reconstructed by a separate torch
backend reached over ZeroMQ (`wire/`, bundled by `motionfield addon build`).

Only registers; heavy imports happen inside operators. The manifest (blender_manifest.toml)
replaces `bl_info`.
"""

from __future__ import annotations


def register() -> None:
    """Register the add-on's classes (none yet)."""


def unregister() -> None:
    """Unregister what `register` registered, in reverse order."""
