"""What an animator does in a real Blender window with motionfield (F3 to run operators,
the file browser to import, Ctrl+Z), and what checks read back (the panel's model, what its
draw() asks for, keys, screenshots)."""

from __future__ import annotations

import time
from pathlib import Path

from harness import RealBlender


class Animator:
    """What an animator does in the window, and what the checks read back."""

    def __init__(self, blender: RealBlender, bvh: dict[str, Path], shots: Path):
        self.blender = blender
        self.bvh = bvh
        self.shots = shots

    def panel(self) -> dict:
        return self.blender.eval("panel()")

    def draw_calls(self) -> list[dict]:
        return self.blender.eval("panel_draw_calls()")

    def shot(self, name: str) -> Path:
        return self.blender.screenshot(self.shots / f"{name}.png")

    def start_backend(self) -> None:
        self.blender.run_operator("Start Backend")
        self.blender.wait_until("panel()['state'] in ('ready', 'busy')", timeout=30)

    def objects(self) -> list[str]:
        return self.blender.eval("sorted(o.name for o in bpy.data.objects)")

    def armatures(self) -> list[str]:
        return self.blender.eval(
            "sorted(o.name for o in bpy.data.objects if o.type == 'ARMATURE')")

    def import_mocap(self, name: str, wait: bool = True) -> str | None:
        """Import Mocap through F3 and its file browser (which opens on the file: the
        operator's last-used path, as after an earlier import); returns the new armature,
        made active."""
        before = set(self.armatures())
        self.blender.exec(
            "bpy.context.window_manager.operator_properties_last("
            f"'motionfield.import_mocap').filepath = {str(self.bvh[name])!r}")
        self.blender.run_operator("Import Mocap onto SMPL")
        browser = self.blender.wait_until(
            "[a for w in layout()['windows'] for a in w['areas'] if a['type'] == "
            "'FILE_BROWSER']", timeout=10)[0]
        self.blender.move(browser["x"] + browser["width"] // 2,
                          browser["y"] + browser["height"] // 2)
        time.sleep(0.3)
        self.blender.key("Return")
        if not wait:
            return None
        new = self.blender.wait_until(
            f"panel()['job'] is None and sorted(set(o.name for o in bpy.data.objects "
            f"if o.type == 'ARMATURE') - {before!r})", timeout=90)
        if len(new) != 1:
            raise AssertionError(f"one import made armatures {new}")
        self.make_active(new[0])
        return new[0]

    def make_active(self, name: str) -> None:
        """Select the object, as a click in the outliner would (setup, not under test)."""
        self.blender.exec(
            "w = bpy.context.window_manager.windows[0]\n"
            f"obj = bpy.data.objects[{name!r}]\n"
            "for o in w.view_layer.objects: o.select_set(False)\n"
            "obj.select_set(True)\n"
            "w.view_layer.objects.active = obj\n")

    def keys(self, name: str) -> dict:
        return self.blender.eval(f"key_snapshot({name!r})")

    def start_sampling(self) -> None:
        """Record panel() every 20 ms in Blender, what each redraw would show, with the
        time ("t") and how many objects the file holds ("objects")."""
        self.blender.exec(
            "import time\n"
            "samples = []\n"
            "def sample():\n"
            "    samples.append({**panel(), 't': time.monotonic(),\n"
            "                    'objects': len(bpy.data.objects)})\n"
            "    return 0.02\n"
            "bpy.app.timers.register(sample)\n")

    def stop_sampling(self) -> list[dict]:
        return self.blender.exec("bpy.app.timers.unregister(sample)\nresult = samples")

    def unusable(self, context: str) -> list[str]:
        """What keeps the panel from being used: a job row, the backend's methods disabled,
        a state other than ready."""
        model = self.panel()
        problems = []
        if model["job"] is not None:
            problems.append(f"{context}: a job row is stuck: {model['job']}")
        if model["state"] != "ready":
            problems.append(f"{context}: state {model['state']!r}")
        offered = {s["method"]: s["enabled"] for s in model["sections"]
                   if s["method"] in ("convert", "predict")}
        if not all(offered.values()):
            problems.append(f"{context}: buttons disabled: {offered}")
        return problems

    def assert_usable(self, context: str) -> None:
        problems = self.unusable(context)
        assert not problems, "\n".join(problems)
