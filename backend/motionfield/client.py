"""The Python client: blocking `run` for scripts, non-blocking `submit`/`poll` for the add-on.

Uses protocol.py and pyzmq only (no torch), so the Blender add-on bundles it as it is.

    with Client.from_connection_file() as c:
        result = c.run("convert", {"bvh": text, "fps": 29.97}, progress=print)
        result.arrays["rotations"]            # (T, 24, 4)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq

from .protocol import (
    MAX_MESSAGE_BYTES,
    Message,
    ProtocolError,
    Session,
    default_connection_file,
    read_connection_file,
)


class BackendError(Exception):
    """The backend answered with an error, or could not be reached."""


class BackendGone(BackendError):
    """No answer to a heartbeat within the timeout: the backend is dead or unreachable."""


class JobFailed(BackendError):
    """The job ended with an error; the message says why."""


class JobCancelled(BackendError):
    """The job was cancelled."""


@dataclass
class JobResult:
    job: str
    content: dict
    arrays: dict[str, np.ndarray]


class Client:
    """A DEALER connection to one backend. Not thread-safe: one client per thread."""

    def __init__(self, address: str, key: bytes, heartbeat: float = 2.0):
        self.address = address
        self.heartbeat = heartbeat
        self.session = Session(key)
        self.ctx = zmq.Context()
        self.socket = self.ctx.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.socket.connect(address)
        self._inbox: list[Message] = []  # received, not yet claimed

    @classmethod
    def from_connection_file(cls, path: str | Path | None = None, **kw) -> Client:
        address, key = read_connection_file(path or default_connection_file())
        return cls(address, key, **kw)

    def close(self) -> None:
        self.socket.close(0)
        self.ctx.term()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _send(self, msg: Message) -> Message:
        self.socket.send_multipart(self.session.serialize(msg), copy=False)
        return msg

    def _receive(self, timeout: float) -> Message | None:
        if not self.socket.poll(int(max(timeout, 0) * 1000)):
            return None
        frames = self.socket.recv_multipart(copy=True)
        try:
            return self.session.deserialize(frames)
        except ProtocolError as e:
            raise BackendError(f"bad message from the backend: {e}") from None

    def _drain(self, timeout: float = 0.0) -> None:
        msg = self._receive(timeout)
        while msg is not None:
            self._inbox.append(msg)
            msg = self._receive(0)

    def _take(self, match: Callable[[Message], bool]) -> Message | None:
        for i, msg in enumerate(self._inbox):
            if match(msg):
                return self._inbox.pop(i)
        return None

    def _request(self, kind: str, content: dict | None = None, arrays: dict | None = None,
                 job: str | None = None, timeout: float | None = None) -> Message:
        """Send a request and wait for its reply (the message whose `re` is its id)."""
        sent = self._send(Message(kind, content or {}, arrays or {}, job))
        deadline = time.monotonic() + (self.heartbeat if timeout is None else timeout)
        while True:
            reply = self._take(lambda m: m.content.get("re") == sent.id)
            if reply is not None:
                if reply.type == "error":
                    raise BackendError(reply.content.get("message", "backend error"))
                return reply
            left = deadline - time.monotonic()
            if left <= 0:
                raise BackendGone(f"no answer to {kind!r} from {self.address} within "
                                  f"{self.heartbeat if timeout is None else timeout:g} s")
            self._drain(left)

    # ------------------------------------------------------------------ requests

    def ping(self, timeout: float | None = None) -> float:
        """Round trip in seconds; BackendGone when there is no answer in time."""
        began = time.perf_counter()
        self._request("ping", timeout=timeout)
        return time.perf_counter() - began

    def info(self) -> dict:
        return self._request("info").content

    def submit(self, method: str, params: dict, arrays: dict | None = None) -> str:
        """Queue a job; returns its id at once (after the server's `accepted`)."""
        reply = self._request("submit", {"method": method, "params": params}, arrays)
        return reply.job

    def poll(self, timeout: float = 0.0) -> list[Message]:
        """Events received so far (progress, result, error, cancelled); never blocks
        longer than `timeout`. For a UI timer."""
        # events that came in with an earlier reply are handed over without waiting
        self._drain(0.0 if any(map(_is_event, self._inbox)) else timeout)
        events, rest = [], []
        for m in self._inbox:  # by kind, never by `==` (which would compare arrays)
            (events if _is_event(m) else rest).append(m)
        self._inbox = rest
        return events

    def status(self, job: str) -> dict:
        return self._request("status", job=job).content

    def cancel(self, job: str) -> None:
        self._send(Message("cancel", {}, {}, job))

    def fetch(self, job: str) -> JobResult | dict:
        """The kept result of a job (e.g. after reconnecting), or its status if unfinished."""
        reply = self._request("fetch", job=job)
        return _outcome(reply) if reply.type == "result" else reply.content

    def shutdown(self) -> None:
        self._request("shutdown")

    def run(self, method: str, params: dict, arrays: dict | None = None,
            progress: Callable[[dict], None] | None = None,
            timeout: float | None = None) -> JobResult:
        """Submit and wait. Pings while waiting: BackendGone if the backend stops
        answering for `heartbeat` seconds; JobFailed / JobCancelled as the job ends."""
        job = self.submit(method, params, arrays)
        deadline = None if timeout is None else time.monotonic() + timeout
        last_heard = time.monotonic()
        others: list[Message] = []  # other jobs' events, handed back to the inbox at the end
        try:
            while True:
                for event in self.poll(min(self.heartbeat / 4, 0.5)):
                    last_heard = time.monotonic()
                    if event.job != job:
                        others.append(event)  # not re-polled: stale events are no heartbeat
                        continue
                    if event.type == "progress":
                        if progress:
                            progress(event.content)
                    else:
                        return _outcome(event)
                if deadline is not None and time.monotonic() > deadline:
                    self.cancel(job)
                    raise BackendError(f"job {job} took longer than {timeout:g} s; cancelled")
                silent = time.monotonic() - last_heard
                if silent > self.heartbeat / 2:  # ask; the answer has the rest (>= 1/4) of it
                    try:
                        self.ping(timeout=max(self.heartbeat - silent, 0.01))
                    except BackendGone:
                        raise BackendGone(f"no answer from {self.address} for "
                                          f"{self.heartbeat:g} s (the heartbeat) while job "
                                          f"{job} ran: the backend is gone") from None
                    last_heard = time.monotonic()
        finally:
            self._inbox[:0] = others


def _is_event(msg: Message) -> bool:
    """A job event pushed by the server (not the reply to a request)."""
    return msg.type in ("progress", "result", "error", "cancelled") and "re" not in msg.content


def _outcome(msg: Message) -> JobResult:
    if msg.type == "error":
        raise JobFailed(msg.content.get("message", "job failed"))
    if msg.type == "cancelled":
        raise JobCancelled(f"job {msg.job} was cancelled")
    return JobResult(msg.job, {k: v for k, v in msg.content.items() if k != "re"}, msg.arrays)
