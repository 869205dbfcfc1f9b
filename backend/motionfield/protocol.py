"""The motionfield wire format: signed multipart ZeroMQ messages. No torch, no bpy.

One message on the wire (after any ZeroMQ routing identities):

    [ b"<MOTIONFIELD>",  signature,  header,  content,  buffer_0, ..., buffer_n ]

- signature: b"<full>.<pre>", two hex HMAC-SHA256s keyed with the connection key: `full`
  over header, content and every buffer in order; `pre` over `full`, the byte length of
  every frame after the signature, and the header. `pre` is checked first and costs
  microseconds whatever the message's size, so traffic from anyone without the key is
  dropped before a single byte of its buffers is hashed. An empty key is refused.
- header: UTF-8 JSON object {"v": PROTOCOL_VERSION, "id": unique message id, "type": one
  of MESSAGE_TYPES, "job": job id or null, "session": the server's session id or null,
  "time": sender's clock (seconds), "buffers": [{"dtype": "<f4", "shape": [T, 24, 4]},
  ...] describing each buffer frame}.
- content: UTF-8 JSON object, the message's parameters.
- buffers: raw little-endian C-order array bytes, described by header["buffers"] and named
  by content["arrays"] (a list of names, one per buffer).

`serialize` and `deserialize` are inverses. `deserialize` checks, before using anything:
the frame count, the delimiter, the whole message's size, the signature's form, `pre`
(constant-time compare), replays (a signature seen before), `full`, JSON, the version,
the type of every header field, and that every buffer's dtype is allowed and its byte
length equals what its shape says. No pickle anywhere.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import math
import os
import secrets
import stat
import struct
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROTOCOL_VERSION = 2
DELIMITER = b"<MOTIONFIELD>"
MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # all frames together; a long motion is a few MB
MAX_HEADER_BYTES = 64 * 1024  # hashed before the signature is known to be good: keep it small
MAX_JSON_BYTES = 1024 * 1024
MAX_BUFFERS = 64
MIN_KEY_BYTES = 32  # 32 hex characters carry 128 bits
ALLOWED_DTYPES = {"<f4", "<f8", "<i4", "<i8", "|u1", "|b1"}
_MAC_HEX = 64
SIGNATURE_BYTES = 2 * _MAC_HEX + 1

# Requests (client -> server) and events (server -> client).
REQUESTS = ("ping", "info", "submit", "status", "cancel", "fetch", "shutdown", "step")
EVENTS = ("pong", "info_reply", "accepted", "progress", "result", "error", "cancelled",
          "status_reply", "shutdown_reply", "step_reply")
MESSAGE_TYPES = frozenset(REQUESTS + EVENTS)


class ProtocolError(Exception):
    """A message that is malformed, unsigned, replayed or of an unknown version or type.

    `re` is the offending message's id when its header could be read, so that the
    error reply can name the request it answers."""

    re: str | None = None


class Unauthenticated(ProtocolError):
    """A message not shown to come from a key holder (malformed before its signature could
    be checked, badly signed, or replayed): a server drops it without a reply."""


@dataclass
class Message:
    """A decoded message: type, job id, JSON content and named numpy arrays. `session` is
    the server session the sender knows (stamped by `Session.serialize` when None)."""

    type: str
    content: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    job: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: float = field(default_factory=time.time)
    session: str | None = None


class Session:
    """Signs, verifies and remembers signatures for one key (one per socket side).

    `session_id` goes into the header of every message this side sends: a server's is new
    each time it starts (so a message captured from an earlier run names a session that
    no longer exists); a client sets it to the server's once it has heard from it."""

    def __init__(self, key: bytes, replay_window: int = 65536, session_id: str | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES):
        if not key:
            raise ValueError("a signing key is required")
        self.key = key
        self.session_id = session_id
        self.max_message_bytes = max_message_bytes
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._window = replay_window

    def sign(self, parts: Sequence[bytes | memoryview]) -> bytes:
        """The signature frame for [header, content, *buffers]."""
        full = self._full(parts)
        return full + b"." + self._pre(full, parts)

    def _full(self, parts: Sequence[bytes | memoryview]) -> bytes:
        if sum(len(p) for p in parts) < 65536:  # one C call: a ping costs microseconds
            return hmac.digest(self.key, b"".join(parts), "sha256").hex().encode()
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode()

    def _pre(self, full: bytes, parts: Sequence[bytes | memoryview]) -> bytes:
        sizes = struct.pack(f"<{len(parts)}Q", *(len(p) for p in parts))
        header = parts[0] if parts else b""
        return hmac.digest(self.key, b"motionfield-pre\0" + full + sizes + header,
                           "sha256").hex().encode()

    def serialize(self, msg: Message) -> list[bytes]:
        """Message -> frames (without routing identities)."""
        if msg.type not in MESSAGE_TYPES:
            raise ProtocolError(f"unknown message type {msg.type!r}")
        names, buffers, specs = [], [], []
        for name, arr in msg.arrays.items():
            arr = np.ascontiguousarray(arr)
            dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
            arr = arr.astype(dtype, copy=False)
            if arr.dtype.str not in ALLOWED_DTYPES:
                raise ProtocolError(f"array {name!r} has dtype {arr.dtype}, not one of "
                                    f"{sorted(ALLOWED_DTYPES)}")
            names.append(name)
            specs.append({"dtype": arr.dtype.str, "shape": list(arr.shape)})
            buffers.append(memoryview(arr).cast("B") if arr.size else b"")
        header = {"v": PROTOCOL_VERSION, "id": msg.id, "type": msg.type, "job": msg.job,
                  "session": msg.session if msg.session is not None else self.session_id,
                  "time": msg.time, "buffers": specs}
        content = dict(msg.content)
        if names:
            content["arrays"] = names
        parts = [_json(header), _json(content), *buffers]
        return [DELIMITER, self.sign(parts), *parts]

    def deserialize(self, frames: Sequence) -> Message:
        """Frames (bytes, or anything with the buffer protocol such as zmq.Frame; without
        routing identities) -> Message, or ProtocolError. Arrays share the frames' memory
        (read-only)."""
        if len(frames) < 4 or len(frames) > 4 + MAX_BUFFERS:
            raise Unauthenticated(f"a message has 4 to {4 + MAX_BUFFERS} frames, "
                                  f"got {len(frames)}")
        # bytes as they are, anything else (zmq.Frame) as a byte view: no copies
        views = [f if isinstance(f, bytes) else memoryview(f).cast("B") for f in frames]
        if views[0] != DELIMITER:
            raise Unauthenticated("missing the <MOTIONFIELD> delimiter frame")
        size = sum(map(len, views))
        if size > self.max_message_bytes:
            raise Unauthenticated(f"message of {size} bytes, more than "
                                  f"{self.max_message_bytes}")
        signature, parts = bytes(views[1]), views[2:]
        if len(signature) != SIGNATURE_BYTES or signature[_MAC_HEX:_MAC_HEX + 1] != b".":
            raise Unauthenticated("the signature frame is not <hex HMAC>.<hex HMAC>")
        if len(parts[0]) > MAX_HEADER_BYTES:
            raise Unauthenticated(f"header larger than {MAX_HEADER_BYTES} bytes")
        full, pre = signature[:_MAC_HEX], signature[_MAC_HEX + 1:]
        if not hmac.compare_digest(pre, self._pre(full, parts)):
            raise Unauthenticated("bad signature (wrong key, or a tampered message)")
        if signature in self._seen:
            raise Unauthenticated("replayed message (its signature was seen before)")
        if not hmac.compare_digest(full, self._full(parts)):
            raise Unauthenticated("bad signature (wrong key, or a tampered message)")
        self._remember(signature)
        header = _load_json(bytes(parts[0]), "header")
        try:
            return _message(header, _load_json(bytes(parts[1]), "content"), parts[2:])
        except ProtocolError as e:
            e.re = header.get("id") if isinstance(header.get("id"), str) else None
            raise

    def _remember(self, signature: bytes) -> None:
        self._seen[signature] = None
        if len(self._seen) > self._window:
            self._seen.popitem(last=False)


def _json(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _load_json(raw: bytes, what: str) -> dict:
    if len(raw) > MAX_JSON_BYTES:
        raise ProtocolError(f"{what} larger than {MAX_JSON_BYTES} bytes")
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: a huge int
        raise ProtocolError(f"{what} is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what} must be a JSON object")
    return obj


def _optional_str(header: dict, key: str) -> str | None:
    value = header.get(key)
    if not (value is None or isinstance(value, str)) or len(value or "") > 256:
        raise ProtocolError(f"header {key!r} must be a string (at most 256 characters) "
                            f"or null, got {type(value).__name__}")
    return value


def _message(header: dict, content: dict, buffers: Sequence[bytes | memoryview]) -> Message:
    """The message a verified header, content and buffers describe; every field's type is
    checked before it is used (a list where a string belongs is an error, not a crash)."""
    version = header.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r} is not supported "
                            f"(this side speaks {PROTOCOL_VERSION})")
    kind = header.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind!r:.80}")
    msg_id, job, session = (_optional_str(header, k) for k in ("id", "job", "session"))
    if msg_id is None:
        raise ProtocolError("header id must be a string")
    specs, names = header.get("buffers", []), content.pop("arrays", [])
    if not isinstance(specs, list) or not isinstance(names, list) or \
            len(specs) != len(buffers) or len(names) != len(buffers):
        raise ProtocolError(f"{len(buffers)} buffer frames do not match the header's buffer "
                            "descriptions and the content's array names")
    arrays = {}
    for name, spec, raw in zip(names, specs, buffers):
        if not isinstance(name, str) or name in arrays:
            raise ProtocolError("array names must be distinct strings")
        arrays[name] = _array(name, spec, raw)
    return Message(kind, content, arrays, job, msg_id, _seconds(header.get("time", 0.0)),
                   session)


def _seconds(value: object) -> float:
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(float(value)):
            raise ValueError
    except (ValueError, OverflowError):  # OverflowError: an int no float can hold
        raise ProtocolError("header time must be seconds as a finite number") from None
    return float(value)


def _array(name: str, spec: object, raw: bytes | memoryview) -> np.ndarray:
    dtype_name = spec.get("dtype") if isinstance(spec, dict) else None
    if not isinstance(dtype_name, str) or dtype_name not in ALLOWED_DTYPES:
        raise ProtocolError(f"array {name!r}: dtype must be one of {sorted(ALLOWED_DTYPES)}")
    shape = spec.get("shape")
    if not isinstance(shape, list) or len(shape) > 8 or not all(
            type(n) is int and 0 <= n < 2**31 for n in shape):
        raise ProtocolError(f"array {name!r}: shape must be a list of at most 8 sizes")
    dtype = np.dtype(dtype_name)
    needed = math.prod(shape) * dtype.itemsize
    if needed != len(raw):
        raise ProtocolError(f"array {name!r}: shape {shape} of {dtype} needs {needed} bytes, "
                            f"the frame has {len(raw)}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


# --------------------------------------------------------------------------- keys


def new_key() -> bytes:
    return secrets.token_hex(32).encode()


def check_key(key: bytes, source: str = "the key") -> bytes:
    """`key`, unless it is too short to resist guessing (under 128 bits as hex)."""
    if len(key) < MIN_KEY_BYTES:
        raise ProtocolError(f"{source} has {len(key)} bytes; a key needs at least "
                            f"{MIN_KEY_BYTES} (e.g. the 64 hex digits of `python -c "
                            "'import secrets; print(secrets.token_hex(32))'`)")
    return key


def read_key_file(path: str | Path) -> bytes:
    """The key in `path` (surrounding whitespace removed), refused when others may read
    the file or when it is short."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        key = path.read_bytes().strip()
    except OSError as e:
        raise ProtocolError(f"cannot read key file {path}: {e.strerror}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ProtocolError(f"key file {path} is readable by others: chmod 600 it")
    return check_key(key, f"key file {path}")


# --------------------------------------------------------------------------- connection files


def private_folder(folder: str | Path) -> Path:
    """`folder`, created mode 0700 if missing; refused if others may write to it (they
    could swap the connection file for their own)."""
    folder = Path(folder)
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
        return folder
    info = folder.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise ProtocolError(f"{folder} is not a folder")
    if os.name == "posix" and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ProtocolError(f"folder {folder} is writable by others: put the connection file "
                            "in a private folder (mode 0700)")
    return folder


def write_connection_file(path: str | Path, address: str, key: bytes, *,
                          curve_server_key: bytes | None = None, pid: int | None = None,
                          still_running=None) -> Path:
    """{"address", "key", "protocol", "pid"[, "curve_server_key"]} readable by its owner
    alone (mode 0600), in a private folder.

    The file is written under a new name opened with O_CREAT | O_EXCL | O_NOFOLLOW (a link
    planted there is refused, not followed), then linked into place, which fails if the
    target exists. An existing file is replaced only when it names no pid for which
    `still_running(pid)` is true: a second backend refuses to orphan a running one."""
    path = Path(path)
    private_folder(path.parent)
    doc = {"address": address, "key": key.decode(), "protocol": PROTOCOL_VERSION,
           "pid": os.getpid() if pid is None else pid}
    if curve_server_key is not None:
        doc["curve_server_key"] = curve_server_key.decode()
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temp, flags, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        _publish(temp, path, still_running)
    finally:
        temp.unlink(missing_ok=True)
    return path


def _publish(temp: Path, path: Path, still_running) -> None:
    try:
        os.link(temp, path)  # atomic, and never over an existing file
        return
    except FileExistsError:
        pass
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):  # no hard links here
            raise
    owner = None if still_running is None else connection_owner(path, still_running)
    if owner is not None:
        raise ProtocolError(f"a backend (pid {owner}) is running with connection file "
                            f"{path}; stop it first or give another --connection-file")
    os.replace(temp, path)


def connection_owner(path: str | Path, still_running) -> int | None:
    """The pid in an existing connection file, if `still_running(pid)` says that process
    (not this one) still runs; else None."""
    try:
        pid = json.loads(Path(path).read_text()).get("pid")
    except (OSError, ValueError, AttributeError):
        return None
    if type(pid) is int and pid > 0 and pid != os.getpid() and still_running(pid):
        return pid
    return None


def read_connection(path: str | Path) -> dict:
    """The connection file's fields ("address", "key" as bytes, "curve_server_key" as bytes
    or None); refuses a file others can read, since it holds the key."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ProtocolError(f"cannot read connection file {path}: {e}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ProtocolError(f"connection file {path} is readable by others: chmod 600 it")
    if not isinstance(doc, dict) or not {"address", "key"} <= doc.keys():
        raise ProtocolError(f"connection file {path} needs 'address' and 'key'")
    curve = doc.get("curve_server_key")
    return {"address": str(doc["address"]), "key": str(doc["key"]).encode(),
            "curve_server_key": None if curve is None else str(curve).encode()}


def read_connection_file(path: str | Path) -> tuple[str, bytes]:
    """(address, key) of a connection file (see `read_connection`)."""
    doc = read_connection(path)
    return doc["address"], doc["key"]


def remove_connection_file(path: str | Path, address: str) -> bool:
    """Delete the connection file if it still names `address`: a backend that stops removes
    its own file, never one that a newer backend wrote over it. Whether it was deleted."""
    try:
        current, _ = read_connection_file(path)
    except ProtocolError:
        return False
    if current != address:
        return False
    Path(path).unlink(missing_ok=True)
    return True


def default_connection_file() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache" / "motionfield"
    return base / "motionfield-backend.json"
