"""The Python client: blocking `run` for scripts, non-blocking `submit`/`poll` for the add-on.

Uses protocol.py and pyzmq only (no torch), so the Blender add-on bundles it as it is.

    with Client.from_connection_file() as c:
        result = c.run("convert", {"bvh": text, "fps": 29.97}, progress=print)
        result.arrays["rotations"]            # (T, 24, 4)

No call blocks without a deadline: every send times out (`send_timeout`, the heartbeat
by default), every wait is bounded, `run(timeout=...)` is honoured while it heartbeats, and
`poll()` raises BackendGone once a heartbeat ping has gone unanswered for `heartbeat`
seconds.
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
    read_connection,
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

    def __init__(self, address: str, key: bytes, heartbeat: float = 2.0,
                 curve_server_key: bytes | None = None, send_timeout: float | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES):
        """`curve_server_key`: the server's CURVE public key (a connection file carries it
        when the server encrypts); `send_timeout`: seconds a send may wait for the socket
        (default: the heartbeat)."""
        self.address = address
        self.heartbeat = heartbeat
        self.session = Session(key)
        self.ctx = zmq.Context()
        self.socket = self.ctx.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        self.send_timeout = heartbeat if send_timeout is None else send_timeout
        self.socket.setsockopt(zmq.SNDTIMEO, max(1, int(self.send_timeout * 1000)))
        self.socket.setsockopt(zmq.RCVTIMEO, max(1, int(heartbeat * 1000)))
        if curve_server_key is not None:
            if not zmq.has("curve"):
                self.close()
                raise BackendError("the backend encrypts with CURVE and this pyzmq has no "
                                   "CURVE support")
            public, secret = zmq.curve_keypair()
            self.socket.curve_serverkey = curve_server_key
            self.socket.curve_publickey, self.socket.curve_secretkey = public, secret
        self.socket.connect(address)
        self._inbox: list[Message] = []  # received, not yet claimed
        self._last_heard = time.monotonic()
        self._heartbeat_sent: float | None = None  # when poll()'s unanswered ping went out
        self._heartbeat_ids: set[str] = set()  # poll()'s pings, whose pongs nobody claims

    @classmethod
    def from_connection_file(cls, path: str | Path | None = None, **kw) -> Client:
        doc = read_connection(path or default_connection_file())
        kw.setdefault("curve_server_key", doc["curve_server_key"])
        return cls(doc["address"], doc["key"], **kw)

    def close(self) -> None:
        self.socket.close(0)
        self.ctx.term()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _send(self, msg: Message) -> Message:
        try:
            self.socket.send_multipart(self.session.serialize(msg), copy=False)
        except zmq.Again:  # no connection to the backend, or it stopped reading
            raise BackendGone(f"could not send {msg.type!r} to {self.address} within "
                              f"{self.send_timeout:g} s: no connection (the backend is gone "
                              "or stalled, or it sent a message larger than this client "
                              "accepts)") from None
        return msg

    def _receive(self, timeout: float) -> Message | None:
        if not self.socket.poll(int(max(timeout, 0) * 1000)):
            return None
        try:
            frames = self.socket.recv_multipart(copy=False)
        except zmq.Again:
            return None
        try:
            msg = self.session.deserialize(frames)
        except ProtocolError as e:
            raise BackendError(f"bad message from the backend: {e}") from None
        self._last_heard = time.monotonic()
        if msg.session is not None:  # the server's session, which our requests name
            self.session.session_id = msg.session
        return msg

    def _drain(self, timeout: float = 0.0) -> None:
        msg = self._receive(timeout)
        while msg is not None:
            if msg.content.get("re") not in self._heartbeat_ids:
                self._inbox.append(msg)
            else:
                self._heartbeat_ids.discard(msg.content["re"])
            msg = self._receive(0)

    def _take(self, match: Callable[[Message], bool]) -> Message | None:
        for i, msg in enumerate(self._inbox):
            if match(msg):
                return self._inbox.pop(i)
        return None

    def _request(self, kind: str, content: dict | None = None, arrays: dict | None = None,
                 job: str | None = None, timeout: float | None = None) -> Message:
        """Send a request and wait for its reply (the message whose `re` is its id). A
        request refused for naming an old server session (the backend restarted) is sent
        again once, naming the new one."""
        if kind != "ping" and self.session.session_id is None:
            self._request("ping", timeout=timeout)  # learn the server's session
        for attempt in (1, 2):
            reply = self._exchange(kind, content, arrays, job, timeout)
            stale = reply.type == "error" and "server session" in \
                str(reply.content.get("message"))
            if not (stale and attempt == 1):
                break
        if reply.type == "error":
            raise BackendError(reply.content.get("message", "backend error"))
        return reply

    def _exchange(self, kind: str, content: dict | None, arrays: dict | None,
                  job: str | None, timeout: float | None) -> Message:
        sent = self._send(Message(kind, content or {}, arrays or {}, job))
        deadline = time.monotonic() + (self.heartbeat if timeout is None else timeout)
        while True:
            reply = self._take(lambda m: m.content.get("re") == sent.id)
            if reply is not None:
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

    def step(self, method: str, stream: str, params: dict, arrays: dict,
             restart: bool = False, timeout: float | None = None) -> JobResult:
        """One live request on the named stream (begun afresh with `restart`), answered at
        once by the server with the poses of the samples in `arrays`; BackendError if the
        method refuses them."""
        reply = self._request("step", {"method": method, "stream": stream, "restart": restart,
                                       "params": params}, arrays, timeout=timeout)
        return _outcome(reply)

    def poll(self, timeout: float = 0.0) -> list[Message]:
        """Events received so far (progress, result, error, cancelled); never blocks
        longer than `timeout` (plus a send's timeout). For a UI timer.

        It heartbeats: once the backend has been silent for half the heartbeat it sends a
        ping (without waiting), and it raises BackendGone once it has heard nothing for the
        heartbeat with that ping out, so a timer calling poll() notices a dead backend."""
        # events that came in with an earlier reply are handed over without waiting
        self._drain(0.0 if any(map(_is_event, self._inbox)) else timeout)
        events, rest = [], []
        for m in self._inbox:  # by kind, never by `==` (which would compare arrays)
            (events if _is_event(m) else rest).append(m)
        self._inbox = rest
        if not events:
            self._heartbeat_check()
        return events

    def _heartbeat_check(self) -> None:
        now = time.monotonic()
        if self._heartbeat_sent is not None and self._last_heard >= self._heartbeat_sent:
            self._heartbeat_sent = None  # answered (anything heard since counts)
        if self._heartbeat_sent is not None:
            # silent for the heartbeat, with a ping out long enough for a live backend
            if now - self._last_heard > self.heartbeat and \
                    now - self._heartbeat_sent > self.heartbeat / 4:
                raise BackendGone(f"no answer from {self.address} for "
                                  f"{now - self._last_heard:.1f} s (heartbeat "
                                  f"{self.heartbeat:g} s): the backend is gone")
        elif now - self._last_heard > self.heartbeat / 2:
            if len(self._heartbeat_ids) > 64:  # pongs that never came: forget them
                self._heartbeat_ids.clear()
            self._heartbeat_ids.add(self._send(Message("ping")).id)
            self._heartbeat_sent = time.monotonic()

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
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self.submit(method, params, arrays)
        others: list[Message] = []  # other jobs' events, handed back to the inbox at the end
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    try:
                        self.cancel(job)
                    except BackendGone:
                        pass
                    raise BackendError(f"job {job} took longer than {timeout:g} s; cancelled")
                wait = min(self.heartbeat / 4, 0.5, left if left is not None else 0.5)
                try:
                    events = self.poll(wait)
                except BackendGone as e:
                    raise BackendGone(f"{e} (while job {job} ran)") from None
                for event in events:
                    if event.job != job:
                        others.append(event)  # not re-polled: stale events are no heartbeat
                    elif event.type == "progress":
                        if progress:
                            progress(event.content)
                    else:
                        return _outcome(event)
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
