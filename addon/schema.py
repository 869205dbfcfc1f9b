"""Panel settings built from the backend's parameter schema (what `info` sends per method).

On connect, each method gets a PropertyGroup of its `panel: True` parameters, registered on
the window manager as `motionfield_<method>` (so neither files nor undo keep it); the
groups go again when the backend stops. A number becomes a FloatProperty, an integer an
IntProperty, a string with choices an EnumProperty, a boolean a BoolProperty, bounds from
`minimum`/`maximum`. A parameter that is optional without a default gets a `use_<name>`
switch: left off, the job picks its own value.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

INT_LIMIT = 2**31 - 1  # Blender's IntProperty is 32-bit
DRAWN = ("number", "integer", "boolean", "string")  # an "object" parameter is not drawn
_registered: dict[str, tuple[type, dict]] = {}  # method -> (its group, its schema)


def value_id(param: str) -> str:
    """The group's property that holds `param` (prefixed: a PropertyGroup has its own `name`)."""
    return f"p_{param}"


def use_id(param: str) -> str:
    return f"use_{param}"


def panel_params(method: dict) -> dict[str, dict]:
    """The parameters a panel shows: `panel` ones that a property can hold."""
    return {name: spec for name, spec in method.get("params", {}).items()
            if spec.get("panel", True) and name.isidentifier() and spec.get("type") in DRAWN}


def sync(methods: dict[str, dict]) -> None:
    """Register a group per offered method (kept where its schema is unchanged, so the values
    typed in stay), and unregister the groups of methods no longer offered."""
    for name in list(_registered):
        if name not in methods or _registered[name][1] != methods[name]:
            _unregister(name)
    for name, method in methods.items():
        if name not in _registered and name.isidentifier():
            _register(name, method)


def clear() -> None:
    for name in list(_registered):
        _unregister(name)


def settings(context, method: str):
    """The method's settings on the window manager, or None when the backend does not offer
    it (or is stopped)."""
    return getattr(context.window_manager, f"motionfield_{method}", None) \
        if method in _registered else None


def params_from(group, method: dict) -> dict:
    """The job parameters the panel sets: each shown parameter's value, an optional one only
    when its switch is on."""
    out = {}
    for name, spec in panel_params(method).items():
        if _switched(spec) and not getattr(group, use_id(name)):
            continue
        value = getattr(group, value_id(name))
        out[name] = int(value) if spec["type"] == "integer" else value
    return out


def bounds(method: str, param: str) -> tuple[float, float]:
    """(hard_min, hard_max) of a registered group's property, as Blender holds them."""
    rna = _registered[method][0].bl_rna.properties[value_id(param)]
    return rna.hard_min, rna.hard_max


def _switched(spec: dict) -> bool:
    return bool(spec.get("optional")) and spec.get("default") is None


def _register(name: str, method: dict) -> None:
    annotations = {}
    for param, spec in panel_params(method).items():
        annotations[value_id(param)] = _property(param, spec)
        if _switched(spec):
            annotations[use_id(param)] = BoolProperty(
                name=f"Set {_title(param)}", description="off: the job's own choice")
    group = type(f"MOTIONFIELD_PG_{name}", (bpy.types.PropertyGroup,),
                 {"__annotations__": annotations})
    bpy.utils.register_class(group)
    setattr(bpy.types.WindowManager, f"motionfield_{name}",
            bpy.props.PointerProperty(type=group))
    _registered[name] = (group, method)


def _unregister(name: str) -> None:
    group, _ = _registered.pop(name)
    delattr(bpy.types.WindowManager, f"motionfield_{name}")
    bpy.utils.unregister_class(group)


def _title(param: str) -> str:
    return param.replace("_", " ").capitalize()


def _property(param: str, spec: dict):
    """The bpy property for one parameter's schema (a type in DRAWN)."""
    kind, default = spec.get("type"), spec.get("default")
    common = {"name": _title(param), "description": str(spec.get("help", ""))}
    if kind in ("number", "integer"):
        low, high = spec.get("minimum"), spec.get("maximum")
        start = default if default is not None else (low if low is not None else 0)
        if kind == "number":
            limits = {k: float(v) for k, v in (("min", low), ("max", high)) if v is not None}
            return FloatProperty(default=float(start), precision=3, **limits, **common)
        limits = {k: int(max(min(v, INT_LIMIT), -INT_LIMIT))
                  for k, v in (("min", low), ("max", high)) if v is not None}
        return IntProperty(default=int(start), **limits, **common)
    if kind == "boolean":
        return BoolProperty(default=bool(default), **common)
    if kind == "string" and spec.get("choices"):
        choices = [str(c) for c in spec["choices"]]
        items = [(c, _title(c), "") for c in choices]
        return EnumProperty(items=items, default=default if default in choices else choices[0],
                            **common)
    return StringProperty(default=str(default or ""), **common)
