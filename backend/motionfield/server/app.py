"""The backend server: one ROUTER socket loop, worker threads, a fair queue, kept results.

Only the loop thread touches the client socket. Workers run jobs and hand events back
through a queue, waking the loop over an inproc socket, so pings, status and cancels are
answered while jobs run. Jobs are taken round-robin across clients (a client with 100
jobs queued does not starve one with 1). A result is pushed to the client that submitted
it and kept for `result_ttl` seconds, so a client that reconnects can `fetch` it.
"""

from __future__ import annotations

import logging
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
from motionfield.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Message,
    ProtocolError,
    Session,
    Unauthenticated,
)
from motionfield.server.jobs import Cancelled, JobError, JobType

log = logging.getLogger("motionfield.server")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


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
                 allow_remote: bool = False):
        if not is_loopback(address) and not allow_remote:
            raise ValueError(f"refusing to listen on {address}: not a loopback address. "
                             "Pass --allow-remote (messages are always signed with the key)")
        self.session = Session(key)
        self.ctx = zmq.Context()
        self.socket = self.ctx.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.socket.bind(address.replace(":0", ":*") if address.endswith(":0") else address)
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._wake_address = f"inproc://wake-{uuid.uuid4().hex}"
        self._wake = self.ctx.socket(zmq.PULL)
        self._wake.bind(self._wake_address)
        self._outbox: queue.Queue[tuple[bytes, Message]] = queue.Queue()
        self._queue = FairQueue()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._result_ttl, self._max_results = result_ttl, max_results
        self._next_expiry = 0.0
        self._running = True
        self._workers = [threading.Thread(target=self._work, daemon=True, name=f"worker-{i}")
                         for i in range(workers)]
        self.stats = {"requests": 0, "rejected": 0}
        methods.job_types()  # import every method now: a broken one fails here, not in info

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
                            frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=True)
                        except zmq.Again:
                            break
                        self._handle_frames(frames)
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

    def _handle_frames(self, frames: list[bytes]) -> None:
        self.stats["requests"] += 1
        if len(frames) < 2:
            self.stats["rejected"] += 1
            return
        client, body = frames[0], frames[1:]
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
            self._dispatch(client, msg)
        except (JobError, ProtocolError) as e:
            self._send(client, Message("error", {"message": str(e), "re": msg.id},
                                       job=msg.job))
        except Exception as e:  # a bug (say, a method that fails to import) must not
            log.exception("request %s failed", msg.type)  # take the server down
            self._send(client, Message("error", {"message": f"internal error: {e!r}",
                                                 "re": msg.id}, job=msg.job))

    def _dispatch(self, client: bytes, msg: Message) -> None:
        handler = {"ping": self._ping, "info": self._info, "submit": self._submit,
                   "status": self._status, "cancel": self._cancel, "fetch": self._fetch,
                   "shutdown": self._shutdown}.get(msg.type)
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
        job = Job(uuid.uuid4().hex, client, job_type, job_type.validate(params, msg.arrays),
                  {k: np.array(v) for k, v in msg.arrays.items()})
        with self._lock:
            self._jobs[job.id] = job
        # answer before queueing: a woken worker holding the GIL would delay the answer
        self._reply(client, msg, "accepted", {"position": len(self._queue) + 1}, job=job.id)
        self._queue.put(job)

    def _job(self, msg: Message) -> Job:
        job = self._jobs.get(msg.job or "")
        if job is None:
            raise JobError(f"no job {msg.job!r} here (finished results are kept "
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
        now = time.monotonic()
        if now < self._next_expiry:  # once a second, not on every message
            return
        self._next_expiry = now + 1.0
        with self._lock:
            done = [j for j in self._jobs.values() if j.finished]
            stale = {j.id for j in done if now - j.finished > self._result_ttl}
            if len(done) - len(stale) > self._max_results:
                oldest = sorted((j for j in done if j.id not in stale), key=lambda j: j.finished)
                stale |= {j.id for j in oldest[: len(done) - len(stale) - self._max_results]}
            for job_id in stale:
                del self._jobs[job_id]

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
        last = [0.0]

        began = time.monotonic()

        def progress(step: int, total: int, stage: str) -> None:
            if job.cancel.is_set():
                raise Cancelled
            now = time.monotonic()
            # remaining time if the steps left take as long as the ones done (None: unknown)
            eta = (now - began) * (total - step) / step if 0 < step <= total else None
            job.progress = {"step": step, "total": total, "stage": stage, "eta": eta}
            if now - last[0] > 0.05 or step == total:  # at most 20 events a second
                last[0] = now
                self._post(job.client, Message("progress", dict(job.progress), job=job.id),
                           wake)

        try:
            content, arrays = job.type.run(job.params, job.arrays, progress)
            self._finish(job, Message("result", content, arrays, job.id), wake)
        except Cancelled:
            self._finish(job, Message("cancelled", {"stage": job.progress.get("stage")},
                                      job=job.id), wake)
        except JobError as e:
            self._finish(job, Message("error", {"message": str(e)}, job=job.id), wake)
        except Exception as e:  # a bug in a job must not take the server down
            log.exception("job %s (%s) failed", job.id, job.type.name)
            self._finish(job, Message("error", {"message": f"internal error: {e!r}"},
                                      job=job.id), wake)

    def _finish(self, job: Job, msg: Message, wake: zmq.Socket | None = None) -> None:
        job.state = {"result": "done", "error": "error", "cancelled": "cancelled"}[msg.type]
        job.result = msg
        job.arrays = {}
        job.finished = time.monotonic()
        if wake is None:  # called from the loop thread
            self._send(job.client, msg)
        else:
            self._post(job.client, msg, wake)

    def _post(self, client: bytes, msg: Message, wake: zmq.Socket) -> None:
        self._outbox.put((client, msg))
        wake.send(b"", zmq.NOBLOCK)


