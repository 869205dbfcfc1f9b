"""docs/img/panel_blender43.png: the motionfield panel in Debian's Blender 4.3 (Python 3.13)
from a real window. The zip `motionfield addon build` makes is installed by Blender's own
installer, unchanged; the backend runs on the host and Blender connects to it; a CMU walk is
imported onto a new SMPL armature through F3 and the file browser.

    .venv/bin/python scripts/real_window/picture.py [--zip ZIP --backend-source DIR/backend]
        [--out docs/img/panel_blender43.png]

Run as root once scripts/real_window/setup_chroot.sh has built the chroot.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from animator import Animator
from harness import ROOT, RealBlender, build_extension, chroot_ready, start_backend

from motionfield.data import sources

WHERE_ZMQ = ("__import__('zmq').__file__, __import__('sys').version.split()[0], "
             "bpy.app.version_string")


def take(zip_path: Path | None, out: Path, backend_source: Path | None = None) -> None:
    work = Path(tempfile.mkdtemp(prefix="motionfield-picture-", dir="/tmp"))
    try:
        zip_path = zip_path or build_extension(work / "dist")
        bvh = work / "02_01.bvh"
        shutil.copy(sources.unpack() / "cmu_bvh" / "02_01.bvh", bvh)
        backend = start_backend(work / "connection.json", work / "backend.log", backend_source)
        try:
            with RealBlender(work, display=79) as blender:
                blender.start_display()
                print(blender.install_extension(zip_path).strip())
                blender.configure(connection_file=work / "connection.json")
                blender.launch()
                _pose(Animator(blender, {"02_01": bvh}, work), out)
        finally:
            backend.terminate()
            backend.wait(10)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pose(animator: Animator, out: Path) -> None:
    blender = animator.blender
    blender.eval("show_sidebar()")
    time.sleep(0.5)
    blender.eval("show_sidebar()")
    blender.exec("bpy.data.objects.remove(bpy.data.objects['Cube'])")  # a clear stage
    animator.start_backend()
    name = animator.import_mocap("02_01")
    zmq_file, python, version = blender.eval(WHERE_ZMQ)
    print(f"Blender {version}, Python {python}, zmq from {zmq_file}")
    if "/extensions/.local/" not in zmq_file:
        raise SystemExit(f"zmq did not come from the extension's wheels: {zmq_file}")
    blender.exec("bpy.context.window_manager.windows[0].scene.frame_set(60)")
    blender.hover_viewport()
    blender.key("KP_Decimal")  # View Selected: frame the armature
    time.sleep(1.5)
    for _ in range(3):  # and zoom out a little
        blender.xdotool("click", "5")
        time.sleep(0.2)
    blender.move(5, 995)  # the pointer off the panel, so nothing is highlighted
    time.sleep(0.5)
    animator.shot(out.stem)
    shutil.copy(animator.shots / f"{out.stem}.png", out)
    print(f"wrote {out} ({name} imported; panel: {animator.panel()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zip", type=Path, help="extension zip (default: build one now)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img/panel_blender43.png")
    parser.add_argument("--backend-source", type=Path,
                        help="the backend/ folder of the checkout the zip was built from")
    args = parser.parse_args()
    if not chroot_ready():
        raise SystemExit("no chroot: run scripts/real_window/setup_chroot.sh as root")
    take(args.zip, args.out.resolve(), args.backend_source)


if __name__ == "__main__":
    main()
