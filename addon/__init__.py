"""motionfield: human motion for Blender, generated and reconstructed by a separate torch
backend reached over ZeroMQ (`wire/`, bundled by `motionfield addon build`).

Only registers; heavy work happens inside operators. The manifest (blender_manifest.toml)
replaces `bl_info`.
"""

from __future__ import annotations

import atexit

import bpy

from . import operators, panels, properties, schema, sparse, text2motion, video

classes = (*properties.classes, *operators.classes, *text2motion.classes, *sparse.classes,
           *video.classes, *panels.classes)


def register() -> None:
    from .backend import BACKEND

    for cls in classes:
        bpy.utils.register_class(cls)
    properties.register_settings()
    BACKEND.on_methods[:] = [schema.sync, panels.remember_sections]
    bpy.app.handlers.load_pre.append(_forget_jobs)
    for handlers in (bpy.app.handlers.undo_post, bpy.app.handlers.redo_post):
        handlers.append(_forget_message)
    atexit.register(BACKEND.stop)  # a clean exit; a crash is `serve --parent-pid`'s part
    if not bpy.app.background:
        bpy.app.timers.register(operators.heartbeat, first_interval=1.0, persistent=True)


def unregister() -> None:
    from .backend import BACKEND

    for timer in (operators.heartbeat, operators.poll_jobs):
        if bpy.app.timers.is_registered(timer):
            bpy.app.timers.unregister(timer)
    if _forget_jobs in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_forget_jobs)
    for handlers in (bpy.app.handlers.undo_post, bpy.app.handlers.redo_post):
        if _forget_message in handlers:
            handlers.remove(_forget_message)
    atexit.unregister(BACKEND.stop)
    operators.forget_jobs()
    BACKEND.stop()
    BACKEND.on_methods.clear()
    schema.clear()
    properties.unregister_settings()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)


@bpy.app.handlers.persistent
def _forget_jobs(*_args) -> None:
    """load_pre: the objects running jobs were for belong to the file being closed."""
    operators.forget_jobs()


@bpy.app.handlers.persistent
def _forget_message(*_args) -> None:
    """undo_post / redo_post: "keyed 30 frames on ..." no longer describes the scene."""
    from .jobs import JOBS

    JOBS.message = ""
