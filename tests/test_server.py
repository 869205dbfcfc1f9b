"""The backend against a real server over real loopback sockets.

Two ways to run one: `Server` in a thread of this process (its `stats` can be read and a
test-only `sleep` job registered), or `motionfield serve` as a subprocess (so it can be
killed), reading address and key from the connection file it writes. Every server is
shut down by its fixture; every loop here is bounded in count and in time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import slow_job
import zmq

from motionfield import methods
from motionfield.cli import main
from motionfield.client import BackendError, BackendGone, Client, JobFailed, JobResult
from motionfield.motion import Motion
from motionfield.protocol import (
    DELIMITER,
    PROTOCOL_VERSION,
    Message,
    Session,
    new_key,
    read_connection_file,
)
from motionfield.server import jobs
from motionfield.server.app import Server

TESTS = Path(__file__).resolve().parent
SERVE = "import sys; sys.path.insert(0, sys.argv.pop(1)); import slow_job; slow_job.serve_main()"
LOOPBACK = "tcp://127.0.0.1:0"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def sleep_job():
    slow_job.register()
    yield slow_job.SLEEP
    slow_job.unregister()


class ThreadServer:
    def __init__(self, workers: int = 1):
        self.key = new_key()
        self.server = Server(LOOPBACK, self.key, workers=workers)
        self.address = self.server.address
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def client(self, heartbeat: float = 2.0) -> Client:
        return Client(self.address, self.key, heartbeat=heartbeat)

    def stop(self) -> None:
        if self.thread.is_alive():
            try:
                with self.client() as c:
                    c.shutdown()
            except BackendError:
                pass
            self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the server thread did not stop"


@pytest.fixture
def served_thread(sleep_job):
    srv = ThreadServer(workers=1)
    yield srv
    srv.stop()


class ServeProcess:
    """`motionfield serve` (with the `sleep` job) in a subprocess on a loopback port."""

    def __init__(self, tmp: Path, *args: str):
        self.connection_file = tmp / "backend.json"
        self.log = open(tmp / "serve.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(TESTS), "serve", "--connection-file",
             str(self.connection_file), *args], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.connection_file.exists():
            assert self.proc.poll() is None, f"serve exited: {self.read_log()}"
            assert time.monotonic() < deadline, "serve wrote no connection file in 30 s"
            time.sleep(0.02)
        self.address, self.key = read_connection_file(self.connection_file)

    def client(self, heartbeat: float = 2.0) -> Client:
        return Client.from_connection_file(self.connection_file, heartbeat=heartbeat)

    def read_log(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def served_process(tmp_path):
    srv = ServeProcess(tmp_path)
    yield srv
    srv.stop()


def wait_for(client: Client, job: str, kinds: tuple[str, ...], limit: float) -> Message:
    """The first event of `job` whose type is in `kinds`, within `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for event in client.poll(0.05):
            if event.job == job and event.type in kinds:
                return event
    raise AssertionError(f"no {kinds} event for job {job} within {limit} s")


# --------------------------------------------------------------------------- malformed traffic


def _malformed(rng: np.random.Generator, session: Session, replay: list[bytes],
               i: int) -> tuple[list[bytes], str]:
    """One malformed message (frames for a DEALER) and what the server should do with it.

    "dropped": no reply (anything a stranger could send: no key, wrong signature, a
    replay, too few frames); "rejected": refused by the protocol layer with an error reply
    (signed, so the sender holds the key); "error": decoded, then refused by the request
    handler (unknown job type, bad parameters) with an error reply; "pong": a valid ping.
    """

    def signed(header: object, content: object = None, *buffers: bytes,
               raw_header: bytes | None = None, raw_content: bytes | None = None):
        h = raw_header if raw_header is not None else json.dumps(header).encode()
        c = raw_content if raw_content is not None else json.dumps(
            {"fuzz": i} if content is None else content).encode()  # no accidental replays
        parts = [h, c, *buffers]
        return [DELIMITER, session.sign(parts), *parts]

    def header(kind="ping", **kw):
        h = {"v": PROTOCOL_VERSION, "id": f"fuzz-{i}", "type": kind, "job": None,
             "time": 0.0, "buffers": []}
        h.update(kw)
        return h

    noise = lambda n: rng.bytes(int(n))  # noqa: E731
    f4 = {"dtype": "<f4", "shape": [1000, 3]}
    case = i % 24
    if case == 0:  # random bytes, one frame
        return [noise(rng.integers(0, 200))], "dropped"
    if case == 1:  # random bytes, random frame counts (too few, a plausible count, too many)
        return [noise(rng.integers(0, 40)) for _ in range(rng.choice([1, 2, 3, 5, 70, 90]))], \
            "dropped"
    if case == 2:  # the delimiter, then garbage
        return [DELIMITER, *[noise(rng.integers(0, 80)) for _ in range(rng.integers(1, 6))]], \
            "dropped"
    if case == 3:  # a well-formed ping with a wrong signature
        frames = signed(header())
        frames[1] = noise(32).hex().encode()
        return frames, "dropped"
    if case == 4:  # a well-formed ping signed with another key
        return Session(b"not-the-key").serialize(Message("ping")), "dropped"
    if case == 5:  # a replay of a message the server already accepted
        return list(replay), "dropped"
    if case == 6:  # a valid signature over garbage (header and content random bytes)
        return signed(None, raw_header=noise(rng.integers(0, 100)),
                      raw_content=noise(rng.integers(0, 100))), "rejected"
    if case == 7:  # a header that is JSON but no object, or no JSON at all
        bad = [b"[1, 2]", b"null", b"\"ping\"", b"{", b"{\"v\": 1,}", b"\xff\xfe",
               b"[" * 20000, b"{\"v\": " + b"9" * 5000 + b"}"]
        return signed(None, raw_header=bad[i // 24 % len(bad)]), "rejected"
    if case == 8:  # content that is not a JSON object
        bad = [b"[]", b"42", b"{\"a\":", b"\x00\x01", b"{\"a\": NaN", b"[" * 20000]
        return signed(header(), raw_content=bad[i // 24 % len(bad)]), "rejected"
    if case == 9:  # a lying shape: (1000, 3) float32 declared, fewer bytes sent
        return signed(header("submit", buffers=[f4]), {"method": "sleep", "arrays": ["x"]},
                      noise(rng.integers(0, 12000))), "rejected"
    if case == 10:  # huge declared sizes
        shape = [[2**31 - 1, 2**31 - 1, 2**31 - 1], [2**40], [-1, 3], [1.5], [True],
                 list(range(1, 12)), "big"][i // 24 % 7]
        return signed(header("submit", buffers=[{"dtype": "<f8", "shape": shape}]),
                      {"method": "sleep", "arrays": ["x"]}, noise(64)), "rejected"
    if case == 11:  # dtypes outside the allowed set
        dtype = ["<f2", "|O", "object", ">f4", "<c16", None, 7][i // 24 % 7]
        return signed(header("submit", buffers=[{"dtype": dtype, "shape": [2]}]),
                      {"method": "sleep", "arrays": ["x"]}, noise(16)), "rejected"
    if case == 12:  # buffer frames, descriptions and names that do not match
        return signed(header("submit", buffers=[f4, f4]), {"method": "sleep", "arrays": ["x"]},
                      noise(12000)), "rejected"
    if case == 13:  # unknown protocol versions
        v = [PROTOCOL_VERSION + 1, 0, "1", None, 1.5][i // 24 % 5]
        return signed(header(v=v)), "rejected"
    if case == 14:  # unknown message types, and events sent as requests
        kind = ["explode", "", None, 3, "pong", "result", "error"][i // 24 % 7]
        return signed(header(kind)), "error" if kind in ("pong", "result", "error") \
            else "rejected"
    if case == 15:  # unknown job types
        method = ["teleport", "", None, 12, ["convert"]][i // 24 % 5]
        return signed(header("submit"), {"method": method, "params": {}}), "error"
    if case == 16:  # params that are not an object
        params = [[1, 2], "fps=30", 30, None, True][i // 24 % 5]
        return signed(header("submit"), {"method": "convert", "params": params}), "error"
    if case == 17:  # parameters of the wrong type, unknown or out of range
        params = [{"fps": "fast"}, {"fps": True}, {"fps": 30, "bvh": 3}, {"fps": -1},
                  {"fps": 30, "proportions": "giant"}, {"fps": 30, "colour": "red"},
                  {"fps": 30, "map": [1]}, {}][i // 24 % 8]
        return signed(header("submit"), {"method": "convert", "params": params}), "error"
    if case == 18:  # ids and job ids of the wrong type
        return signed(header(id=[i], job=7)), "rejected"
    if case == 19:  # a time no float can hold
        return signed(None, raw_header=(b"{\"v\": 1, \"id\": \"t%d\", \"type\": \"ping\", "
                                        b"\"time\": 1%s, \"buffers\": []}"
                                        % (i, b"0" * 400))), "rejected"
    if case == 20:  # status, cancel and fetch of jobs that do not exist
        kind = ["status", "cancel", "fetch"][i // 24 % 3]
        return signed(header(kind, job=["nope", None, "../../etc"][i // 24 % 3])), "error"
    if case == 21:  # arrays an existing job type does not take
        return signed(header("submit", buffers=[{"dtype": "<f8", "shape": [1]}]),
                      {"method": "sleep", "params": {}, "arrays": ["y"]}, noise(8)), "error"
    if case == 22:  # a buffer list that is no list, or array names that are no strings
        buffers, names = [("many", ["x"]), ([{"dtype": "<f8", "shape": [1]}], [[1]]),
                          ([{"dtype": "<f8", "shape": [1]}], "x")][i // 24 % 3]
        return signed(header("submit", buffers=buffers), {"method": "sleep", "arrays": names},
                      noise(8)), "rejected"
    # a well-formed ping: it must be answered with a pong (and is kept for replay)
    frames = session.serialize(Message("ping"))
    replay[:] = frames
    return frames, "pong"


def test_thousands_of_malformed_messages_are_refused_and_the_server_lives_on(served_thread):
    srv = served_thread
    session = Session(srv.key)  # the fuzzer holds the key for the signed cases
    rng = np.random.default_rng(0)
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVHWM, 0)
    dealer.setsockopt(zmq.SNDTIMEO, 2000)  # a dead server fails the test, never hangs it
    dealer.connect(srv.address)
    reader = Session(srv.key)
    replay: list[bytes] = list(session.serialize(Message("ping")))
    dealer.send_multipart(replay)  # answered once; from then on a replay
    answered = {"error": 0, "pong": 0}
    expected = {"error": 0, "pong": 1}
    outcomes = {"dropped": 0, "rejected": 0, "error": 0, "pong": 1}
    n = 3000

    def drain(timeout_ms: int) -> None:
        while dealer.poll(timeout_ms):
            reply = reader.deserialize(dealer.recv_multipart())
            assert reply.type in answered, reply
            if reply.type == "error":
                assert reply.content["message"]
            answered[reply.type] += 1
            timeout_ms = 0

    began = time.monotonic()
    try:
        for i in range(n):
            frames, outcome = _malformed(rng, session, replay, i)
            outcomes[outcome] += 1
            if outcome != "dropped":
                expected["pong" if outcome == "pong" else "error"] += 1
            dealer.send_multipart(frames)
            if i % 200 == 199 or i == n - 1:
                # bursts of 200: a peer that never reads would have its replies dropped
                # once the server's send queue (1000 messages) is full, and rightly so
                deadline = time.monotonic() + 5
                while answered != expected and time.monotonic() < deadline:
                    drain(50)
                assert answered == expected, (i, answered, expected)
    finally:
        dealer.close(0)
        ctx.term()
    assert time.monotonic() - began < 20
    assert answered == expected  # one error per signed malformed message, none to strangers
    # the server counted every message, and rejected each one the protocol layer refuses
    assert srv.server.stats == {"requests": n + 1, "failed": 0,
                                "rejected": outcomes["dropped"] + outcomes["rejected"]}
    assert min(outcomes.values()) > 100, outcomes
    with srv.client() as c:
        assert c.ping() < 1.0
    assert srv.thread.is_alive()


# --------------------------------------------------------------------------- killed peers


def test_a_client_killed_mid_job_does_not_hurt_the_server(served_process, tmp_path):
    srv = served_process
    script = ("import sys, time\n"
              "from motionfield.client import Client\n"
              "c = Client.from_connection_file(sys.argv[1])\n"
              "print(c.submit('sleep', {'steps': 40, 'step_s': 0.02}), flush=True)\n"
              "time.sleep(60)\n")
    victim = subprocess.Popen([sys.executable, "-c", script, str(srv.connection_file)],
                              stdout=subprocess.PIPE, text=True)
    try:
        job = victim.stdout.readline().strip()
        assert len(job) == 32, job
        time.sleep(0.1)  # mid-job: a few progress events have been sent to it
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(timeout=10)
    with srv.client() as c:
        assert c.ping() < 1.0
        result = c.run("sleep", {"steps": 3, "step_s": 0.0, "tag": 5},
                       {"x": np.arange(4.0)}, timeout=10)
        assert result.content["tag"] == 5
        np.testing.assert_array_equal(result.arrays["x"], np.arange(4.0) * 2)
        # the orphaned job ran to its end and its result is kept for whoever fetches it
        deadline = time.monotonic() + 5
        while not isinstance(got := c.fetch(job), JobResult):
            assert time.monotonic() < deadline, got
            time.sleep(0.05)
        assert got.content["steps_done"] == 40
    assert srv.proc.poll() is None


def test_a_server_killed_mid_job_raises_backend_gone_within_the_heartbeat(served_process):
    srv = served_process
    heartbeat = 1.0
    killed = []

    def kill_when_running(job_started: threading.Event) -> None:
        if job_started.wait(10):
            time.sleep(0.2)
            killed.append(time.monotonic())
            srv.proc.send_signal(signal.SIGKILL)

    started = threading.Event()
    killer = threading.Thread(target=kill_when_running, args=(started,), daemon=True)
    killer.start()
    with srv.client(heartbeat=heartbeat) as c:
        # another job's events, left unclaimed while `run` waits, are no sign of life
        c.submit("sleep", {"steps": 2, "step_s": 0.0})
        with pytest.raises(BackendGone, match="no answer"):
            c.run("sleep", {"steps": 1000, "step_s": 0.02}, progress=lambda p: started.set(),
                  timeout=10)
        raised = time.monotonic()
        assert {e.type for e in c.poll()} == {"progress", "result"}  # and are kept
    killer.join(timeout=10)
    assert killed, "the job never reported progress"
    # the client noticed within its heartbeat (plus one poll interval of slack)
    assert raised - killed[0] < heartbeat + 0.3, raised - killed[0]


# --------------------------------------------------------------------------- cancel and fetch


def test_progress_events_carry_step_total_stage_and_eta(served_thread):
    with served_thread.client() as c:
        job = c.submit("sleep", {"steps": 20, "step_s": 0.02})
        seen = []
        while not seen or seen[-1]["step"] < 20:
            seen.append(wait_for(c, job, ("progress",), 5).content)
        assert set(seen[-1]) == {"step", "total", "stage", "eta"}
        assert all(p["total"] == 20 for p in seen)
        mid = [p for p in seen if 5 <= p["step"] <= 15]
        assert mid and all(0 < p["eta"] < 1.0 for p in mid)  # ~20 ms a step left
        assert seen[-1]["eta"] == 0


def _two_stages(params, arrays, progress):
    progress(0, 2, "loading")
    progress(1, 2, "working")  # at once: within the 50 ms that thin out progress events
    time.sleep(0.3)
    progress(2, 2, "done")
    return {}, {}


JOB = jobs.JobType(name="stages", label="Stages", help="test only: a stage starts at once",
                   params={}, run=_two_stages)


def test_a_new_stage_is_sent_even_right_after_the_last_event():
    methods.register(JOB.name, __name__)
    srv = ThreadServer()
    try:
        with srv.client() as c:
            job = c.submit("stages", {})
            stages, deadline = [], time.monotonic() + 5
            while "done" not in stages and time.monotonic() < deadline:
                stages += [e.content["stage"] for e in c.poll(0.05)
                           if e.job == job and e.type == "progress"]
        assert stages == ["loading", "working", "done"]
    finally:
        srv.stop()
        methods.unregister(JOB.name)


def test_a_cancel_takes_effect_within_a_fifth_of_a_second(served_thread):
    with served_thread.client() as c:
        began = time.monotonic()
        job = c.submit("sleep", {"steps": 100, "step_s": 0.02})
        wait_for(c, job, ("progress",), 5)
        time.sleep(0.1)
        cancelled_at = time.monotonic()
        c.cancel(job)
        event = wait_for(c, job, ("cancelled", "result", "error"), 5)
        arrived = time.monotonic()
        assert event.type == "cancelled", event
        assert arrived - cancelled_at < 0.2, arrived - cancelled_at
        assert arrived - began < 1.0  # 100 steps of 20 ms would take 2 s
        status = c.status(job)
        assert status["state"] == "cancelled"
        assert status["progress"]["step"] < 50, status
        # a queued job is cancelled at once, before it runs
        running = c.submit("sleep", {"steps": 100, "step_s": 0.02})
        queued = c.submit("sleep", {"steps": 100, "step_s": 0.02})
        c.cancel(queued)
        event = wait_for(c, queued, ("cancelled",), 1)
        assert event.content["stage"] == "queued"
        c.cancel(running)
        wait_for(c, running, ("cancelled",), 1)
        assert c.ping() < 1.0


def test_a_result_waits_until_it_is_fetched_by_a_new_client(served_thread):
    x = np.linspace(0.0, 1.0, 12).reshape(4, 3)
    with served_thread.client() as c:
        job = c.submit("sleep", {"steps": 10, "step_s": 0.01, "tag": 42}, {"x": x})
    time.sleep(0.3)  # the result is ready, and pushed to a client that is gone
    with served_thread.client() as c:
        deadline = time.monotonic() + 5
        while not isinstance(got := c.fetch(job), JobResult):
            assert time.monotonic() < deadline, got
            time.sleep(0.05)
        assert got.job == job
        assert got.content["tag"] == 42
        np.testing.assert_array_equal(got.arrays["x"], x * 2)
        again = c.fetch(job)  # fetching does not consume it
        np.testing.assert_array_equal(again.arrays["x"], x * 2)


# --------------------------------------------------------------------------- load


def _smpl_input(client: int, job: int, frames: int = 6) -> dict[str, np.ndarray]:
    angle = (client * 100 + job) * 1e-3
    rotations = np.zeros((frames, 24, 4))
    rotations[..., 0] = 1.0
    rotations[:, 0] = [np.cos(angle / 2), 0.0, np.sin(angle / 2), 0.0]  # root about Y
    translation = np.stack([np.full(frames, float(client)), np.full(frames, float(job)),
                            np.arange(frames) * 0.01], axis=1)
    return {"rotations": rotations, "root_translation": translation,
            "times": np.arange(frames) / 30.0}


def test_eight_clients_with_a_hundred_jobs_each_lose_and_mix_up_nothing(sleep_job):
    srv = ThreadServer(workers=2)
    clients, per_client = 8, 100
    outcomes: dict[int, dict[int, JobResult]] = {}
    failures: list[BaseException] = []

    def one_client(k: int) -> None:
        try:
            with srv.client(heartbeat=5.0) as c:
                ids = {c.submit("convert", {"fps": 30}, _smpl_input(k, i)): i
                       for i in range(per_client)}
                assert len(ids) == per_client
                got: dict[int, JobResult] = {}
                deadline = time.monotonic() + 40
                while len(got) < per_client and time.monotonic() < deadline:
                    for event in c.poll(0.1):
                        if event.type == "progress":
                            continue
                        assert event.type == "result", event
                        assert event.job in ids, "an event for another client's job"
                        i = ids[event.job]
                        assert i not in got, "a result delivered twice"
                        got[i] = JobResult(event.job, event.content, event.arrays)
                outcomes[k] = got
        except BaseException as e:  # reported in the main thread
            failures.append(e)

    try:
        threads = [threading.Thread(target=one_client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
    finally:
        srv.stop()
    assert not failures, failures
    for k in range(clients):
        assert sorted(outcomes[k]) == list(range(per_client)), f"client {k} lost results"
        for i, result in outcomes[k].items():
            sent = _smpl_input(k, i)
            # poses travel as float32 (Blender's keyframe precision)
            np.testing.assert_allclose(result.arrays["root_translation"],
                                       sent["root_translation"], atol=1e-6)
            np.testing.assert_allclose(result.arrays["rotations"], sent["rotations"],
                                       atol=1e-6)
            assert result.content["frames"] == 6


# --------------------------------------------------------------------------- security and CLI


def test_a_non_loopback_bind_is_refused_without_a_key(tmp_path):
    conn = tmp_path / "remote.json"
    done = subprocess.run([sys.executable, "-m", "motionfield.cli", "serve", "--bind",
                           "tcp://0.0.0.0:0", "--connection-file", str(conn)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "refusing to listen on tcp://0.0.0.0:0" in done.stderr
    assert "--key-file" in done.stderr
    assert not conn.exists()
    with pytest.raises(ValueError, match="not a loopback address"):
        Server("tcp://0.0.0.0:0", new_key())


def test_the_connection_file_is_for_its_owner_alone(served_process):
    mode = os.stat(served_process.connection_file).st_mode & 0o777
    assert mode == 0o600, oct(mode)
    assert served_process.address.startswith("tcp://127.0.0.1:")
    assert not served_process.address.endswith(":0")
    # a client without the key hears nothing at all
    with Client(served_process.address, b"wrong-key", heartbeat=0.3) as stranger:
        with pytest.raises(BackendGone):
            stranger.ping()
    with served_process.client() as c:
        assert c.ping() < 1.0


def test_client_convert_through_the_backend_equals_convert(served_process, data_root,
                                                         tmp_path, capsys):
    src = data_root / "cmu_bvh" / "02_01.bvh"
    direct, served = tmp_path / "direct.npz", tmp_path / "served.npz"
    generic = tmp_path / "generic.npz"
    assert main(["convert", str(src), "--fps", "29.97", "-o", str(direct)]) == 0
    assert main(["client", "--connection-file", str(served_process.connection_file),
                 "convert", str(src), "--fps", "29.97", "-o", str(served)]) == 0
    assert main(["client", "run", "convert", "--file", f"bvh_file={src}", "--param",
                 "fps=29.97", "--connection-file", str(served_process.connection_file),
                 "-o", str(generic)]) == 0
    with np.load(served) as a, np.load(generic) as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    with np.load(direct) as a, np.load(served) as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            if a[name].dtype.kind in "fc":  # poses travel as float32, times as float64
                atol = 1e-9 if name == "times" else 1e-6
                np.testing.assert_allclose(b[name], a[name], atol=atol, rtol=0, err_msg=name)
            else:
                np.testing.assert_array_equal(b[name], a[name], err_msg=name)
        assert tuple(a["fps"]) == (30000, 1001)
    assert "frames at" in capsys.readouterr().out


def test_client_outputs_are_checked_before_the_job_runs(served_process, data_root, tmp_path,
                                                        capsys):
    conn = ["--connection-file", str(served_process.connection_file)]
    src = tmp_path / "take.bvh"
    src.write_bytes((data_root / "cmu_bvh" / "02_01.bvh").read_bytes())
    before = src.read_bytes()
    assert main(["client", *conn, "convert", str(src), "--fps", "30", "-o", str(src)]) == 2
    assert "must end in .npz" in capsys.readouterr().err and src.read_bytes() == before
    out = tmp_path / "out.npz"
    out.write_bytes(b"keep")
    assert main(["client", *conn, "convert", str(src), "--fps", "30", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == b"keep"
    assert main(["client", *conn, "convert", str(src), "--fps", "30", "-o", str(out),
                 "--force"]) == 0
    written = out.read_bytes()
    assert Motion.load(out).num_frames > 0
    assert main(["client", *conn, "run", "convert", "--motion", str(out), "--param",
                 "fps=30", "-o", str(out), "--force"]) == 2
    assert "over the input" in capsys.readouterr().err and out.read_bytes() == written


def test_a_short_job_returns_at_once(served_process):
    """Events that arrive with the `accepted` reply are handed over without waiting."""
    with served_process.client() as c:
        c.run("sleep", {"steps": 0}, timeout=5)
        took = []
        for _ in range(40):
            began = time.monotonic()
            c.run("sleep", {"steps": 0}, {"x": np.ones(3)}, timeout=5)
            took.append(time.monotonic() - began)
        assert max(took) < 0.25, sorted(took)[-5:]


# --------------------------------------------------------------------------- lifetime


def _exit_within(proc: subprocess.Popen, limit: float) -> float:
    """Seconds until `proc` exits (fails past `limit`)."""
    began = time.monotonic()
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {limit} s later") from None
    return time.monotonic() - began


@pytest.mark.parametrize("reaped", [True, False], ids=["parent-reaped", "parent-a-zombie"])
def test_serve_stops_within_two_seconds_of_its_parent_dying(tmp_path, reaped):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        srv = ServeProcess(tmp_path, "--parent-pid", str(parent.pid))
        with srv.client() as c:  # a job running when the parent dies is cancelled
            job = c.submit("sleep", {"steps": 1000, "step_s": 0.02})
            wait_for(c, job, ("progress",), 5)
            parent.kill()
            if reaped:
                parent.wait(timeout=10)
            took = _exit_within(srv.proc, 2.0)
        assert srv.proc.returncode == 0, srv.read_log()
        assert "(the parent) ended: stopping" in srv.read_log()
        assert not srv.connection_file.exists()  # its own file: the next start writes anew
        assert took < 2.0
        srv.stop()
    finally:
        parent.kill()
        parent.wait(timeout=10)


def test_serve_refuses_a_parent_pid_that_is_no_process(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    for pid in (str(gone.pid), "0", "-1"):
        done = subprocess.run([sys.executable, "-m", "motionfield.cli", "serve",
                               "--parent-pid", pid, "--connection-file",
                               str(tmp_path / "c.json")], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 2 and f"--parent-pid {pid}: no such process" in done.stderr
        assert not (tmp_path / "c.json").exists()


def test_sigterm_stops_serve_cleanly_and_keeps_a_newer_backends_file(tmp_path):
    (tmp_path / "other").mkdir()
    srv, other = ServeProcess(tmp_path), ServeProcess(tmp_path / "other")
    try:
        # a second backend wrote over the first one's file: the first must leave it be
        shared = other.connection_file.read_bytes()
        srv.connection_file.write_bytes(shared)
        srv.proc.send_signal(signal.SIGTERM)
        _exit_within(srv.proc, 5.0)
        assert srv.proc.returncode == 0, srv.read_log()
        assert srv.connection_file.read_bytes() == shared
        other.proc.send_signal(signal.SIGTERM)
        _exit_within(other.proc, 5.0)
        assert other.proc.returncode == 0 and not other.connection_file.exists()
    finally:
        srv.stop()
        other.stop()


@pytest.mark.parametrize("where", ["before", "after"])
def test_client_commands_take_the_connection_file_before_or_after(served_process, capsys,
                                                                where):
    option = ["--connection-file", str(served_process.connection_file)]
    for command in (["ping", "--count", "2"], ["info"]):
        argv = ["client", *option, *command] if where == "before" else \
            ["client", *command, *option]
        assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "pong from tcp://127.0.0.1:" in out and '"sleep"' in out
    # after the subcommand, it wins over the one before (a missing file here)
    assert main(["client", "--connection-file", "/nonexistent", "ping", *option]) == 0
    assert main(["client", "ping", "--connection-file", "/nonexistent"]) == 2
    assert "cannot read connection file /nonexistent" in capsys.readouterr().err


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_the_parent_watch_calls_back_once_the_process_ends(monkeypatch, pidfd):
    from motionfield.server import parent

    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    elif not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfd on this system")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    ended = threading.Event()
    try:
        assert parent.is_alive(child.pid)
        parent.watch(child.pid, ended.set)
        assert not ended.wait(0.5)  # alive: no call
        child.kill()
        child.wait(timeout=10)
        assert ended.wait(2.0)
        assert not parent.is_alive(child.pid)
    finally:
        child.kill()
        child.wait(timeout=10)


def test_client_run_prints_a_result_without_motion_as_json(served_process, tmp_path, capsys):
    conn = ["--connection-file", str(served_process.connection_file)]
    assert main(["client", "run", "sleep", *conn, "--param", "steps=3", "--param", "step_s=0",
                 "--param", "tag=7"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"steps_done": 3, "tag": 7, "arrays": {"x": [0]}}
    assert main(["client", "run", "sleep", *conn, "--param", "steps=0", "-o",
                 str(tmp_path / "x.npz")]) == 2
    assert "carries no motion" in capsys.readouterr().err
    assert main(["client", "run", "teleport", *conn]) == 2
    assert "offers no method 'teleport'" in capsys.readouterr().err


# --------------------------------------------------------------------------- remote mode (issue 32)


def _serve(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "motionfield.cli", "serve", *args],
                          capture_output=True, text=True, timeout=timeout)


def _one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("motionfield: error: "), done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_a_second_serve_refuses_while_the_first_is_alive(served_process):
    before = served_process.connection_file.read_bytes()
    done = subprocess.run([sys.executable, "-c", SERVE, str(TESTS), "serve",
                           "--connection-file", str(served_process.connection_file)],
                          capture_output=True, text=True, timeout=30)
    _one_line_error(done, "already running", str(served_process.connection_file))
    assert served_process.connection_file.read_bytes() == before
    with served_process.client() as c:
        assert c.ping() < 1.0


def test_bind_failures_are_one_line_errors(served_process, tmp_path):
    taken = served_process.address  # a port the first backend holds
    _one_line_error(_serve("--bind", taken, "--connection-file", str(tmp_path / "a.json")),
                    f"cannot listen on {taken}", "taken")
    _one_line_error(_serve("--bind", "tcp://127.0.0.1:99999", "--connection-file",
                           str(tmp_path / "b.json")), "cannot listen on tcp://127.0.0.1:99999")
    _one_line_error(_serve("--bind", "tcp://127.0.0.1", "--connection-file",
                           str(tmp_path / "c.json")), "cannot listen on tcp://127.0.0.1")
    _one_line_error(_serve("--bind", "ipc:///nonexistent/folder/sock", "--connection-file",
                           str(tmp_path / "d.json")), "cannot listen on ipc:///nonexistent")
    assert not any((tmp_path / f"{name}.json").exists() for name in "abcd")


def test_weak_or_exposed_key_files_are_refused(tmp_path):
    key = tmp_path / "key"
    key.write_text("x")  # one byte
    key.chmod(0o600)
    _one_line_error(_serve("--bind", "tcp://0.0.0.0:0", "--key-file", str(key),
                           "--connection-file", str(tmp_path / "c.json")), "at least 32")
    key.write_text(new_key().decode())
    key.chmod(0o644)
    _one_line_error(_serve("--bind", "tcp://0.0.0.0:0", "--key-file", str(key),
                           "--connection-file", str(tmp_path / "c.json")), "readable by others")
    assert not (tmp_path / "c.json").exists()


def test_a_remote_bind_is_curve_encrypted_and_its_keys_travel_in_the_connection_file(tmp_path):
    key = tmp_path / "key"
    key.write_text(new_key().decode() + "\n")
    key.chmod(0o600)
    srv = ServeProcess(tmp_path, "--bind", "tcp://0.0.0.0:0", "--key-file", str(key))
    try:
        doc = json.loads(srv.connection_file.read_text())
        assert len(doc["curve_server_key"]) == 40  # Z85 of 32 bytes
        deadline = time.monotonic() + 10
        while "listening" not in srv.read_log():  # printed just after the file is written
            assert time.monotonic() < deadline, srv.read_log()
            time.sleep(0.05)
        assert "(CURVE encrypted)" in srv.read_log()
        address = srv.address.replace("0.0.0.0", "127.0.0.1")
        with Client(address, srv.key, heartbeat=5.0,
                    curve_server_key=doc["curve_server_key"].encode()) as c:
            assert c.ping() < 1.0
        # the right HMAC key without the server's public key: no connection at all
        with Client(address, srv.key, heartbeat=0.5) as plain:
            with pytest.raises(BackendGone):
                plain.ping()
        import zmq as _zmq  # a wrong server key: the handshake fails, nothing is answered
        with Client(address, srv.key, heartbeat=0.5,
                    curve_server_key=_zmq.curve_keypair()[0]) as wrong:
            with pytest.raises(BackendGone):
                wrong.ping()
    finally:
        srv.stop()


def test_a_shutdown_captured_from_an_earlier_run_does_not_stop_a_restarted_server():
    key = new_key()
    first = Server(LOOPBACK, key)
    captured = Session(key, session_id=first.session.session_id).serialize(
        Message("shutdown"))  # what an eavesdropper records (the first run ends otherwise)
    first.close()
    second = Server(LOOPBACK, key)
    thread = threading.Thread(target=second.serve_forever, daemon=True)
    thread.start()
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        dealer.connect(second.address)
        dealer.send_multipart(captured)
        assert dealer.poll(5000)
        reply = Session(key).deserialize(dealer.recv_multipart())
        assert reply.type == "error" and "server session" in reply.content["message"]
        unnamed = Session(key).serialize(Message("shutdown"))  # no session at all
        dealer.send_multipart(unnamed)
        assert dealer.poll(5000)
        assert Session(key).deserialize(dealer.recv_multipart()).type == "error"
        assert thread.is_alive()
        with Client(second.address, key) as c:
            assert c.ping() < 1.0
            c.shutdown()  # our own client names the session: this one is obeyed
        thread.join(timeout=10)
        assert not thread.is_alive()
    finally:
        dealer.close(0)
        ctx.term()


def test_smpl_folder_is_limited_to_the_folders_serve_allows(tmp_path):
    """Outside the allowed folders, absent inside them, a link out of them: one answer for
    all, so a client learns nothing about the server's files; inside, the model is read."""
    from test_user_body import human_smpl, smpl_arrays

    allowed = tmp_path / "models"
    allowed.mkdir()
    np.savez(allowed / "SMPL_FEMALE.npz", **human_smpl())
    (allowed / "escape").symlink_to(tmp_path)
    secret = tmp_path / "secret"
    secret.mkdir()
    key = new_key()
    server = Server(LOOPBACK, key, allowed_paths={"smpl_folders": [str(allowed)]})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Client(server.address, key, heartbeat=5.0) as c:
            answers = set()
            for path in ["/etc", "/etc/passwd", str(tmp_path / "nothing"), str(secret),
                         str(allowed / "missing"), str(allowed / "escape" / "secret"), ""]:
                with pytest.raises(JobFailed) as e:
                    c.run("convert", {"fps": 30, "body": True, "smpl_folder": path},
                          smpl_arrays(), timeout=30)
                answers.add(str(e.value).replace(repr(path), "PATH"))
            assert len(answers) == 1, answers
            assert "no such SMPL model folder" in answers.pop()
            out = c.run("convert", {"fps": 30, "body": True, "smpl_folder": str(allowed),
                                    "smpl_gender": "female"}, smpl_arrays(), timeout=30)
            assert len(out.arrays["body_vertices"]) == len(human_smpl()["v_template"])
    finally:
        with Client(server.address, key) as c:
            c.shutdown()
        thread.join(timeout=10)


def test_serve_passes_its_smpl_folders_to_the_server(tmp_path):
    _one_line_error(_serve("--smpl-folder", str(tmp_path / "none"), "--connection-file",
                           str(tmp_path / "c.json")), "--smpl-folder", "no such folder")


def test_queued_input_and_kept_results_are_bounded_in_bytes(sleep_job):
    key = new_key()
    server = Server(LOOPBACK, key, max_queued_bytes=3 * 2**20, max_result_bytes=2 * 2**20)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    x = np.zeros(2**20 // 8)  # 1 MiB in, 1 MiB out
    try:
        with Client(server.address, key, heartbeat=5.0) as c:
            slow = [c.submit("sleep", {"steps": 10, "step_s": 0.05}, {"x": x}) for _ in range(2)]
            with pytest.raises(BackendError, match="already holds 2 MiB of input"):
                c.submit("sleep", {"steps": 1}, {"x": x})
            for job in slow:
                wait_for(c, job, ("result",), 10)
            quick = [c.run("sleep", {"steps": 1, "step_s": 0.0}, {"x": x}).job
                     for _ in range(2)]  # 4 MiB of results against a 2 MiB bound
            deadline = time.monotonic() + 5
            while True:  # trimmed once a second, oldest first
                try:
                    c.fetch(slow[0])
                except BackendError as e:
                    assert "expired" in str(e) and "oldest dropped first" in str(e)
                    break
                assert time.monotonic() < deadline, "the oldest result was never dropped"
                time.sleep(0.1)
            assert isinstance(c.fetch(quick[-1]), JobResult)
            with pytest.raises(BackendError, match="no job 'never-was'"):
                c.fetch("never-was")
    finally:
        with Client(server.address, key) as c:
            c.shutdown()
        thread.join(timeout=10)


def test_a_client_carries_on_after_its_backend_restarts(sleep_job, tmp_path):
    """The same address (an ipc socket), a new server run: the client's requests name the
    old session, are refused once, and go again naming the new one."""
    key, address = new_key(), f"ipc://{tmp_path}/backend.sock"
    first = Server(address, key)
    thread = threading.Thread(target=first.serve_forever, daemon=True)
    thread.start()
    with Client(address, key, heartbeat=5.0) as c:
        assert c.run("sleep", {"steps": 1, "step_s": 0.0}).content["steps_done"] == 1
        old = c.session.session_id
        c.shutdown()
        thread.join(timeout=10)
        second = Server(address, key)
        thread = threading.Thread(target=second.serve_forever, daemon=True)
        thread.start()
        assert c.run("sleep", {"steps": 2, "step_s": 0.0}).content["steps_done"] == 2
        assert c.session.session_id == second.session.session_id != old
        c.shutdown()
    thread.join(timeout=10)
    assert not thread.is_alive()
