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
    if not bpy.app.background:
        bpy.app.timers.register(operators.heartbeat, first_interval=1.0, persistent=True)


def unregister() -> None:
    import bpy

    from .backend import BACKEND

    for timer in (operators.heartbeat, operators.poll_jobs):
        if bpy.app.timers.is_registered(timer):
            bpy.app.timers.unregister(timer)
    BACKEND.stop()
    properties.unregister_settings()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
