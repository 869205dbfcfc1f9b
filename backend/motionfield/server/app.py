"""The backend server: one ROUTER socket loop, worker threads, a fair queue, kept results.

Only the loop thread touches the client socket. Workers run jobs and hand events back
through a queue, waking the loop over an inproc socket, so pings, status and cancels are
answered while jobs run. Jobs are taken round-robin across clients (a client with 100
jobs queued does not starve one with 1). A result is pushed to the client that submitted
it and kept for `result_ttl` seconds (and `max_result_bytes` in all, oldest dropped
first), so a client that reconnects can `fetch` it.

Nothing one message does ends the loop: anything raised while handling a message is
logged (and answered when the sender holds the key). Every size is bounded: a message (all
frames), the input bytes of queued jobs, the bytes of kept results, and a result itself
(one larger than a message is an error reply, never a message ZeroMQ would drop).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np
import zmq

from motionfield import __version__, methods
from motionfield.errors import MotionfieldError
from motionfield.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Message,
    ProtocolError,
    Session,
    Unauthenticated,
    check_key,
)
from motionfield.server.jobs import Cancelled, JobError, JobType

log = logging.getLogger("motionfield.server")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_RESULT_BYTES = 512 * 1024 * 1024  # kept for fetching, all results together
MAX_QUEUED_BYTES = 1024 * 1024 * 1024  # input arrays of jobs not yet finished
MAX_EXPIRED_IDS = 100_000  # remembered so that a late fetch hears "expired", not "unknown"
# requests that change state: they must name this server's session (a message captured
# from an earlier run of a server with the same key names another)
SESSION_REQUIRED = ("shutdown",)
MAX_STREAM_NAME = 64


class BindError(MotionfieldError):
    """The server cannot listen on the address asked for."""


def is_loopback(address: str) -> bool:
    parsed = urlparse(address)
    if parsed.scheme == "ipc" or parsed.scheme == "inproc":
        return True
    host = parsed.hostname or ""
    return host in LOOPBACK or host.startswith("127.")


@dataclass
class Job:
    id: str
    client: bytes
    type: JobType
    params: dict
    arrays: dict[str, np.ndarray]
    state: str = "queued"  # queued, running, done, error, cancelled
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: dict = field(default_factory=dict)
    result: Message | None = None
    finished: float = 0.0
    input_bytes: int = 0
    result_bytes: int = 0


class FairQueue:
    """Jobs queued per client, taken round-robin across clients."""

    def __init__(self):
        self._by_client: OrderedDict[bytes, deque[Job]] = OrderedDict()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, job: Job) -> int:
        with self._cond:
            self._by_client.setdefault(job.client, deque()).append(job)
            self._cond.notify()
            return sum(len(q) for q in self._by_client.values())

    def get(self) -> Job | None:
        with self._cond:
            while not self._closed:
                for client in list(self._by_client):
                    q = self._by_client.pop(client)
                    job = q.popleft()
                    if q:
                        self._by_client[client] = q  # to the back of the round
                    return job
                self._cond.wait()
            return None

    def remove(self, job: Job) -> bool:
        with self._cond:
            q = self._by_client.get(job.client)
            if q is None or job not in q:
                return False
            q.remove(job)
            if not q:
                del self._by_client[job.client]
            return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._by_client.values())


class Server:
    """`Server(address, key).serve_forever()`; `address` may use port 0 (see `.address`)."""

    def __init__(self, address: str, key: bytes, workers: int = 1,
                 result_ttl: float = 600.0, max_results: int = 2000,
                 allow_remote: bool = False, *, max_result_bytes: int = MAX_RESULT_BYTES,
                 max_queued_bytes: int = MAX_QUEUED_BYTES,
                 max_message_bytes: int = MAX_MESSAGE_BYTES,
                 curve_secret_key: bytes | None = None,
                 allowed_paths: dict[str, list[str]] | None = None):
        """`curve_secret_key` (zmq.curve_keypair()'s second half) encrypts and authenticates
        the transport with CURVE: only clients given `curve_public_key` can connect.
        `allowed_paths` maps a setting (a Param's `allowed_in`, e.g. "smpl_folders") to
        the folders on this machine that job parameters may name."""
        if not is_loopback(address) and not allow_remote:
            raise ValueError(f"refusing to listen on {address}: not a loopback address. "
                             "Pass --allow-remote (messages are always signed with the key)")
        self.session = Session(check_key(key), session_id=uuid.uuid4().hex,
                               max_message_bytes=max_message_bytes)
        self.ctx = zmq.Context()
        self.socket = self.ctx.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.curve_public_key = None
        if curve_secret_key is not None:
            self.socket.curve_secretkey = curve_secret_key
            self.socket.curve_server = True
            self.curve_public_key = zmq.curve_public(curve_secret_key)
        self.address = self._bind(address)
        self._wake_address = f"inproc://wake-{uuid.uuid4().hex}"
        self._wake = self.ctx.socket(zmq.PULL)
        self._wake.bind(self._wake_address)
        self._outbox: queue.Queue[tuple[bytes, Message]] = queue.Queue()
        self._queue = FairQueue()
        self._jobs: dict[str, Job] = {}
        self._expired: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._result_ttl, self._max_results = result_ttl, max_results
        self._max_result_bytes, self._max_queued_bytes = max_result_bytes, max_queued_bytes
        self._max_message_bytes = max_message_bytes
        self._allowed_paths = {name: [os.path.realpath(p) for p in folders]
                               for name, folders in (allowed_paths or {}).items()}
        self._next_expiry = 0.0
        self._running = True
        self._workers = [threading.Thread(target=self._work, daemon=True, name=f"worker-{i}")
                         for i in range(workers)]
        self.stats = {"requests": 0, "rejected": 0, "failed": 0}
        methods.job_types()  # import every method now: a broken one fails here, not in info

    def _bind(self, address: str) -> str:
        """Bind the client socket; BindError (one line) for a taken port or a bad address."""
        parsed = urlparse(address.replace(":*", ":0") if address.endswith(":*") else address)
        try:
            port = parsed.port if parsed.scheme == "tcp" else None
        except ValueError:  # not a number, or beyond 65535 (ZeroMQ would wrap it around)
            port = -1
        if port is not None and not 0 <= port <= 65535 or \
                parsed.scheme == "tcp" and not parsed.hostname:
            self.socket.close(0)
            self.ctx.destroy(linger=0)
            raise BindError(f"cannot listen on {address}: give tcp://HOST:PORT with a port "
                            "from 0 (any free one) to 65535")
        try:
            self.socket.bind(address.replace(":0", ":*") if address.endswith(":0")
                             else address)
        except zmq.ZMQError as e:
            self.socket.close(0)
            self.ctx.destroy(linger=0)
            hint = {errno.EADDRINUSE: "the port is taken (another backend?)",
                    errno.EADDRNOTAVAIL: "no interface of this machine has that address",
                    errno.EINVAL: "not a ZeroMQ address like tcp://127.0.0.1:5555",
                    errno.EPROTONOSUPPORT: "unknown transport; use tcp:// or ipc://",
                    errno.ENODEV: "no such network interface or host"}.get(e.errno, "")
            raise BindError(f"cannot listen on {address}: {e.strerror}"
                            + (f" ({hint})" if hint else "")) from None
        return self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

    # ------------------------------------------------------------------ loop thread

    def serve_forever(self) -> None:
        # a worker running Python code holds the GIL for up to the switch interval (5 ms by
        # default) each time this loop wants it; 0.5 ms keeps pings and cancels prompt
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        for w in self._workers:
            w.start()
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        poller.register(self._wake, zmq.POLLIN)
        try:
            while self._running:
                events = dict(poller.poll(1000))
                if self._wake in events:
                    while self._wake.poll(0):
                        self._wake.recv()
                self._flush_outbox()
                if self.socket in events:
                    for _ in range(1000):  # bounded burst, then service the outbox again
                        try:
                            frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._handle_safely(frames)
                self._expire_results()
        finally:
            self.close()

    def stop(self) -> None:
        """Stop the loop from any thread (the parent watch, a signal handler)."""
        self._running = False
        try:
            wake = self.ctx.socket(zmq.PUSH)
            wake.setsockopt(zmq.LINGER, 0)
            wake.connect(self._wake_address)
            wake.send(b"", zmq.NOBLOCK)
            wake.close(0)
        except zmq.ZMQError:  # the loop has closed already (or is closing)
            pass

    def close(self) -> None:
        self._running = False
        self._queue.close()
        for job in list(self._jobs.values()):
            job.cancel.set()
        for worker in self._workers:  # a job stops at its next progress step
            if worker.is_alive():
                worker.join(timeout=5.0)
        self.socket.close(0)
        self._wake.close(0)
        self.ctx.destroy(linger=0)

    def _flush_outbox(self) -> None:
        while True:
            try:
                client, msg = self._outbox.get_nowait()
            except queue.Empty:
                return
            self._send(client, msg)

    def _send(self, client: bytes, msg: Message) -> None:
        try:
            self.socket.send_multipart([client, *self.session.serialize(msg)], zmq.NOBLOCK,
                                       copy=False)
        except zmq.ZMQError as e:  # a vanished peer or a full pipe: the result stays kept
            log.debug("could not send %s: %s", msg.type, e)

    def _handle_safely(self, frames: list) -> None:
        """Handle one message; whatever it raises is logged, and the loop goes on."""
        try:
            self._handle_frames(frames)
        except Exception:  # a bug must not end the server for every client
            self.stats["failed"] += 1
            log.exception("a message could not be handled")

    def _handle_frames(self, frames: list) -> None:
        self.stats["requests"] += 1
        if len(frames) < 2:
            self.stats["rejected"] += 1
            return
        client, body = bytes(frames[0]), frames[1:]
        try:
            msg = self.session.deserialize(body)
        except ProtocolError as e:
            self.stats["rejected"] += 1
            if not isinstance(e, Unauthenticated):
                # signed by someone holding the key, so they may learn what was wrong;
                # unsigned, malformed-before-the-signature or replayed traffic is dropped
                # without a word
                reply = {"message": str(e)} if e.re is None else {"message": str(e), "re": e.re}
                self._send(client, Message("error", reply))
            return
        try:
            self._check_session(msg)
            self._dispatch(client, msg)
        except (JobError, ProtocolError) as e:
            self._send(client, Message("error", {"message": str(e), "re": msg.id},
                                       job=msg.job))
        except Exception as e:  # a bug (say, a method that fails to import) must not
            log.exception("request %s failed", msg.type)  # take the server down
            self._send(client, Message("error", {"message": f"internal error: {e!r}",
                                                 "re": msg.id}, job=msg.job))

    def _check_session(self, msg: Message) -> None:
        """A request naming another server session is a message captured from (or meant
        for) an earlier run: refused, as is a state-changing request naming none."""
        ours = self.session.session_id
        if msg.session == ours or (msg.session is None and msg.type not in SESSION_REQUIRED):
            return
        raise ProtocolError(f"{msg.type!r} names server session {msg.session!r}, this "
                            f"server's is {ours!r} (it restarted?): resend it")

    def _dispatch(self, client: bytes, msg: Message) -> None:
        handler = {"ping": self._ping, "info": self._info, "submit": self._submit,
                   "status": self._status, "cancel": self._cancel, "fetch": self._fetch,
                   "shutdown": self._shutdown, "step": self._step}.get(msg.type)
        if handler is None:
            raise ProtocolError(f"{msg.type!r} is not a request")
        handler(client, msg)

    def _reply(self, client: bytes, request: Message, kind: str, content: dict,
               arrays: dict | None = None, job: str | None = None) -> None:
        self._send(client, Message(kind, {**content, "re": request.id}, arrays or {},
                                   job or request.job))

    def _ping(self, client, msg):
        self._reply(client, msg, "pong", {"queued": self._queued_count()})

    def _info(self, client, msg):
        self._reply(client, msg, "info_reply", {
            "version": __version__, "protocol": PROTOCOL_VERSION, "device": "cpu",
            "methods": {name: t.describe() for name, t in methods.job_types().items()},
            "workers": len(self._workers)})

    def _submit(self, client, msg):
        job_type = methods.job_type(msg.content.get("method"))
        params = msg.content.get("params", {})
        if not isinstance(params, dict):
            raise JobError("submit: 'params' must be an object")
        params = job_type.validate(params, msg.arrays)
        size = sum(a.nbytes for a in msg.arrays.values()) + len(json.dumps(params))
        with self._lock:
            held = sum(j.input_bytes for j in self._jobs.values())
        if held + size > self._max_queued_bytes:
            raise JobError(f"submit: the backend already holds {held / 2**20:.0f} MiB of "
                           "input for unfinished jobs (at most "
                           f"{self._max_queued_bytes / 2**20:.0f} MiB); wait for some to finish")
        job = Job(uuid.uuid4().hex, client, job_type, params,
                  {k: np.array(v) for k, v in msg.arrays.items()}, input_bytes=size)
        with self._lock:
            self._jobs[job.id] = job
        # answer before queueing: a woken worker holding the GIL would delay the answer
        self._reply(client, msg, "accepted", {"position": len(self._queue) + 1}, job=job.id)
        self._queue.put(job)

    def _step(self, client, msg):
        """One live request of a stream, answered at once from this thread: no job, no
        queue, no worker hand-over (docs/protocol.md, "Live streams")."""
        job_type = methods.job_type(msg.content.get("method"))
        if job_type.step is None:
            raise JobError(f"step: {job_type.name} serves no live streams")
        stream, restart = msg.content.get("stream"), msg.content.get("restart", False)
        if not isinstance(stream, str) or not 0 < len(stream) <= MAX_STREAM_NAME:
            raise JobError(f"step: 'stream' must name the stream (1 to {MAX_STREAM_NAME} "
                           "characters)")
        if not isinstance(restart, bool):
            raise JobError("step: 'restart' must be true or false")
        params = msg.content.get("params", {})
        if not isinstance(params, dict):
            raise JobError("step: 'params' must be an object")
        params = job_type.validate(params, msg.arrays)
        # streams are the sender's own: another client's stream of the same name is apart
        content, arrays = job_type.step(params, msg.arrays, f"{client.hex()}/{stream}", restart)
        self._reply(client, msg, "step_reply", content, arrays)

    def _allowed_local_paths(self, job_type: JobType, params: dict) -> dict:
        """Parameters naming files on this machine, resolved, once each is inside a folder
        the server's own settings allow. Absent, unreadable and not allowed get one and the
        same answer, so a client cannot probe which paths exist."""
        for name, spec in job_type.params.items():
            if spec.allowed_in is None or params.get(name) is None:
                continue
            allowed = self._allowed_paths.get(spec.allowed_in, [])
            path = _inside(params[name], allowed)
            if path is None:
                raise JobError(
                    f"{job_type.name}: {name} {params[name]!r:.200}: no such SMPL model folder "
                    f"or file readable inside the {len(allowed)} folder(s) this backend allows "
                    f"for {spec.allowed_in} (motionfield serve --{_flag(spec.allowed_in)} DIR)")
            params[name] = path
        return params

    def _job(self, msg: Message) -> Job:
        job = self._jobs.get(msg.job or "")
        if job is None:
            if (msg.job or "") in self._expired:
                raise JobError(f"job {msg.job}: its result expired (results are kept "
                               f"{self._result_ttl:.0f} s and "
                               f"{self._max_result_bytes / 2**20:.0f} MiB in all, oldest "
                               "dropped first); fetch sooner")
            raise JobError(f"no job {msg.job!r:.80} here (finished results are kept "
                           f"{self._result_ttl:.0f} s)")
        return job

    def _status(self, client, msg):
        job = self._job(msg)
        self._reply(client, msg, "status_reply", {"state": job.state, "progress": job.progress})

    def _cancel(self, client, msg):
        job = self._job(msg)
        job.cancel.set()
        if self._queue.remove(job):
            self._finish(job, Message("cancelled", {"stage": "queued"}, job=job.id))
        elif job.state in ("done", "error", "cancelled"):
            self._reply(client, msg, "status_reply", {"state": job.state})

    def _fetch(self, client, msg):
        job = self._job(msg)
        job.client = client  # a reconnected client gets later events too
        if job.result is None:
            self._reply(client, msg, "status_reply", {"state": job.state,
                                                      "progress": job.progress})
        else:
            self._send(client, Message(job.result.type, {**job.result.content, "re": msg.id},
                                       job.result.arrays, job.id))

    def _shutdown(self, client, msg):
        self._reply(client, msg, "shutdown_reply", {})
        self._flush_outbox()
        self._running = False

    def _queued_count(self) -> int:
        return len(self._queue)  # not a scan of every kept job: pings stay cheap

    def _expire_results(self) -> None:
        """Forget results past their time, then the oldest beyond the count and byte
        bounds; their ids are remembered as expired."""
        now = time.monotonic()
        if now < self._next_expiry:  # once a second (or at once after a large result)
            return
        self._next_expiry = now + 1.0
        with self._lock:
            done = sorted((j for j in self._jobs.values() if j.finished),
                          key=lambda j: j.finished)
            kept_bytes = sum(j.result_bytes for j in done)
            for i, job in enumerate(done):
                if now - job.finished <= self._result_ttl and \
                        len(done) - i <= self._max_results and \
                        kept_bytes <= self._max_result_bytes:
                    break
                kept_bytes -= job.result_bytes
                del self._jobs[job.id]
                self._expired[job.id] = None
            while len(self._expired) > MAX_EXPIRED_IDS:
                self._expired.popitem(last=False)

    # ------------------------------------------------------------------ worker threads

    def _work(self) -> None:
        wake = self.ctx.socket(zmq.PUSH)
        wake.setsockopt(zmq.LINGER, 0)
        wake.connect(self._wake_address)
        try:
            while (job := self._queue.get()) is not None:
                self._run(job, wake)
        finally:
            wake.close(0)

    def _run(self, job: Job, wake: zmq.Socket) -> None:
        job.state = "running"
        last = {"time": 0.0, "stage": None}
        began = time.monotonic()

        def progress(step: int, total: int, stage: str) -> None:
            if job.cancel.is_set():
                raise Cancelled
            now = time.monotonic()
            # remaining time if the steps left take as long as the ones done (None: unknown)
            eta = (now - began) * (total - step) / step if 0 < step <= total else None
            job.progress = {"step": step, "total": total, "stage": stage, "eta": eta}
            # at most 20 events a second, but never drop a new stage's first step: a long
            # stage announced within 50 ms of the last event would otherwise not show at all
            if now - last["time"] > 0.05 or step == total or stage != last["stage"]:
                last.update(time=now, stage=stage)
                self._post(job.client, Message("progress", dict(job.progress), job=job.id),
                           wake)

        try:
            params = self._allowed_local_paths(job.type, dict(job.params))
            content, arrays = job.type.run(params, job.arrays, progress)
            self._finish(job, self._result_message(job, content, arrays), wake)
        except Cancelled:
            self._finish(job, Message("cancelled", {"stage": job.progress.get("stage")},
                                      job=job.id), wake)
        except JobError as e:
            self._finish(job, Message("error", {"message": str(e)}, job=job.id), wake)
        except Exception as e:  # a bug in a job must not take the server down
            log.exception("job %s (%s) failed", job.id, job.type.name)
            self._finish(job, Message("error", {"message": f"internal error: {e!r}"},
                                      job=job.id), wake)

    def _result_message(self, job: Job, content: dict, arrays: dict) -> Message:
        """The result, or an error when it would not fit in one message (ZeroMQ would drop
        it, and the client would wait in vain)."""
        size = sum(np.asarray(a).nbytes for a in arrays.values()) + \
            len(json.dumps(content, default=str)) + 64 * 1024  # header, signature: generous
        if size > self._max_message_bytes:
            return Message("error", {"message": (
                f"{job.type.name}: the result is {size / 2**20:.0f} MiB, more than one "
                f"message carries ({self._max_message_bytes / 2**20:.0f} MiB); ask for "
                "less (a shorter span, a lower framerate)")}, job=job.id)
        return Message("result", content, arrays, job.id)

    def _finish(self, job: Job, msg: Message, wake: zmq.Socket | None = None) -> None:
        job.state = {"result": "done", "error": "error", "cancelled": "cancelled"}[msg.type]
        job.result = msg
        job.result_bytes = sum(a.nbytes for a in msg.arrays.values())
        job.arrays, job.params, job.input_bytes = {}, {}, 0  # the input is not kept
        job.finished = time.monotonic()
        if job.result_bytes > self._max_result_bytes // 8:  # trim now: memory is what counts
            self._next_expiry = 0.0
        if wake is None:  # called from the loop thread
            self._send(job.client, msg)
        else:
            self._post(job.client, msg, wake)

    def _post(self, client: bytes, msg: Message, wake: zmq.Socket) -> None:
        self._outbox.put((client, msg))
        wake.send(b"", zmq.NOBLOCK)




def _inside(path: object, folders: list[str]) -> str | None:
    """`path` resolved (links followed) if it exists, is readable and lies in one of
    `folders` (already resolved); else None."""
    if not isinstance(path, str) or not path or "\0" in path:
        return None
    real = os.path.realpath(os.path.expanduser(path))
    for folder in folders:
        try:
            inside = os.path.commonpath([real, folder]) == folder
        except ValueError:  # different drives
            inside = False
        if inside and os.path.exists(real) and os.access(real, os.R_OK):
            return real
    return None


def _flag(setting: str) -> str:
    """The `serve` option for a setting: "smpl_folders" -> "smpl-folder"."""
    return setting.rstrip("s").replace("_", "-")
