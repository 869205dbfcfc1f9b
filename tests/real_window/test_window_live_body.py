"""Live Body in a real Blender 4.3 window, as an animator uses it: head and hand objects
moving while the timeline plays, Live Body started through F3, the armature following the
head as it moves, Esc stopping it with the recording keyed as an Action, and Ctrl+Z taking
the whole take back, leaving a panel that works."""

from __future__ import annotations

import time

from harness import HarnessError  # scripts/real_window, put on the path by conftest

MAKE_OBJECTS = """
import math
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 30, 1.0
scene.frame_start, scene.frame_end = 1, 240
scene.frame_set(1)
# OpenXR axes in Blender's world: a camera-like head looking along +Y (local -Z), hands
# ahead and below it, fingers forward; everything walks 2 m along +Y over 8 s
for name, (x, z) in {"head": (0.0, 1.6), "left_hand": (0.25, 1.15),
                     "right_hand": (-0.25, 1.15)}.items():
    obj = bpy.data.objects.new(name, None)
    scene.collection.objects.link(obj)
    obj.rotation_euler = (math.radians(90), 0.0, 0.0)
    for frame, y in ((1, 0.0), (240, 2.0)):
        obj.location = (x, y + (0.3 if name != "head" else 0.0), z)
        obj.keyframe_insert("location", frame=frame)
    for curve in obj.animation_data.action.fcurves:
        for key in curve.keyframe_points:
            key.interpolation = "LINEAR"
"""
HEAD_ERROR = ("(lambda a, h: (a.matrix_world @ a.pose.bones['head'].head - "
              "h.matrix_world.translation).length)(bpy.data.objects['live_body'], "
              "bpy.data.objects['head'])")
LIVE = "'live_body' in bpy.data.objects"


def test_live_body_follows_records_and_undoes_in_a_window(animator):
    blender = animator.blender
    animator.start_backend()
    blender.exec(MAKE_OBJECTS + "bpy.data.objects['Cube'].hide_set(True)\n")
    blender.hover_viewport()
    blender.key("space")  # play: the objects move as a VR add-on would move them
    blender.run_operator("Live Body")
    try:
        blender.wait_until(LIVE, timeout=30)
    except HarnessError:
        animator.shot("live_body_not_started")
        raise AssertionError(f"Live Body made no armature:\n{blender.log_tail()}") from None
    problems = []
    samples = []
    for _ in range(6):
        time.sleep(0.5)
        samples.append((blender.eval("bpy.context.scene.frame_current"),
                        blender.eval(HEAD_ERROR),
                        blender.eval("tuple(bpy.data.objects['live_body'].pose.bones"
                                     "['pelvis'].location)")))
    animator.shot("live_body_running")
    frames = [s[0] for s in samples]
    if len(set(frames)) < 3:
        problems.append(f"the timeline did not play while Live Body ran: frames {frames}")
    if max(s[1] for s in samples) > 0.03:
        problems.append(f"the armature's head strays from the head object: "
                        f"{[round(s[1], 4) for s in samples]} m")
    if len({tuple(s[2]) for s in samples}) < 3:
        problems.append("the armature did not move with the objects")
    blender.hover_viewport()
    blender.key("Escape")  # ends Live Body (its modal handler takes the key first)
    keys = blender.wait_until(
        "(lambda a: a and len(a.fcurves[0].keyframe_points))("
        "bpy.data.actions.get('live_body'))", timeout=20)
    blender.key("space")  # stop playing
    time.sleep(0.5)
    animator.shot("live_body_recorded")
    # one key per answered sample: fewer than the 30 Hz asked for on a loaded machine,
    # where Blender plays at 1 to 2 fps and its timers come late (21 keys in 3 s there)
    print(f"Live Body recorded {keys} keys over about 3 s")
    if keys < 10:
        problems.append(f"only {keys} keys recorded over about 3 s")
    blender.undo()
    time.sleep(1.0)
    if blender.eval(LIVE):
        problems.append("Ctrl+Z after Live Body left its armature")
    problems += animator.unusable("Live Body, Esc, Ctrl+Z")
    assert not problems, "\n".join(problems)
