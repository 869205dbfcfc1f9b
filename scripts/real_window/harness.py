"""Drive a real Blender window: Debian trixie's Blender 4.3 (Python 3.13) under Xvfb in a
chroot (scripts/real_window/setup_chroot.sh builds it), with the extension installed from
the zip `motionfield addon build` makes, and real input through xdotool.

    with RealBlender(workdir) as blender:
        blender.install_extension(zip_path)
        blender.configure(connection_file=F)           # or python=".venv/bin/python"
        blender.launch()
        blender.run_operator("Start Backend")          # hover, F3, type, Enter
        blender.key("ctrl+z")
        blender.eval("bpy.context.scene.frame_current")  # read state after real input
        blender.screenshot(Path("shot.png"))

Paths are the same inside and outside the chroot (/tmp, /work and the host Python are bind
mounted), so the harness passes host paths to Blender unchanged.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np

CHROOT = Path(os.environ.get("MOTIONFIELD_CHROOT", "/srv/trixie"))
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCREEN = (1600, 1000)


class HarnessError(RuntimeError):
    pass


def chroot_ready() -> bool:
    """Whether the chroot holds Blender, Xvfb and xdotool (and we may chroot: root)."""
    return os.geteuid() == 0 and all(
        (CHROOT / p).exists() for p in ("usr/bin/blender", "usr/bin/Xvfb", "usr/bin/xdotool"))


def ensure_mounts() -> None:
    subprocess.run(["bash", str(HERE / "mounts.sh"), str(CHROOT)], check=True,
                   stdout=subprocess.DEVNULL)


class RealBlender:
    """One Xvfb display and one Blender in it, with a fresh user configuration in `workdir`
    (which must lie under /tmp or /work, the paths the chroot shares)."""

    def __init__(self, workdir: Path, display: int = 77, backend_source: Path | None = None):
        self.workdir = Path(workdir).resolve()
        self.display = display
        # a checkout's backend/ folder for the backend Blender starts (default: the venv's)
        self.backend_source = backend_source
        self.config = self.workdir / "blender_user"
        self.channel = self.workdir / "agent"
        self.log_path = self.workdir / "blender.log"
        self.xvfb: subprocess.Popen | None = None
        self.blender: subprocess.Popen | None = None
        self._numbers = itertools.count()
        for folder in (self.config, self.channel):
            folder.mkdir(parents=True, exist_ok=True)

    # -- processes -------------------------------------------------------------------------

    def _env(self) -> list[str]:
        source = [f"PYTHONPATH={self.backend_source}"] if self.backend_source else []
        return ["env", "-i", f"DISPLAY=:{self.display}", "HOME=/root", "LANG=C.UTF-8",
                "PATH=/usr/local/bin:/usr/bin:/bin", f"BLENDER_USER_RESOURCES={self.config}",
                f"MOTIONFIELD_AGENT_DIR={self.channel}", *source]

    def chroot_command(self, *argv: str) -> list[str]:
        """argv run inside the chroot with this display and user configuration."""
        return ["chroot", str(CHROOT), *self._env(), *argv]

    def start_display(self) -> None:
        ensure_mounts()
        socket = Path(f"/tmp/.X11-unix/X{self.display}")
        if socket.exists():
            raise HarnessError(f"display :{self.display} is taken ({socket})")
        self.xvfb = subprocess.Popen(
            self.chroot_command("Xvfb", f":{self.display}", "-screen", "0",
                                f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(socket.exists, 20, f"Xvfb :{self.display} did not start")

    def blender_batch(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Blender in the background with this user configuration (exit status kept)."""
        return subprocess.run(self.chroot_command("blender", "--background", *args),
                              capture_output=True, text=True, timeout=timeout)

    def install_extension(self, zip_path: Path) -> str:
        """Blender's own installer: `blender -c extension install-file -r user_default -e
        ZIP`. Returns its output; raises HarnessError with it when the install fails."""
        done = self.blender_batch("--command", "extension", "install-file", "-r",
                                  "user_default", "-e", str(Path(zip_path).resolve()))
        output = done.stdout + done.stderr
        if done.returncode != 0 or "Error" in output or "incompatible" in output:
            raise HarnessError(f"extension install failed (exit {done.returncode}):\n{output}")
        return output

    def drop_cp311_wheels(self) -> None:
        """For reproducing panel bugs on code whose zip Blender refuses on Python 3.13 only:
        keep the installed extension's cp312-abi3 wheels and drop the cp311 ones from its
        manifest (the entries that make Blender call it 3.11-only), so Blender installs the
        abi3 wheel itself when the add-on is enabled. Never used for pictures or checks of
        the install itself."""
        manifest = self.config / "extensions/user_default/motionfield/blender_manifest.toml"
        lines = manifest.read_text().splitlines(keepends=True)
        manifest.write_text("".join(line for line in lines if "-cp311-cp311-" not in line))
        (self.config / "extensions/.cache/compat.dat").unlink(missing_ok=True)

    def configure(self, connection_file: Path | None = None, python: str | None = None) -> None:
        """Save preferences: no splash, operator search in F3 (Developer Extras), and the
        add-on connecting to `connection_file` or starting a backend with `python`."""
        mode = "CONNECT" if connection_file else "LOCAL"
        code = (
            "import bpy, addon_utils\n"
            "addon_utils.enable('bl_ext.user_default.motionfield', default_set=True)\n"
            "p = bpy.context.preferences\n"
            "p.view.show_splash = False\n"
            "p.view.show_developer_ui = True\n"
            "a = p.addons['bl_ext.user_default.motionfield'].preferences\n"
            f"a.backend_mode = {mode!r}\n"
            f"a.connection_file = {str(connection_file or '')!r}\n"
            f"a.python = {str(python or '')!r}\n"
            "bpy.ops.wm.save_userpref()\n"
            "print('CONFIGURED', a.backend_mode, a.connection_file, a.python)\n")
        done = self.blender_batch("--python-exit-code", "1", "--python-expr", code)
        if "CONFIGURED" not in done.stdout:
            raise HarnessError(f"could not save preferences:\n{done.stdout}{done.stderr}")

    def launch(self, timeout: float = 120) -> None:
        """Open Blender's window on the display, with the agent's command channel."""
        if self.xvfb is None:
            self.start_display()
        for stale in self.channel.iterdir():
            stale.unlink()
        with open(self.log_path, "ab") as log:
            # chroot and env exec, so this process is Blender itself (kill -9 hits Blender)
            self.blender = subprocess.Popen(
                self.chroot_command("blender", "--window-geometry", "0", "0", str(SCREEN[0]),
                                    str(SCREEN[1]), "--python", str(HERE / "agent.py")),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _wait_for(lambda: (self.channel / "ready").exists() or self.blender.poll() is not None,
                  timeout, "Blender's window did not open")
        if self.blender.poll() is not None:
            raise HarnessError(f"Blender exited ({self.blender.returncode}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill_blender(self) -> None:
        """kill -9, as a crash would."""
        if self.blender is not None and self.blender.poll() is None:
            os.kill(self.blender.pid, signal.SIGKILL)
            self.blender.wait(10)

    def close(self) -> None:
        self.kill_blender()
        if self.xvfb is not None and self.xvfb.poll() is None:
            self.xvfb.terminate()
            self.xvfb.wait(10)
        self.xvfb = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the command channel ---------------------------------------------------------------

    def _ask(self, code: str, mode: str, timeout: float):
        if self.blender is None or self.blender.poll() is not None:
            raise HarnessError(f"Blender is not running:\n{self.log_tail()}")
        number = f"{next(self._numbers):06d}"
        partial = self.channel / f"cmd-{number}.part"
        partial.write_text(json.dumps({"code": code, "mode": mode}))
        partial.rename(self.channel / f"cmd-{number}.json")
        answer = self.channel / f"ans-{number}.json"
        _wait_for(lambda: answer.exists() or self.blender.poll() is not None, timeout,
                  f"Blender did not answer {code[:80]!r}")
        if not answer.exists():
            raise HarnessError(f"Blender exited:\n{self.log_tail()}")
        reply = json.loads(answer.read_text())
        answer.unlink()
        if not reply["ok"]:
            raise HarnessError(f"in Blender: {code[:200]}\n{reply['error']}")
        return reply["value"]

    def eval(self, expression: str, timeout: float = 30):
        """An expression's value in Blender (JSON, or its repr)."""
        return self._ask(expression, "eval", timeout)

    def exec(self, code: str, timeout: float = 30):
        """Run statements in Blender; returns the variable `result` if they set it."""
        return self._ask(code, "exec", timeout)

    def wait_until(self, expression: str, timeout: float = 60, every: float = 0.1):
        """Poll an expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise HarnessError(f"still false after {timeout} s: {expression}")
            time.sleep(every)

    # -- real input ------------------------------------------------------------------------

    def xdotool(self, *args: str) -> None:
        subprocess.run(self.chroot_command("xdotool", *args), check=True)

    def move(self, x: int, y: int) -> None:
        self.xdotool("mousemove", str(int(x)), str(int(y)))

    def click(self, x: int, y: int, button: int = 1) -> None:
        self.move(x, y)
        time.sleep(0.1)
        self.xdotool("click", str(button))

    def key(self, *combos: str) -> None:
        """X key names joined by '+': "ctrl+z", "F3", "Return"."""
        self.xdotool("key", "--delay", "60", *combos)

    def type_text(self, text: str) -> None:
        self.xdotool("type", "--delay", "40", text)

    def hover_viewport(self) -> None:
        """The pointer over the 3D viewport's middle (keys go where the pointer is)."""
        area = self.eval("layout()['viewport']")
        sidebar = self.eval("layout()['sidebar']")
        right = sidebar["x"] if sidebar["width"] > 1 else area["x"] + area["width"]
        self.move((area["x"] + right) // 2, area["y"] + area["height"] // 2)
        time.sleep(0.2)

    def run_operator(self, label: str) -> None:
        """As an animator does: pointer on the viewport, F3, type the name, Enter."""
        self.hover_viewport()
        self.key("F3")
        time.sleep(0.6)
        self.type_text(label)
        time.sleep(0.8)
        self.key("Return")
        time.sleep(0.5)

    def undo(self) -> None:
        self.hover_viewport()
        self.key("ctrl+z")
        time.sleep(0.5)

    def screenshot(self, path: Path) -> Path:
        """The whole X screen (xwd -root) as a PNG."""
        raw = self.workdir / "screen.xwd"
        subprocess.run(self.chroot_command("xwd", "-root", "-silent", "-out", str(raw)),
                       check=True)
        write_png(Path(path), xwd_pixels(raw.read_bytes()))
        raw.unlink()
        return Path(path)


def _wait_for(ready, timeout: float, message: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise HarnessError(message)
        time.sleep(every)


def xwd_pixels(data: bytes) -> np.ndarray:
    """An X window dump (ZPixmap, 24-bit colour in 24- or 32-bit pixels: `xwd -root` of
    Xvfb's 24-bit screen writes either) as an (H, W, 3) uint8 RGB array."""
    header = struct.unpack(">25I", data[:100])
    header_size, _, pixmap_format, _, width, height = header[:6]
    byte_order, bits_per_pixel, bytes_per_line = header[7], header[11], header[12]
    masks, ncolors = header[14:17], header[19]
    if pixmap_format != 2 or bits_per_pixel not in (24, 32):
        raise HarnessError(f"unsupported xwd: format {pixmap_format}, {bits_per_pixel} bpp")
    start = header_size + 12 * ncolors
    size = bits_per_pixel // 8
    rows = np.frombuffer(data, np.uint8, height * bytes_per_line, start)
    pixel_bytes = rows.reshape(height, bytes_per_line)[:, :width * size]
    pixel_bytes = pixel_bytes.reshape(height, width, size).astype(np.uint32)
    if byte_order != 0:  # MSBFirst: the first byte is the most significant
        pixel_bytes = pixel_bytes[..., ::-1]
    pixels = sum(pixel_bytes[..., i] << (8 * i) for i in range(size))
    channels = [(pixels & m) >> ((m & -m).bit_length() - 1) for m in masks]  # mask's low bit
    return np.stack(channels, axis=-1).astype(np.uint8)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """An (H, W, 3) uint8 array as an 8-bit RGB PNG."""
    height, width, _ = rgb.shape
    scanlines = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, -1)], 1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6))
                     + chunk(b"IEND", b""))


def start_backend(connection_file: Path, log: Path, source: Path | None = None) -> subprocess.Popen:
    """`motionfield serve` on the host (loopback is shared with the chroot), from the venv's
    package or from a checkout's backend/ folder (`source`): the add-on and the backend must
    come from the same code, as their protocol changes together."""
    if connection_file.exists():
        connection_file.unlink()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if source:
        env["PYTHONPATH"] = str(source)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), "-m", "motionfield.cli", "serve",
             "--connection-file", str(connection_file)], stdout=out,
            stderr=subprocess.STDOUT, env=env)
    _wait_for(lambda: connection_file.exists() or process.poll() is not None, 60,
              "the backend did not write its connection file")
    if process.poll() is not None:
        raise HarnessError(f"the backend exited: {log.read_text()[-2000:]}")
    return process


def build_extension(out_dir: Path) -> Path:
    """The zip `motionfield addon build` makes, unchanged."""
    done = subprocess.run([str(ROOT / ".venv/bin/motionfield"), "addon", "build", "-o",
                           str(out_dir)], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip().splitlines()[-1])

