"""Text to Motion in Blender: a prompt's K variations (the backend's `text2motion` job) land
as K Actions on one armature, the first assigned; the others can be flipped through.

Each variation's Action records the group it belongs to and its number (custom properties
`motionfield_t2m` and `motionfield_t2m_variation`, plus the prompt), and the armature
records its group, so flipping finds the variations by data, whatever they are renamed to;
they are kept with a fake user, so a variation not assigned is saved with the file too.
Nothing here is job state: undo takes a generation back with its Actions.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import bpy
import numpy as np
from bpy.props import FloatProperty, IntProperty, StringProperty

from .apply import Output, apply_motion, output_fps
from .keyframes import scene_fps, write_motion

GROUP = "motionfield_t2m"                # on the armature and on each variation's Action
NUMBER = "motionfield_t2m_variation"     # 1..K on each variation's Action
PROMPT = "motionfield_t2m_prompt"
NAME_CHARS = 63                          # an ID name's length (bytes) in Blender 4.x


def _shortened(text: str, room: int) -> str:
    """`text` on one line, cut to `room` UTF-8 bytes (an ID name's limit) with "..."."""
    text = " ".join(text.split())
    if len(text.encode()) <= room:
        return text
    while len((text + "...").encode()) > room:
        text = text[:-1]
    return text.rstrip() + "..."


def action_name(prompt: str, number: int) -> str:
    """"t2m: a person waves happily #2", the prompt shortened to fit an ID name."""
    suffix = f" #{number}"
    return f"t2m: {_shortened(prompt, NAME_CHARS - len('t2m: ') - len(suffix))}{suffix}"


def variation_arrays(arrays: dict, k: int) -> dict:
    """The k-th motion (0-based) of a result, as a one-motion result's arrays: a stacked
    result holds rotations (K, T, 24, 4) and root_translation (K, T, 3)."""
    rotations = np.asarray(arrays["rotations"])
    if rotations.ndim == 3:
        if k != 0:
            raise IndexError(f"variation {k + 1} of a result of one motion")
        return arrays
    return {**arrays, "rotations": rotations[k],
            "root_translation": np.asarray(arrays["root_translation"])[k]}


def variation_count(arrays: dict) -> int:
    rotations = np.asarray(arrays["rotations"])
    return len(rotations) if rotations.ndim == 4 else 1


def land_variations(scene, content: dict, arrays: dict, output: Output,
                    target=None) -> tuple:
    """Key every variation of a text2motion result as its own Action on one armature: a new
    SMPL armature named from the prompt (made active and selected), or `target` retargeted
    (Output.target SELECTED). The first variation is assigned. Returns (object, [actions])."""
    prompt = str(content.get("prompt", "motion"))
    count = variation_count(arrays)
    # the variations are flipped through, so none goes to the NLA
    first = replace(output, action_name=action_name(prompt, 1), push_to_nla=False)
    obj, action = apply_motion(scene, content, variation_arrays(arrays, 0), first, target)
    if output.target != "SELECTED":
        obj.name = obj.data.name = f"t2m: {_shortened(prompt, NAME_CHARS - 5)}"
        # its slot takes the name too, as the further variations' slots will (Blender
        # matches slots by name when an Action is assigned by hand)
        for slot in getattr(action, "slots", ()):
            slot.name_display = obj.name
    actions = [action]
    for k in range(1, count):
        actions.append(_key_variation(scene, obj, content, variation_arrays(arrays, k),
                                      replace(first, action_name=action_name(prompt, k + 1))))
    group = uuid.uuid4().hex[:12]
    obj[GROUP] = group
    for number, each in enumerate(actions, 1):
        each[GROUP], each[NUMBER], each[PROMPT] = group, number, prompt
        each.use_fake_user = True
    show(obj, actions[0])
    layer = bpy.context.view_layer
    if output.target != "SELECTED" and obj.name in layer.objects:
        # active, so its variations show in the panel at once
        for other in layer.objects.selected:
            other.select_set(False)
        layer.objects.active = obj
        obj.select_set(True)
    return obj, actions


def _key_variation(scene, obj, content: dict, arrays: dict, output: Output):
    """A further variation as a new Action on `obj`, landed as the first one was."""
    if output.target == "SELECTED":
        return apply_motion(scene, content, arrays, output, obj)[1]
    return write_motion(obj, list(content["joint_names"]), arrays["rotations"],
                        arrays["root_translation"], arrays["times"], fps=scene_fps(scene),
                        start_frame=output.start_frame, action_name=output.action_name)


def variations(obj) -> list:
    """The Actions of the generation `obj` shows, in variation order ([] if none)."""
    group = obj.get(GROUP) if obj is not None else None
    if not group:
        return []
    found = [a for a in bpy.data.actions if a.get(GROUP) == group]
    return sorted(found, key=lambda a: int(a.get(NUMBER, 0)))


def current(obj) -> tuple[int, int]:
    """(the assigned variation's number, 1-based; 0 if none of them, how many there are)."""
    found = variations(obj)
    assigned = obj.animation_data.action if obj is not None and obj.animation_data else None
    number = next((i for i, a in enumerate(found, 1) if a == assigned), 0)
    return number, len(found)


def show(obj, action) -> None:
    """Assign `action` to `obj`, with its slot (slotted actions, Blender 4.4+)."""
    obj.animation_data_create()
    obj.animation_data.action = action
    slots = getattr(action, "slots", None)
    if slots:
        obj.animation_data.action_slot = slots[0]


def flip(obj, step: int = 0, number: int = 0):
    """Assign variation `number` (1-based), or the one `step` away from the assigned one
    (wrapping around); returns the Action assigned. ValueError when `obj` has none."""
    found = variations(obj)
    if not found:
        raise ValueError("select an armature made by Text to Motion (it has variations)")
    if number:
        if not 1 <= number <= len(found):
            raise ValueError(f"variation {number}: there are {len(found)}")
        chosen = found[number - 1]
    else:
        at = current(obj)[0] - 1
        if at < 0:  # another Action is assigned: a step on starts at the first, back at the last
            at = -1 if step > 0 else 0
        chosen = found[(at + step) % len(found)]
    show(obj, chosen)
    return chosen


def conclude(scene, content: dict, arrays: dict, output: Output, target) -> str:
    """Land a finished job's result; the panel's message."""
    obj, actions = land_variations(scene, content, arrays, output, target)
    return f"keyed {len(actions)} variations of \"{content.get('prompt', '')}\" on {obj.name}"


class MOTIONFIELD_OT_text2motion(bpy.types.Operator):
    """Generate motion from a sentence: each variation becomes an Action on one armature"""
    bl_idname = "motionfield.text2motion"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}

    # the text2motion job's bounds (a test holds them equal to its schema)
    prompt: StringProperty(name="Prompt", default="", maxlen=300,
                           description="what the motion shows, e.g. 'a person waves happily'")
    seconds: FloatProperty(name="Seconds", default=4.0, min=1.0, max=60.0,
                           description="how long the motion lasts")
    variations: IntProperty(name="Variations", default=3, min=1, max=8,
                            description="how many different motions to make")
    seed: IntProperty(name="Seed", default=0, min=0, max=2**31 - 1,
                      description="the same seed and prompt give the same motions")
    guidance: FloatProperty(name="Guidance", default=4.0, min=0.0, max=10.0,
                            description="how closely to follow the prompt (1: the plain "
                                        "model, 0: ignore it, higher: closer, less varied)")

    def execute(self, context):
        from .backend import BACKEND, BackendError
        from .operators import _settings_output, _watch, ensure_backend, should_block

        if not self.prompt.strip():
            self.report({"ERROR"}, "type a prompt first, e.g. 'a person waves happily'")
            return {"CANCELLED"}
        output = _settings_output(context, "t2m")
        target = context.active_object if output.target == "SELECTED" else None
        params = {"prompt": self.prompt, "seconds": self.seconds,
                  "variations": self.variations, "seed": self.seed,
                  "guidance": self.guidance, "fps": output_fps(context.scene, output)}
        try:
            if output.target == "SELECTED" and (target is None or target.type != "ARMATURE"):
                raise ValueError("select an armature to retarget onto (or output to a new "
                                 "SMPL armature)")
            ensure_backend(context)
            if should_block():
                result = BACKEND.client.run("text2motion", params)
                self.report({"INFO"}, conclude(context.scene, result.content, result.arrays,
                                               output, target))
                return {"FINISHED"}
            job = BACKEND.client.submit("text2motion", params)
        except (BackendError, OSError, ValueError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        _watch(job, "text2motion", f"generating \"{self.prompt[:40]}\"...",
               {"scene": context.scene.name, "output": output,
                "target": target.name if target else None, "text2motion": True})
        return {"FINISHED"}


class MOTIONFIELD_OT_text2motion_variation(bpy.types.Operator):
    """Assign another variation of this generation to the active armature"""
    bl_idname = "motionfield.text2motion_variation"
    bl_label = "Variation"
    bl_options = {"REGISTER", "UNDO"}

    step: IntProperty(name="Step", default=1, description="how many variations on (-1: back)")
    number: IntProperty(name="Number", default=0, min=0,
                        description="the variation to assign (1-based); 0: use Step")

    @classmethod
    def poll(cls, context):
        return bool(variations(context.active_object))

    def execute(self, context):
        try:
            action = flip(context.active_object, self.step, self.number)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{context.active_object.name}: {action.name}")
        return {"FINISHED"}


def draw(col, context, group) -> None:
    """The panel section's buttons: Generate with the section's settings, and the active
    armature's variations with previous / next."""
    from . import schema

    op = col.operator("motionfield.text2motion", icon="PLAY")
    for name in ("prompt", "seconds", "variations", "seed", "guidance"):
        if schema.value_id(name) in group.bl_rna.properties:
            setattr(op, name, getattr(group, schema.value_id(name)))
    number, count = current(context.active_object)
    if count:
        row = col.row(align=True)
        row.operator("motionfield.text2motion_variation", text="", icon="TRIA_LEFT").step = -1
        row.label(text=f"Variation {number or '-'} of {count}")
        row.operator("motionfield.text2motion_variation", text="", icon="TRIA_RIGHT").step = 1


classes = (MOTIONFIELD_OT_text2motion, MOTIONFIELD_OT_text2motion_variation)
