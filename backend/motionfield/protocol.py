"""The motionfield wire format: signed multipart ZeroMQ messages. No torch, no bpy.

One message on the wire (after any ZeroMQ routing identities):

    [ b"<MOTIONFIELD>",  signature,  header,  content,  buffer_0, ..., buffer_n ]

- signature: hex HMAC-SHA256, keyed with the connection key, over header, content and
  every buffer in order (an empty key is refused: messages are always signed).
- header: UTF-8 JSON object {"v": PROTOCOL_VERSION, "id": unique message id, "type": one
  of MESSAGE_TYPES, "job": job id or null, "time": sender's clock (seconds), "buffers":
  [{"dtype": "<f4", "shape": [T, 24, 4]}, ...] describing each buffer frame}.
- content: UTF-8 JSON object, the message's parameters.
- buffers: raw little-endian C-order array bytes, described by header["buffers"] and named
  by content["arrays"] (a list of names, one per buffer).

`serialize` and `deserialize` are inverses. `deserialize` checks, before using anything:
the frame count, the delimiter, the signature (constant-time compare), replays (a message
id or signature seen before), JSON, the version, the type, and that every buffer's dtype is
allowed and its byte length equals what its shape says. No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROTOCOL_VERSION = 1
DELIMITER = b"<MOTIONFIELD>"
MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # a long motion is a few MB; refuse absurd sizes
MAX_JSON_BYTES = 1024 * 1024
MAX_BUFFERS = 64
ALLOWED_DTYPES = {"<f4", "<f8", "<i4", "<i8", "|u1", "|b1"}

# Requests (client -> server) and events (server -> client).
REQUESTS = ("ping", "info", "submit", "status", "cancel", "fetch", "shutdown")
EVENTS = ("pong", "info_reply", "accepted", "progress", "result", "error", "cancelled",
          "status_reply", "shutdown_reply")
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
    """A decoded message: type, job id, JSON content and named numpy arrays."""

    type: str
    content: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    job: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: float = field(default_factory=time.time)


class Session:
    """Signs, verifies and remembers signatures for one key (one per socket side)."""

    def __init__(self, key: bytes, replay_window: int = 65536):
        if not key:
            raise ValueError("a signing key is required")
        self.key = key
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._window = replay_window

    def sign(self, parts: list[bytes]) -> bytes:
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode()

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
            buffers.append(memoryview(arr).cast("B").tobytes() if arr.size else b"")
        header = {"v": PROTOCOL_VERSION, "id": msg.id, "type": msg.type, "job": msg.job,
                  "time": msg.time, "buffers": specs}
        content = dict(msg.content)
        if names:
            content["arrays"] = names
        parts = [_json(header), _json(content), *buffers]
        return [DELIMITER, self.sign(parts), *parts]

    def deserialize(self, frames: list[bytes]) -> Message:
        """Frames (without routing identities) -> Message, or ProtocolError."""
        if len(frames) < 4 or len(frames) > 4 + MAX_BUFFERS:
            raise Unauthenticated(f"a message has 4 to {4 + MAX_BUFFERS} frames, "
                                  f"got {len(frames)}")
        frames = [bytes(f) for f in frames]
        if frames[0] != DELIMITER:
            raise Unauthenticated("missing the <MOTIONFIELD> delimiter frame")
        if sum(len(f) for f in frames) > MAX_MESSAGE_BYTES:
            raise Unauthenticated(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        signature, parts = frames[1], frames[2:]
        if not hmac.compare_digest(signature, self.sign(parts)):
            raise Unauthenticated("bad signature (wrong key, or a tampered message)")
        if signature in self._seen:
            raise Unauthenticated("replayed message (its signature was seen before)")
        self._remember(signature)
        header = _load_json(parts[0], "header")
        try:
            return _message(header, _load_json(parts[1], "content"), parts[2:])
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


def _message(header: dict, content: dict, buffers: list[bytes]) -> Message:
    if header.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {header.get('v')!r} is not supported "
                            f"(this side speaks {PROTOCOL_VERSION})")
    kind = header.get("type")
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind!r}")
    msg_id, job = header.get("id"), header.get("job")
    if not isinstance(msg_id, str) or not (job is None or isinstance(job, str)):
        raise ProtocolError("header id must be a string and job a string or null")
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
    when = header.get("time")
    try:
        when = float(when) if isinstance(when, (int, float)) else 0.0
    except OverflowError:  # an int no float can hold
        raise ProtocolError("header time must be seconds as a float") from None
    return Message(kind, content, arrays, job, msg_id, when)


def _array(name: str, spec: object, raw: bytes) -> np.ndarray:
    if not isinstance(spec, dict) or spec.get("dtype") not in ALLOWED_DTYPES:
        raise ProtocolError(f"array {name!r}: dtype must be one of {sorted(ALLOWED_DTYPES)}")
    shape = spec.get("shape")
    if not isinstance(shape, list) or len(shape) > 8 or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**31 for n in shape):
        raise ProtocolError(f"array {name!r}: shape must be a list of at most 8 sizes")
    dtype = np.dtype(spec["dtype"])
    if int(np.prod(shape, dtype=object)) * dtype.itemsize != len(raw):
        raise ProtocolError(f"array {name!r}: shape {shape} of {dtype} needs "
                            f"{int(np.prod(shape, dtype=object)) * dtype.itemsize} bytes, "
                            f"the frame has {len(raw)}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


# --------------------------------------------------------------------------- connection files


def new_key() -> bytes:
    return secrets.token_hex(32).encode()


def write_connection_file(path: str | Path, address: str, key: bytes) -> Path:
    """{"address", "key", "protocol"} readable by its owner alone (mode 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"address": address, "key": key.decode(), "protocol": PROTOCOL_VERSION}, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def read_connection_file(path: str | Path) -> tuple[str, bytes]:
    """(address, key); refuses a file others can read, since it holds the key."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ProtocolError(f"cannot read connection file {path}: {e}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ProtocolError(f"connection file {path} is readable by others: chmod 600 it")
    if not isinstance(doc, dict) or not {"address", "key"} <= doc.keys():
        raise ProtocolError(f"connection file {path} needs 'address' and 'key'")
    return str(doc["address"]), str(doc["key"]).encode()


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
