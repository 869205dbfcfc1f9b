"""motionfield: human motion for Blender, generated and reconstructed by a separate torch
backend reached over ZeroMQ (`wire/`, bundled by `motionfield addon build`).

Only registers; heavy work happens inside operators. The manifest (blender_manifest.toml)
replaces `bl_info`.
"""

from __future__ import annotations

from . import operators, panels, properties

classes = (*properties.classes, *operators.classes, *panels.classes)


def register() -> None:
    import bpy

    for cls in classes:
        bpy.utils.register_class(cls)
    properties.register_settings()


def unregister() -> None:
    import bpy

    from .backend import BACKEND

    BACKEND.stop()
    properties.unregister_settings()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
