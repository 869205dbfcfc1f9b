"""Fuzzing a real `motionfield serve` process (issue 32): every hostile kind of message the
issue lists, signed and unsigned, then thousands of seeded random mutations of valid signed
messages, with a key holder's ping after each batch. The server must never exit, answer
every ping, and never need its last-resort handler (every bad field is refused by a check,
not caught as an unexpected exception)."""

from __future__ import annotations

import copy
import json
import time

import numpy as np
import pytest
import zmq
from test_server import ServeProcess

from motionfield.protocol import (
    DELIMITER,
    PROTOCOL_VERSION,
    Message,
    Session,
    read_connection,
)

SEED = 32
MUTATIONS = 4000
BATCH = 250
# every odd value a JSON field could hold; "shutdown" is left out on purpose (a signed,
# well-formed shutdown would rightly stop the server)
WEIRD = [None, True, False, 0, -1, 1.5, 2**63, -(2**70), 1e308, "", "x" * 300, "ping",
         "submit", "convert", "sleep", "predict", "<f4", "|O", [], [1, "a"], [[[]]], {},
         {"a": [None]}, {"dtype": "<f4", "shape": [1]}, [2**31], [-1], ["<f4"], {"ping": 1}]
HEADER_KEYS = ["v", "id", "type", "job", "session", "time", "buffers", "extra"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    srv = ServeProcess(tmp_path_factory.mktemp("fuzz"))
    yield srv
    srv.stop()


def _frames(session: Session, header: dict | bytes, content: dict | bytes,
            buffers: list[bytes]) -> list[bytes]:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    c = content if isinstance(content, bytes) else json.dumps(content).encode()
    parts = [h, c, *buffers]
    return [DELIMITER, session.sign(parts), *parts]


def _bases(server_session: str) -> list[tuple[dict, dict, list[bytes]]]:
    """Valid requests (and events sent as requests), as (header, content, buffers)."""
    rng = np.random.default_rng(0)
    rot = rng.normal(size=(3, 24, 4))
    motion = {"rotations": rot / np.linalg.norm(rot, axis=-1, keepdims=True),
              "root_translation": np.zeros((3, 3)), "times": np.arange(3) / 30.0}
    made = []
    for kind, content, arrays, job in [
        ("ping", {}, {}, None), ("info", {}, {}, None), ("status", {}, {}, "j"),
        ("cancel", {}, {}, "j"), ("fetch", {}, {}, "j"), ("pong", {}, {}, None),
        ("result", {"re": "x"}, {"x": np.ones(3)}, "j"),
        ("submit", {"method": "sleep", "params": {"steps": 0, "step_s": 0.0, "tag": 1}},
         {"x": np.arange(4.0)}, None),
        ("submit", {"method": "convert", "params": {"fps": 30}}, motion, None),
        ("submit", {"method": "convert", "params": {"fps": 30, "bvh": "HIERARCHY"}}, {}, None),
        ("submit", {"method": "predict", "params": {"seconds": 0.1, "fps": 30}}, motion,
         None),
    ]:
        frames = Session(b"-" * 32, session_id=server_session).serialize(
            Message(kind, content, arrays, job))
        made.append((json.loads(bytes(frames[2])), json.loads(bytes(frames[3])),
                     [bytes(b) for b in frames[4:]]))
    return made


def _mutate(rng: np.random.Generator, base: tuple[dict, dict, list[bytes]], key: bytes,
            session: Session) -> list[bytes]:
    header, content, buffers = copy.deepcopy(base)
    weird = lambda: copy.deepcopy(WEIRD[rng.integers(len(WEIRD))])  # noqa: E731
    raw_header = raw_content = None
    for _ in range(rng.integers(1, 4)):
        op = rng.integers(9)
        if op == 0:
            header[HEADER_KEYS[rng.integers(len(HEADER_KEYS))]] = weird()
        elif op == 1 and header:
            del header[list(header)[rng.integers(len(header))]]
        elif op == 2:
            content[["method", "params", "arrays", "re", "x"][rng.integers(5)]] = weird()
        elif op == 3 and isinstance(content.get("params"), dict):
            names = [*content["params"], "fps", "seconds", "smpl_folder", "map", "zzz"]
            content["params"][names[rng.integers(len(names))]] = weird()
        elif op == 4 and isinstance(header.get("buffers"), list) and header["buffers"]:
            i = rng.integers(len(header["buffers"]))
            if rng.random() < 0.3 or not isinstance(header["buffers"][i], dict):
                header["buffers"][i] = weird()
            else:
                header["buffers"][i][["dtype", "shape"][rng.integers(2)]] = weird()
        elif op == 5 and buffers:
            i = rng.integers(len(buffers))
            buffers[i] = rng.bytes(int(rng.integers(0, 2 * len(buffers[i]) + 8)))
        elif op == 6:
            if buffers and rng.random() < 0.5:
                buffers.pop(rng.integers(len(buffers)))
            else:
                buffers.append(rng.bytes(int(rng.integers(0, 64))))
        elif op == 7:
            raw_header = rng.bytes(int(rng.integers(0, 80)))
        elif op == 8:
            text = json.dumps(content).encode()
            raw_content = text[: rng.integers(len(text) + 1)]
    frames = _frames(session, raw_header or header, raw_content or content, buffers)
    unsigned = rng.random()
    if unsigned < 0.05:  # a flipped signature byte
        sig = bytearray(frames[1])
        sig[rng.integers(len(sig))] ^= 1
        frames[1] = bytes(sig)
    elif unsigned < 0.10:  # another key
        frames = _frames(Session(b"not the key" * 4), raw_header or header,
                         raw_content or content, buffers)
    elif unsigned < 0.12:  # a frame dropped after signing
        frames.pop(int(rng.integers(len(frames))))
    return frames


def _named_attacks(key: bytes, server_session: str) -> list[list[bytes]]:
    """The issue's cases, each signed and unsigned."""
    s = Session(key)
    ping = {"v": PROTOCOL_VERSION, "id": "a", "type": "ping", "job": None, "time": 0.0,
            "buffers": []}
    spec = lambda dtype: [{"dtype": dtype, "shape": [1]}]  # noqa: E731
    signed = [
        _frames(s, {**ping, "type": ["ping"]}, {}, []),
        _frames(s, {**ping, "type": {"ping": 1}}, {}, []),
        _frames(s, {**ping, "buffers": spec(["<f4"])}, {"arrays": ["a"]}, [b"\0" * 4]),
        _frames(s, {**ping, "buffers": spec({"a": 1})}, {"arrays": ["a"]}, [b"\0" * 4]),
        _frames(s, {**ping, "id": ["a"]}, {}, []),
        _frames(s, {**ping, "job": {"j": 1}}, {}, []),
        _frames(s, {**ping, "session": [server_session]}, {}, []),
        _frames(s, {**ping, "buffers": [{"dtype": "<f8", "shape": [2**30, 2**30]}]},
                {"arrays": ["a"]}, [b""]),
        _frames(s, {**ping, "type": "submit"},
                {"method": "predict", "params": {"seconds": 1e6, "fps": 1000}}, []),
        _frames(s, {**ping, "type": "submit"}, {"method": "convert", "params": {"fps": 1e9}},
                []),
        _frames(s, {**ping, "type": "submit"},
                {"method": "convert", "params": {"fps": 30, "smpl_folder": "/etc"}}, []),
        _frames(s, {**ping, "type": "shutdown", "session": "an earlier run"}, {}, []),
        _frames(s, {**ping, "type": "shutdown", "session": None}, {}, []),
    ]
    unsigned = []
    for frames in signed:
        forged = list(frames)
        forged[1] = b"0" * 64 + b"." + b"0" * 64
        unsigned.append(forged)
    return signed + unsigned


def test_no_message_ends_the_server(served):
    """Named attacks, then MUTATIONS seeded mutations in batches; a ping after each batch."""
    rng = np.random.default_rng(SEED)
    with served.client(heartbeat=5.0) as client:
        client.ping()
        server_session = client.session.session_id
        assert server_session
        session = Session(served.key)
        bases = _bases(server_session)
        ctx = zmq.Context()
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.SNDTIMEO, 5000)
        server_key = read_connection(served.connection_file)["curve_server_key"]
        if server_key is not None:  # an insider's socket: past the transport, at the protocol
            dealer.curve_serverkey = server_key
            dealer.curve_publickey, dealer.curve_secretkey = zmq.curve_keypair()
        dealer.connect(served.address)
        began = time.monotonic()
        replies = 0
        try:
            batches = [_named_attacks(served.key, server_session)] + [
                [_mutate(rng, bases[rng.integers(len(bases))], served.key, session)
                 for _ in range(BATCH)] for _ in range(MUTATIONS // BATCH)]
            for batch in batches:
                for frames in batch:
                    dealer.send_multipart(frames)
                    while dealer.poll(0):
                        dealer.recv_multipart()
                        replies += 1
                while dealer.poll(100):  # the batch's answers
                    dealer.recv_multipart()
                    replies += 1
                assert client.ping(timeout=5.0) < 5.0
                assert served.proc.poll() is None, served.read_log()
        finally:
            dealer.close(0)
            ctx.term()
        elapsed = time.monotonic() - began
        assert client.ping() < 1.0
    assert served.proc.poll() is None
    log = served.read_log()
    assert "could not be handled" not in log, log[-3000:]
    assert replies > MUTATIONS // 2, replies  # signed mutations are answered (errors, pongs)
    assert elapsed < 60, elapsed
