"""Runs inside a real Blender window (`blender --python agent.py`): a command channel for the
harness. A timer reads `cmd-<n>.json` files ({"code": ..., "mode": "eval" | "exec"}) from
$MOTIONFIELD_AGENT_DIR, runs them in Blender's main thread and writes `ans-<n>.json`
({"ok": true, "value": ...} or {"ok": false, "error": traceback}). Values that JSON cannot
hold come back as their repr. It also writes `ready` once a window exists.

No input goes through here: the harness types and clicks with xdotool, like an animator.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

import bpy

CHANNEL = Path(os.environ["MOTIONFIELD_AGENT_DIR"])
TICK_SECONDS = 0.05


def view3d():
    """(window, area, sidebar region) of the largest 3D viewport."""
    best = None
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D" and (best is None or area.width * area.height >
                                           best[1].width * best[1].height):
                best = (window, area)
    if best is None:
        raise RuntimeError("no 3D viewport")
    window, area = best
    sidebar = next(r for r in area.regions if r.type == "UI")
    return window, area, sidebar


def screen_rect(window, thing) -> dict:
    """An area's or region's rectangle in X screen pixels (origin top left), from Blender's
    window coordinates (origin bottom left)."""
    top = window.y + window.height - (thing.y + thing.height)
    return {"x": window.x + thing.x, "y": top, "width": thing.width, "height": thing.height}


def layout() -> dict:
    """Where things are on screen, so the harness can point at them."""
    window, area, sidebar = view3d()
    out = {"window": {"x": window.x, "y": window.y, "width": window.width,
                      "height": window.height},
           "viewport": screen_rect(window, area), "sidebar": screen_rect(window, sidebar),
           "windows": []}
    for win in bpy.context.window_manager.windows:
        areas = [{"type": a.type, **screen_rect(win, a),
                  "regions": [{"type": r.type, **screen_rect(win, r)} for r in a.regions]}
                 for a in win.screen.areas]
        out["windows"].append({"x": win.x, "y": win.y, "width": win.width,
                               "height": win.height, "areas": areas})
    return out


def show_sidebar(category: str = "motionfield") -> str:
    """Open the 3D viewport's sidebar on a tab; returns the tab shown."""
    window, area, sidebar = view3d()
    area.spaces.active.show_region_ui = True
    try:
        sidebar.active_panel_category = category
    except (AttributeError, TypeError):
        pass  # older Blender: the harness clicks the tab instead
    area.tag_redraw()
    return getattr(sidebar, "active_panel_category", "")


ADDON = "bl_ext.user_default.motionfield"


def addon_module(name: str):
    """A module of the installed extension, e.g. addon_module("backend")."""
    import importlib

    return importlib.import_module(f"{ADDON}.{name}")


class RecordingLayout:
    """Stands in for a panel's `layout` and records what the panel asks Blender to draw:
    (call, positional text-like arguments, keyword arguments) for labels, operators, props."""

    def __init__(self, calls: list):
        self.calls = calls

    def __getattr__(self, name):
        def record(*args, **kwargs):
            if name in ("row", "column", "box", "split", "grid_flow", "column_flow"):
                return RecordingLayout(self.calls)
            shown = [a if isinstance(a, (str, int, float, bool)) else type(a).__name__
                     for a in args]
            self.calls.append({"call": name, "args": shown,
                               "kwargs": {k: v for k, v in kwargs.items()
                                          if isinstance(v, (str, int, float, bool))}})
            return _OperatorProperties()

        return record


class _OperatorProperties:
    """What `layout.operator()` returns: properties a panel may set, ignored here."""

    def __setattr__(self, name, value):
        pass


def panel_draw_calls(panel: str = "MOTIONFIELD_PT_main") -> list:
    """What the panel's draw() asks for right now, in the 3D viewport's context."""
    window, area, sidebar = view3d()
    calls: list = []
    cls = getattr(bpy.types, panel)
    stand_in = type("Panel", (), {"layout": RecordingLayout(calls)})()
    with bpy.context.temp_override(window=window, area=area, region=sidebar):
        cls.draw(stand_in, bpy.context)
    return calls


def panel() -> dict:
    """The panel's model: `panels.panel_model(context)` where the add-on has one; else
    the same keys read off the scene properties today's panel draws from."""
    panels = addon_module("panels")
    window, area, sidebar = view3d()
    with bpy.context.temp_override(window=window, area=area, region=sidebar):
        if hasattr(panels, "panel_model"):
            return panels.panel_model(bpy.context)
        return _scene_panel_model(panels, bpy.context)


def _scene_panel_model(panels, context) -> dict:
    backend = addon_module("backend").BACKEND
    s = context.scene.motionfield
    sections = []
    for name, (label, help_text) in panels.METHODS.items():
        offered = name in backend.methods
        sections.append({"method": name, "label": label, "enabled": offered and not s.job_id,
                         "reason": help_text if offered else "not offered by this backend yet"})
    job = {"id": s.job_id, "stage": s.job_stage, "percent": s.progress} if s.job_id else None
    return {"backend": f"Backend: {backend.state}", "state": backend.state, "job": job,
            "sections": sections, "message": s.message}


def action_curves(action):
    """An action's F-curves: a slotted action's (Blender 4.4+) or a legacy one's."""
    layers = getattr(action, "layers", None)
    if layers:
        return [c for layer in layers for strip in layer.strips
                for bag in strip.channelbags for c in bag.fcurves]
    return list(action.fcurves)


def key_snapshot(name: str) -> dict:
    """Every key of the object's action: {"path[index]": [(frame, value, interpolation,
    left handle x, y, right handle x, y)]}, and each curve's value at every whole frame it
    spans ("curve@path[index]")."""
    action = bpy.data.objects[name].animation_data.action
    out = {}
    for curve in action_curves(action):
        label = f"{curve.data_path}[{curve.array_index}]"
        out[label] = [(k.co[0], k.co[1], k.interpolation, *k.handle_left, *k.handle_right)
                      for k in curve.keyframe_points]
        first, last = (int(f) for f in curve.range())
        out["curve@" + label] = [curve.evaluate(f) for f in range(first, last + 1)]
    return out


NAMESPACE = {"bpy": bpy, "view3d": view3d, "layout": layout, "show_sidebar": show_sidebar,
             "screen_rect": screen_rect, "addon_module": addon_module, "panel": panel,
             "panel_draw_calls": panel_draw_calls,
             "key_snapshot": key_snapshot, "action_curves": action_curves}


def _answer(command: dict):
    code = command["code"]
    if command.get("mode") == "exec":
        exec(compile(code, "<harness>", "exec"), NAMESPACE)
        return NAMESPACE.get("result")
    return eval(compile(code, "<harness>", "eval"), NAMESPACE)


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def tick():
    if bpy.context.window_manager.windows and not (CHANNEL / "ready").exists():
        (CHANNEL / "ready").write_text(str(os.getpid()))
    for path in sorted(CHANNEL.glob("cmd-*.json")):
        number = path.stem.split("-", 1)[1]
        try:
            command = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue  # still being written
        path.unlink()
        try:
            reply = {"ok": True, "value": _jsonable(_answer(command))}
        except Exception:  # the harness gets every failure, with its traceback
            reply = {"ok": False, "error": traceback.format_exc()}
        partial = CHANNEL / f"ans-{number}.part"
        partial.write_text(json.dumps(reply))
        partial.rename(CHANNEL / f"ans-{number}.json")
    return TICK_SECONDS


bpy.app.timers.register(tick, first_interval=0.5, persistent=True)
