"""The size attacks of issue 32 against `motionfield serve` running under a 2 GB address
space limit (prlimit --as): each ends in a clear error or a silent drop, and the server
keeps answering a key holder's pings.

The server process registers a test-only job, `blob`, that returns `mib` MiB of bytes, so
results too large for one message and many large unfetched results can be made on demand.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from motionfield import methods
from motionfield.client import BackendError, Client, JobFailed, JobResult
from motionfield.protocol import DELIMITER, PROTOCOL_VERSION, read_connection_file
from motionfield.server import jobs

TESTS = Path(__file__).resolve().parent
LIMIT = 2 * 1024**3
SERVE = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import test_server_limits as t; "
         "t.serve_main()")
pytestmark = pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit")


def _blob(params, arrays, progress):
    progress(1, 1, "done")
    return {"mib": params["mib"]}, {"blob": np.full(int(params["mib"] * 2**20), 7, np.uint8)}


JOB = jobs.JobType(name="blob", label="Blob", help="test only: return MiB of bytes",
                   params={"mib": jobs.Param("number", "size", minimum=0, maximum=1024)},
                   run=_blob)


def serve_main() -> None:
    from motionfield.cli import main

    methods.register("blob", __name__)
    sys.exit(main(sys.argv[1:]))


def _limited(tmp_path_factory, *args: str):
    """`motionfield serve` (with `blob`) under prlimit --as=2G."""
    tmp = tmp_path_factory.mktemp("limits")
    conn = tmp / "backend.json"
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(["prlimit", f"--as={LIMIT}", "--", sys.executable, "-c", SERVE,
                             str(TESTS), "serve", "--connection-file", str(conn), *args],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not conn.exists():
        assert proc.poll() is None, (tmp / "serve.log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    limit = Path(f"/proc/{proc.pid}/limits").read_text()
    assert str(LIMIT) in limit  # the limit really applies to the server
    yield proc, conn, tmp / "serve.log"
    proc.kill()
    proc.wait(timeout=10)
    log.close()
    text = (tmp / "serve.log").read_text(errors="replace")
    assert "MemoryError" not in text and "could not be handled" not in text, text[-3000:]


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """The default: CURVE, so a keyless peer never gets past the handshake."""
    yield from _limited(tmp_path_factory)


@pytest.fixture(scope="module")
def limited_plain(tmp_path_factory):
    """--no-curve: keyless messages reach the server and its own checks drop them."""
    yield from _limited(tmp_path_factory, "--no-curve")


def _alive(proc, conn: Path) -> None:
    assert proc.poll() is None, "the server exited"
    with Client.from_connection_file(conn, heartbeat=5.0) as c:
        assert c.ping(timeout=5.0) < 5.0


def _raw_send(address: str, frames: list) -> None:
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 3000)  # let the bytes go before closing (plain)
    dealer.connect(address)
    dealer.send_multipart(frames, copy=False)
    dealer.close()
    ctx.term()


def _header(buffers: list[int]) -> bytes:
    return json.dumps({"v": PROTOCOL_VERSION, "id": "big", "type": "ping", "job": None,
                       "time": 0.0, "buffers": [{"dtype": "|u1", "shape": [n]}
                                                for n in buffers]}).encode()


@pytest.mark.parametrize("transport,frames_in_one", [("plain", 4), ("curve", 12)])
def test_unsigned_large_messages_are_dropped_and_pings_stay_prompt(request, transport,
                                                                   frames_in_one):
    """A keyless process sends 200 MB frames, one per message and several in one message
    (the bound is on the whole message): all dropped, and a key holder's pings, sent
    meanwhile, keep being answered promptly. Without CURVE, ZeroMQ receives a multipart
    message whole before the server can drop it (4 frames: 800 MB under the 2 GB limit);
    with it, a peer without the connection file never completes the handshake, so even
    12 frames (2.4 GB, more than the limit) cost the server nothing."""
    proc, conn, _ = request.getfixturevalue("limited_plain" if transport == "plain"
                                            else "limited")
    address, _ = read_connection_file(conn)
    frame = bytes(200 * 2**20)
    forged = b"0" * 64 + b"." + b"0" * 64
    attacks = [[DELIMITER, forged, _header([len(frame)]), b'{"arrays":["a"]}', frame]] * 3
    attacks.append([DELIMITER, forged, _header([len(frame)] * frames_in_one),
                    json.dumps({"arrays": [f"a{i}" for i in range(frames_in_one)]}).encode(),
                    *[frame] * frames_in_one])
    worst = []

    def ping_meanwhile(stop: threading.Event) -> None:
        with Client.from_connection_file(conn, heartbeat=5.0) as c:
            while not stop.is_set():
                worst.append(c.ping(timeout=5.0))
                time.sleep(0.05)

    stop = threading.Event()
    pinger = threading.Thread(target=ping_meanwhile, args=(stop,), daemon=True)
    pinger.start()
    try:
        for frames in attacks:
            _raw_send(address, frames)
        time.sleep(1.0)
    finally:
        stop.set()
        pinger.join(timeout=10)
    assert worst and max(worst) < 1.0, max(worst)
    _alive(proc, conn)


def test_work_beyond_the_bounds_is_a_clear_error(limited):
    proc, conn, _ = limited
    with Client.from_connection_file(conn, heartbeat=5.0) as c:
        with pytest.raises(BackendError, match="'seconds' must be at most 10"):
            c.run("predict", {"seconds": 1e6, "fps": 1000}, timeout=30)
        with pytest.raises(BackendError, match="'fps' must be at most 1000"):
            c.run("convert", {"fps": 1e9, "bvh": "HIERARCHY"}, timeout=30)
        with pytest.raises(JobFailed, match="more than one message carries"):
            c.run("blob", {"mib": 300}, timeout=60)  # 300 MiB: over the 256 MiB message
    _alive(proc, conn)


def test_unfetched_results_are_bounded_in_bytes_oldest_first(limited):
    """Twelve 64 MiB results (768 MiB) against the 512 MiB kept-results bound: the oldest
    expire (a clear answer on fetch), the newest are still there, the server lives."""
    proc, conn, _ = limited
    with Client.from_connection_file(conn, heartbeat=5.0) as c:
        ids = [c.submit("blob", {"mib": 64}) for _ in range(12)]
        deadline = time.monotonic() + 60
        while not isinstance(c.fetch(ids[-1]), JobResult):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.5)  # the server trims once a second
        with pytest.raises(BackendError, match="expired"):
            c.fetch(ids[0])
        newest = c.fetch(ids[-1])
        assert isinstance(newest, JobResult) and newest.arrays["blob"].nbytes == 64 * 2**20
    _alive(proc, conn)
