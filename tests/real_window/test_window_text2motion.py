"""Text to Motion in a real Blender 4.3 window, as an animator uses it: Generate through F3
(with the prompt last typed for it), the job's row and progress while it samples, the
variations as Actions keyed at the scene's 29.97 fps, flipping through them, and Ctrl+Z
taking back a flip and then the generation, leaving a panel that works."""

from __future__ import annotations

import time

from test_panel import _job_problems, _set_frame_rate

PROMPT = "a person waves happily"
SECONDS, VARIATIONS = 3.0, 2
GENERATED = "[o.name for o in bpy.data.objects if o.get('motionfield_t2m')]"
ASSIGNED = ("(lambda o: o.animation_data.action.get('motionfield_t2m_variation'))"
            "(bpy.context.view_layer.objects.active)")


def _last_prompt(animator) -> None:
    """The prompt and sizes the operator last ran with, as if typed there before."""
    animator.blender.exec(
        "p = bpy.context.window_manager.operator_properties_last('motionfield.text2motion')\n"
        f"p.prompt, p.seconds, p.variations, p.seed = {PROMPT!r}, {SECONDS}, {VARIATIONS}, 0")


def test_generate_flip_and_undo_in_a_window(animator):
    animator.start_backend()
    _set_frame_rate(animator, 30000, 1001.0)
    _last_prompt(animator)
    animator.start_sampling()
    animator.blender.run_operator("Generate")
    names = animator.blender.wait_until(f"panel()['job'] is None and {GENERATED}",
                                        timeout=120)
    problems = _job_problems(animator.stop_sampling(), "Generate")
    animator.shot("text2motion_generated")
    assert len(names) == 1, f"one generation made {names}"
    actions = animator.blender.eval(
        "sorted((a['motionfield_t2m_variation'], a.name, len(action_curves(a)[0].keyframe_points))"
        " for a in bpy.data.actions if a.get('motionfield_t2m') and "
        f"a.get('motionfield_t2m_prompt') == {PROMPT!r})")
    frames = round(SECONDS * 30000 / 1001) + 1  # both ends keyed, one key a frame
    if [a[0] for a in actions] != list(range(1, VARIATIONS + 1)):
        problems.append(f"variations keyed: {actions}")
    if any(abs(a[2] - frames) > 1 for a in actions):
        problems.append(f"keys per curve at 29.97 fps: {[a[2] for a in actions]}, "
                        f"expected {frames}")
    if animator.blender.eval(ASSIGNED) != 1:
        problems.append("variation 1 is not the one assigned after generating")

    animator.blender.run_operator("Variation")  # the section's > arrow: the next one
    animator.blender.wait_until(f"{ASSIGNED} == 2", timeout=10)
    animator.shot("text2motion_flipped")
    animator.blender.undo()
    time.sleep(1.0)
    if animator.blender.eval(ASSIGNED) != 1:
        problems.append("Ctrl+Z after a flip did not assign variation 1 again")
    animator.blender.undo()
    time.sleep(1.0)
    animator.shot("text2motion_undone")
    if animator.blender.eval(GENERATED):
        problems.append("Ctrl+Z after generating left the armature")
    problems += animator.unusable("Generate, flip, Ctrl+Z twice")
    assert not problems, "\n".join(problems)
