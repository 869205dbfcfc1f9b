"""Watch another process (the Blender that started this backend) and act once it has ended.

Linux: a pidfd, readable the moment the process exits (a zombie not yet reaped counts as
ended). Windows: a process handle and WaitForSingleObject (`os.kill(pid, 0)` would
*terminate* the process there). Elsewhere: polling `os.kill(pid, 0)`.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from collections.abc import Callable

POLL_SECONDS = 0.2


def is_alive(pid: int) -> bool:
    """Whether process `pid` exists (a zombie counts as existing here)."""
    if sys.platform == "win32":
        return not _wait_windows(pid, timeout_ms=0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def watch(pid: int, on_exit: Callable[[], None]) -> threading.Thread:
    """Call `on_exit()` (from a daemon thread) once process `pid` has ended."""
    thread = threading.Thread(target=_wait_then, args=(pid, on_exit), daemon=True,
                              name=f"parent-watch-{pid}")
    thread.start()
    return thread


def _wait_then(pid: int, on_exit: Callable[[], None]) -> None:
    if sys.platform == "win32":
        _wait_windows(pid, _INFINITE)
    elif hasattr(os, "pidfd_open"):
        _wait_pidfd(pid)
    else:
        while is_alive(pid):
            time.sleep(POLL_SECONDS)
    on_exit()


def _wait_pidfd(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except OSError:  # pidfds not supported by this kernel: poll instead
        while is_alive(pid):
            time.sleep(POLL_SECONDS)
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll():
            pass
    finally:
        os.close(fd)


_SYNCHRONIZE = 0x00100000
_INFINITE = 0xFFFFFFFF
_WAIT_TIMEOUT = 0x102


def _wait_windows(pid: int, timeout_ms: int) -> bool:
    """Wait up to `timeout_ms` for `pid` to end; whether it has (or never existed)."""
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(_SYNCHRONIZE, False, pid)
    if not handle:
        return True
    try:
        return kernel32.WaitForSingleObject(handle, timeout_ms) != _WAIT_TIMEOUT
    finally:
        kernel32.CloseHandle(handle)
