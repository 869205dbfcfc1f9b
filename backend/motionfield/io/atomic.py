"""Atomic output files: a reader of the target path sees the old file, no file, or the whole
new one, never a part, even if the writer is killed (SIGKILL, power loss after fsync).

The bytes go to a hidden temporary file in the target's own folder (so the final rename
never crosses file systems), are fsynced, then `os.replace`d onto the target; the folder
is fsynced so the rename itself survives a crash. A writer killed before the rename leaves
at most a hidden `.NAME.*.part` file beside the target, never a broken target.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from motionfield.errors import MotionfieldError

TEMP_SUFFIX = ".part"


@contextmanager
def atomic_writer(target: str | Path) -> Iterator[BinaryIO]:
    """An open binary file whose content becomes `target` when the block ends without error.

    The target path is written exactly as given (no suffix is added). On an exception the
    temporary file is removed and the target is left as it was.
    """
    target = Path(target)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fchmod(out.fileno(), _final_mode(target))
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def write_bytes_atomic(target: str | Path, data: bytes) -> Path:
    with atomic_writer(target) as out:
        out.write(data)
    return Path(target)


def write_text_atomic(target: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return write_bytes_atomic(target, text.encode(encoding))


def check_output(output: str | Path, inputs: Iterable[str | Path] = (), force: bool = False,
                 suffixes: Iterable[str] | None = None) -> Path:
    """The output path, after refusing what would destroy data or mislead.

    Refused (MotionfieldError): an output that is one of the `inputs` (same file, however
    named: links and relative paths included), an existing file unless `force`, a folder,
    and, when `suffixes` is given (".npz", ".bvh"), any other suffix (case-insensitive).
    """
    out = Path(output)
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        if out.suffix.lower() not in allowed:
            raise MotionfieldError(f"output must end in {' or '.join(allowed)}, "
                                   f"got {out.name!r}")
    for source in inputs:
        if _same_file(out, Path(source)):
            raise MotionfieldError(f"refusing to write the output over the input {source}; "
                                   "choose another output path")
    if out.is_dir():
        raise MotionfieldError(f"output {out} is a folder; give a file name")
    if out.exists() and not force:
        raise MotionfieldError(f"output {out} exists; pass --force to overwrite it")
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def _final_mode(target: Path) -> int:
    """The target's current mode when replacing a file, else what open() would give."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (threads race on
    os.umask)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; some platforms cannot open folders, which is harmless."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
