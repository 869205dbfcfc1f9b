"""The client never blocks without a deadline (issue 32): a dead backend, a stalled one,
an oversized result and a backend killed mid-job each end in an exception within the
heartbeat or the timeout asked for, from `ping`, `run` and `poll` alike."""

from __future__ import annotations

import signal
import socket
import threading
import time

import numpy as np
import pytest
import slow_job
from test_server import ServeProcess

from motionfield import methods
from motionfield.client import BackendError, BackendGone, Client, JobFailed
from motionfield.protocol import new_key
from motionfield.server.app import Server

HEARTBEAT = 1.0
SLACK = 0.6  # a poll interval and scheduling on a loaded machine


@pytest.fixture
def sleep_job():
    slow_job.register()
    yield
    slow_job.unregister()


@pytest.fixture
def nobody():
    """A loopback address where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


@pytest.fixture
def served(tmp_path):
    srv = ServeProcess(tmp_path)
    yield srv
    if srv.proc.poll() is None:
        srv.proc.send_signal(signal.SIGCONT)
    srv.stop()


def _raises_within(limit: float, call, exc=BackendGone, match: str | None = None):
    began = time.monotonic()
    with pytest.raises(exc, match=match):
        call()
    took = time.monotonic() - began
    assert took < limit, took
    return took


def _poll_until_raise(client: Client, limit: float) -> float:
    began = time.monotonic()
    with pytest.raises(BackendGone, match="no answer"):
        while time.monotonic() - began < limit + 5:
            client.poll(0.05)
    took = time.monotonic() - began
    assert took < limit, took
    return took


def test_a_dead_backend_raises_within_the_heartbeat(nobody):
    with Client(nobody, new_key(), heartbeat=HEARTBEAT) as c:
        _raises_within(HEARTBEAT + SLACK, c.ping)
        _raises_within(HEARTBEAT + SLACK, lambda: c.run("sleep", {}, timeout=30))
        _poll_until_raise(c, 2 * HEARTBEAT + SLACK)


def test_poll_reports_a_backend_killed_mid_job(served):
    with served.client(heartbeat=HEARTBEAT) as c:
        job = c.submit("sleep", {"steps": 1000, "step_s": 0.02})
        deadline = time.monotonic() + 10
        while not any(e.type == "progress" for e in c.poll(0.05)):
            assert time.monotonic() < deadline, "the job never started"
        served.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _poll_until_raise(c, HEARTBEAT + SLACK + 1.0)
        assert time.monotonic() - killed < HEARTBEAT + SLACK + 0.5
        assert job


def test_a_stalled_backend_raises_from_ping_run_and_poll(served):
    """SIGSTOP: the process is there, its sockets accept bytes, nothing answers."""
    with served.client(heartbeat=HEARTBEAT) as c:
        c.ping()
        served.proc.send_signal(signal.SIGSTOP)
        try:
            _raises_within(HEARTBEAT + SLACK, c.ping)
            _raises_within(HEARTBEAT + SLACK, lambda: c.submit("sleep", {"steps": 1}))
            _poll_until_raise(c, 2 * HEARTBEAT + SLACK)
        finally:
            served.proc.send_signal(signal.SIGCONT)
        assert c.ping(timeout=5) < 5  # and it recovers once the backend runs again


def test_run_honours_its_timeout_while_the_backend_is_alive(served):
    with served.client(heartbeat=HEARTBEAT) as c:
        took = _raises_within(2.0 + SLACK, lambda: c.run("sleep", {"steps": 1000,
                                                                  "step_s": 0.05},
                                                         timeout=2.0),
                              BackendError, "longer than 2 s; cancelled")
        assert took >= 2.0


class _ThreadServer:
    def __init__(self, **kw):
        self.key = new_key()
        self.server = Server("tcp://127.0.0.1:0", self.key, **kw)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        with Client(self.server.address, self.key) as c:
            c.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def blob_job():
    methods.register("blob", "test_server_limits")  # returns `mib` MiB of bytes
    yield
    methods.unregister("blob")


def test_a_result_larger_than_a_message_is_an_error_not_a_hang(blob_job):
    srv = _ThreadServer(max_message_bytes=4 * 2**20)
    try:
        with Client(srv.server.address, srv.key, heartbeat=HEARTBEAT) as c:
            assert c.run("blob", {"mib": 1}, timeout=10).arrays["blob"].nbytes == 2**20
            _raises_within(5.0, lambda: c.run("blob", {"mib": 5}, timeout=10), JobFailed,
                           "the result is 5 MiB, more than one message carries")
            assert c.ping() < 1.0
    finally:
        srv.stop()


def test_a_result_larger_than_the_client_accepts_raises_within_the_timeout(sleep_job):
    """The issue's hang: ZeroMQ drops a message over the client's MAXMSGSIZE and the
    connection with it; the client used to block in its heartbeat's send for minutes."""
    srv = _ThreadServer()
    try:
        with Client(srv.server.address, srv.key, heartbeat=HEARTBEAT,
                    max_message_bytes=2**20) as c:
            _raises_within(HEARTBEAT * 2 + SLACK,
                           lambda: c.run("sleep", {"steps": 1, "step_s": 0.0},
                                         {"x": np.zeros(2**18)}, timeout=30),
                           BackendGone)
    finally:
        srv.stop()
