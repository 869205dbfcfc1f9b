"""The backend's lifecycle as the add-on sees it: start a local one, or connect to a running
one; tell a dead backend from a busy one by its heartbeat. No UI here, no bpy module use.

A backend this Blender starts ends with it: `serve --parent-pid` watches Blender's process
(a crash included), and the add-on stops it at a clean exit.

The client comes from the vendored `wire` package inside the built extension, or from the
installed motionfield package when the add-on runs from a source checkout (tests, developers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

try:
    from .wire.client import BackendError, BackendGone, Client
except ImportError:  # a source checkout: the backend package is importable directly
    from motionfield.client import BackendError, BackendGone, Client

STATES = ("stopped", "starting", "ready", "busy", "dead")


class Backend:
    """One backend connection for this Blender session."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.client: Client | None = None
        self.state = "stopped"
        self.message = ""
        self.log_path: Path | None = None
        self.connection_file: Path | None = None
        self.python = ""
        self.smpl_folders: tuple[str, ...] = ()  # what a backend started here may read
        self.methods: dict = {}  # name -> its schema from `info`, in the backend's order
        self.on_methods: list[Callable[[dict], None]] = []  # told when `methods` changes

    def _set_methods(self, methods: dict) -> None:
        self.methods = methods
        for listener in self.on_methods:
            listener(methods)

    def start_local(self, python: str, timeout: float = 60.0,
                    smpl_folders: tuple[str, ...] = ()) -> None:
        """Start `python -m motionfield.cli serve` on loopback and connect (blocks until the
        backend answers, or raises BackendError with the log's tail). `smpl_folders`: the
        folders of SMPL model files jobs may read (`serve --smpl-folder`)."""
        self.stop()
        folder = Path(tempfile.mkdtemp(prefix="motionfield-"))
        self.connection_file = folder / "connection.json"
        self.log_path = folder / "backend.log"
        # no Python given: the one named for headless scripts and tests, else this one
        python = python or os.environ.get("MOTIONFIELD_BACKEND_PYTHON") or sys.executable
        self.python, self.smpl_folders = python, tuple(smpl_folders)
        allowed = [arg for f in self.smpl_folders for arg in ("--smpl-folder", f)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [python, "-m", "motionfield.cli", "serve", "--connection-file",
                 str(self.connection_file), "--parent-pid", str(os.getpid()), *allowed],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.state = "starting"
        deadline = time.monotonic() + timeout
        while not self.connection_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.state = "dead"
                raise BackendError(f"the backend did not start ({python}): {self.log_tail()}")
            time.sleep(0.05)
        self.connect(self.connection_file)

    def allow_smpl_folders(self, folders: tuple[str, ...]) -> None:
        """Restart a backend this Blender started if it was started without one of these
        SMPL folders (the preference changed since); one it only connected to is left."""
        missing = [f for f in folders if f not in self.smpl_folders]
        if self.process is not None and missing:
            self.start_local(self.python, smpl_folders=(*self.smpl_folders, *missing))

    def connect(self, connection_file: str | Path) -> None:
        """Connect to a running backend through its connection file."""
        if self.client is not None:
            self.client.close()
        self.client = Client.from_connection_file(connection_file)
        self.connection_file = Path(connection_file)
        self.heartbeat(timeout=10.0)
        self._set_methods(self.client.info()["methods"] if self.state != "dead" else {})

    def heartbeat(self, timeout: float = 1.0) -> str:
        """Ping: "ready" or "busy" (it answers while jobs run), "dead" if it does not."""
        if self.client is None:
            self.state = "stopped"
            return self.state
        if self.process_ended():
            return self.state
        try:
            began = time.perf_counter()
            reply = self.client._request("ping", timeout=timeout).content
            self.state = "busy" if reply.get("queued") else "ready"
            self.message = f"ping {1e3 * (time.perf_counter() - began):.1f} ms"
        except BackendGone as e:
            self.state, self.message = "dead", str(e)
        return self.state

    def process_ended(self) -> bool:
        """Whether the backend this Blender started has exited (then its state is "dead")."""
        if self.process is None or self.process.poll() is None:
            return False
        self.state, self.message = "dead", f"exited with code {self.process.returncode}"
        return True

    def stop(self) -> None:
        if self.client is not None:
            if self.process is not None and self.state not in ("dead", "stopped"):
                try:
                    self.client.shutdown()
                except BackendError:
                    pass
            self.client.close()
            self.client = None
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
        self.state = "stopped"
        if self.methods:
            self._set_methods({})

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


BACKEND = Backend()
