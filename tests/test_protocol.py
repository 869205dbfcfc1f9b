"""The wire format: round trip, signatures, replays, truncation, versions, lying shapes."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from motionfield.protocol import (
    DELIMITER,
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


# --------------------------------------------------------------------------- issue 32


@pytest.mark.parametrize("field,value", [
    ("type", ["ping"]), ("type", {"ping": 1}), ("type", 3), ("id", ["x"]), ("id", {"a": 1}),
    ("job", ["j"]), ("job", {"j": 1}), ("session", ["s"]), ("session", 5), ("v", [2]),
    ("v", True), ("time", [0]), ("time", "now"), ("time", 10**400), ("time", True),
    ("buffers", {"a": 1}), ("buffers", "x"),
])
def test_a_signed_header_field_of_the_wrong_type_is_a_protocol_error(field, value):
    """A list or an object where a string belongs raised TypeError (unhashable) and ended
    the server: every field's type is checked before it is used."""
    with pytest.raises(ProtocolError):
        Session(KEY).deserialize(_signed({**BASE, field: value}, {}))


@pytest.mark.parametrize("spec", [
    {"dtype": ["<f4"], "shape": [1]}, {"dtype": {"<f4": 1}, "shape": [1]},
    {"dtype": "<f4", "shape": [[1]]}, {"dtype": "<f4", "shape": {"a": 1}},
    {"dtype": "<f4", "shape": [1.0]}, {"dtype": "<f4", "shape": [True]}, ["<f4", [1]], "<f4",
    None,
])
def test_a_signed_buffer_spec_of_the_wrong_type_is_a_protocol_error(spec):
    with pytest.raises(ProtocolError, match="dtype|shape"):
        Session(KEY).deserialize(_signed({**BASE, "buffers": [spec]}, {"arrays": ["a"]},
                                         [b"\0" * 4]))


def test_content_arrays_of_the_wrong_type_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="buffer"):
        Session(KEY).deserialize(_signed(BASE, {"arrays": {"a": 1}}))
    with pytest.raises(ProtocolError, match="names"):
        Session(KEY).deserialize(_signed({**BASE, "buffers": [{"dtype": "|u1", "shape": [1]}]},
                                         {"arrays": [["a"]]}, [b"\0"]))


def test_keyless_traffic_is_dropped_before_its_buffers_are_hashed():
    """The pre-MAC covers the frame sizes and the header only: a 200 MB message with a
    forged signature costs microseconds, not the ~0.5 s of hashing it."""
    import time

    big = bytes(200 * 1024 * 1024)
    session = Session(KEY)
    header = json.dumps({**BASE, "buffers": [{"dtype": "|u1", "shape": [len(big)]}]}).encode()
    forged = [DELIMITER, b"a" * 64 + b"." + b"b" * 64, header, b'{"arrays":["a"]}', big]
    began = time.perf_counter()
    for _ in range(20):
        with pytest.raises(ProtocolError, match="signature"):
            session.deserialize(forged)
    assert (time.perf_counter() - began) / 20 < 0.01
    # a captured message replayed: also refused before hashing (its signature was seen)
    good = session.serialize(Message("ping", {}, {"a": np.frombuffer(big, np.uint8)}))
    receiver = Session(KEY)
    receiver.deserialize(good)
    began = time.perf_counter()
    with pytest.raises(ProtocolError, match="replayed"):
        receiver.deserialize(good)
    assert time.perf_counter() - began < 0.01


@pytest.mark.parametrize("signature", [b"", b"0" * 64, b"0" * 129, b"g" * 64 + b"." + b"0" * 64,
                                       b"0" * 200])
def test_a_malformed_signature_frame_is_dropped(signature):
    frames = frames_of(Message("ping"))
    with pytest.raises(ProtocolError, match="signature"):
        Session(KEY).deserialize([frames[0], signature, *frames[2:]])


def test_the_whole_message_is_bounded_not_each_frame():
    session = Session(KEY, max_message_bytes=1000)
    parts = [json.dumps({**BASE, "buffers": [{"dtype": "|u1", "shape": [400]}] * 3}).encode(),
             b'{"arrays": ["a", "b", "c"]}', *[b"\0" * 400] * 3]  # each frame well inside
    with pytest.raises(ProtocolError, match="more than 1000"):
        session.deserialize([DELIMITER, session.sign(parts), *parts])


def test_the_session_id_travels_in_the_header():
    server = Session(KEY, session_id="s1")
    back = Session(KEY).deserialize(server.serialize(Message("pong")))
    assert back.session == "s1"
    assert Session(KEY).deserialize(frames_of(Message("ping"))).session is None


def test_keys_under_128_bits_and_key_files_others_can_read_are_refused(tmp_path):
    from motionfield.protocol import check_key, read_key_file

    with pytest.raises(ProtocolError, match="at least 32"):
        check_key(b"x")
    path = tmp_path / "key"
    path.write_bytes(b"k" * 31 + b"\n")
    os.chmod(path, 0o600)
    with pytest.raises(ProtocolError, match="31 bytes"):
        read_key_file(path)
    path.write_bytes(b"k" * 64 + b"\n")
    assert read_key_file(path) == b"k" * 64
    os.chmod(path, 0o644)
    with pytest.raises(ProtocolError, match="readable by others"):
        read_key_file(path)
    with pytest.raises(ProtocolError, match="cannot read key file"):
        read_key_file(tmp_path / "missing")


def test_a_connection_file_never_follows_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    target = folder / "c.json"
    (folder / "c.json.tmp").symlink_to(victim)  # the old, predictable temporary name
    target.symlink_to(victim)  # and the target itself
    write_connection_file(target, "tcp://127.0.0.1:5555", KEY)
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert read_connection_file(target) == ("tcp://127.0.0.1:5555", KEY)
    assert sorted(p.name for p in folder.iterdir()) == ["c.json", "c.json.tmp"]  # no leftovers


def test_a_connection_file_goes_in_a_private_folder(tmp_path):
    made = write_connection_file(tmp_path / "new" / "deeper" / "c.json", "tcp://x:1", KEY)
    assert stat.S_IMODE(made.parent.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(ProtocolError, match="writable by others"):
        write_connection_file(shared / "c.json", "tcp://x:1", KEY)
    assert not (shared / "c.json").exists()


def test_a_running_backends_connection_file_is_not_overwritten(tmp_path):
    path = write_connection_file(tmp_path / "c.json", "tcp://127.0.0.1:1", KEY, pid=4242)
    with pytest.raises(ProtocolError, match="pid 4242"):
        write_connection_file(path, "tcp://127.0.0.1:2", KEY, still_running=lambda pid: True)
    assert read_connection_file(path)[0] == "tcp://127.0.0.1:1"
    # the writer is gone: its stale file is replaced
    write_connection_file(path, "tcp://127.0.0.1:2", KEY, still_running=lambda pid: False)
    assert read_connection_file(path)[0] == "tcp://127.0.0.1:2"

