"""The wire format: round trip, signatures, replays, truncation, versions, lying shapes."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from motionfield.protocol import (
    DELIMITER,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Message,
    ProtocolError,
    Session,
    read_connection_file,
    remove_connection_file,
    write_connection_file,
)

KEY = b"k" * 64


def frames_of(msg: Message, key: bytes = KEY) -> list[bytes]:
    return Session(key).serialize(msg)


def test_round_trip_with_arrays():
    rot = np.random.default_rng(0).normal(size=(5, 24, 4)).astype(np.float32)
    msg = Message("submit", {"method": "convert", "params": {"fps": 29.97}},
                  {"rotations": rot, "parents": np.arange(24, dtype=np.int32),
                   "empty": np.zeros((0, 3))}, job="j1")
    back = Session(KEY).deserialize(frames_of(msg))
    assert (back.type, back.job, back.id) == ("submit", "j1", msg.id)
    assert back.content == {"method": "convert", "params": {"fps": 29.97}}
    np.testing.assert_array_equal(back.arrays["rotations"], rot)
    assert back.arrays["parents"].dtype == np.int32 and back.arrays["empty"].shape == (0, 3)


def test_big_endian_arrays_arrive_as_values():
    arr = np.arange(6, dtype=">f8").reshape(2, 3)
    back = Session(KEY).deserialize(frames_of(Message("ping", {}, {"a": arr})))
    np.testing.assert_array_equal(back.arrays["a"], arr)


def test_frame_layout_is_documented():
    frames = frames_of(Message("ping", {"x": 1}, {"a": np.zeros(2, np.float32)}))
    assert frames[0] == DELIMITER and len(frames) == 5
    header, content = json.loads(frames[2]), json.loads(frames[3])
    assert header["v"] == PROTOCOL_VERSION and header["type"] == "ping"
    assert header["buffers"] == [{"dtype": "<f4", "shape": [2]}]
    assert content == {"x": 1, "arrays": ["a"]} and len(frames[4]) == 8


@pytest.mark.parametrize("tamper", [
    lambda f: [f[0], f[1], f[2].replace(b"ping", b"info"), *f[3:]],
    lambda f: [f[0], f[1], f[2], f[3].replace(b"1", b"2"), *f[4:]],
    lambda f: [f[0], b"0" * 64, *f[2:]],
    lambda f: [*f[:-1], bytes(f[-1])[:-1] + b"\x01"],
])
def test_tampered_messages_are_refused(tamper):
    frames = frames_of(Message("ping", {"x": 1}, {"a": np.zeros(2, np.float32)}))
    with pytest.raises(ProtocolError, match="signature"):
        Session(KEY).deserialize(tamper(frames))


def test_wrong_key_is_refused():
    with pytest.raises(ProtocolError, match="signature"):
        Session(b"other-key").deserialize(frames_of(Message("ping")))


def test_replay_is_refused():
    session = Session(KEY)
    frames = frames_of(Message("ping"))
    session.deserialize(frames)
    with pytest.raises(ProtocolError, match="replayed"):
        session.deserialize(frames)


@pytest.mark.parametrize("cut", [0, 1, 2, 3])
def test_truncated_frame_lists_are_refused(cut):
    frames = frames_of(Message("ping"))[:cut]
    with pytest.raises(ProtocolError, match="frames"):
        Session(KEY).deserialize(frames)


def _signed(header: dict, content: dict, buffers: list[bytes] = ()) -> list[bytes]:
    s = Session(KEY)
    parts = [json.dumps(header).encode(), json.dumps(content).encode(), *buffers]
    return [DELIMITER, s.sign(parts), *parts]


BASE = {"v": PROTOCOL_VERSION, "id": "x", "type": "ping", "job": None, "time": 0.0, "buffers": []}


@pytest.mark.parametrize("header,content,buffers,message", [
    ({**BASE, "v": 99}, {}, [], "version"),
    ({**BASE, "type": "rm -rf"}, {}, [], "unknown message type"),
    ({**BASE, "buffers": [{"dtype": "<f4", "shape": [1000, 3]}]}, {"arrays": ["a"]},
     [b"\0" * 12], "needs 12000 bytes"),
    ({**BASE, "buffers": [{"dtype": "|O", "shape": [1]}]}, {"arrays": ["a"]}, [b"\0" * 8],
     "dtype"),
    ({**BASE, "buffers": [{"dtype": "<f4", "shape": [-1]}]}, {"arrays": ["a"]}, [b""],
     "shape"),
    ({**BASE, "buffers": [{"dtype": "<f4", "shape": [2**40, 2**40]}]}, {"arrays": ["a"]},
     [b""], "shape"),
    ({**BASE, "buffers": []}, {"arrays": ["a"]}, [b"\0" * 4], "buffer"),
    ({**BASE, "id": 5}, {}, [], "id"),
])
def test_signed_but_malformed_headers(header, content, buffers, message):
    with pytest.raises(ProtocolError, match=message):
        Session(KEY).deserialize(_signed(header, content, buffers))


def test_non_json_and_non_object_bodies():
    s = Session(KEY)
    parts = [b"\xff\xfe", b"{}"]
    with pytest.raises(ProtocolError, match="not JSON"):
        s.deserialize([DELIMITER, s.sign(parts), *parts])
    parts = [b"[1, 2]", b"{}"]
    with pytest.raises(ProtocolError, match="JSON object"):
        s.deserialize([DELIMITER, s.sign(parts), *parts])


def test_empty_key_is_refused():
    with pytest.raises(ValueError):
        Session(b"")


def test_connection_file_is_private(tmp_path):
    path = write_connection_file(tmp_path / "c.json", "tcp://127.0.0.1:5555", KEY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_connection_file(path) == ("tcp://127.0.0.1:5555", KEY)
    os.chmod(path, 0o644)
    with pytest.raises(ProtocolError, match="readable by others"):
        read_connection_file(path)


def test_a_connection_file_is_removed_only_by_the_backend_it_names(tmp_path):
    path = write_connection_file(tmp_path / "c.json", "tcp://127.0.0.1:5555", KEY)
    assert not remove_connection_file(path, "tcp://127.0.0.1:6666")  # another backend's
    assert path.exists()
    assert remove_connection_file(path, "tcp://127.0.0.1:5555")
    assert not path.exists()
    assert not remove_connection_file(path, "tcp://127.0.0.1:5555")  # gone already
