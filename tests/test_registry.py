"""The method registry: a method defined in this file, registered with one `register` call,
is offered by the server's `info`, runs through the client, and appears in the CLI, with no
other edit. Also the parameter schema's bounds, which every method's job enforces."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import zmq

from motionfield import methods
from motionfield.body.skeleton import SMPL_JOINT_NAMES, smpl_skeleton
from motionfield.cli import main
from motionfield.client import BackendError, Client
from motionfield.methods.results import (
    MAX_FPS,
    motion_arrays,
    motion_content,
    motion_from_result,
)
from motionfield.motion import Motion
from motionfield.protocol import (
    DELIMITER,
    PROTOCOL_VERSION,
    Session,
    new_key,
    read_connection_file,
    write_connection_file,
)
from motionfield.server.app import Server
from motionfield.server.jobs import JobError, JobType, Param

SHOULDER = SMPL_JOINT_NAMES.index("right_shoulder")


def wave_angle(times: np.ndarray, degrees: float) -> np.ndarray:
    """The right shoulder's angle about Z (radians): one wave a second."""
    return np.radians(degrees) * np.sin(2 * np.pi * times)


def _wave(params: dict, arrays: dict, progress):
    progress(0, 1, "waving")
    count = int(round(params["seconds"] * params["fps"])) + 1
    times = np.arange(count) / params["fps"]
    half = wave_angle(times, params["degrees"]) / 2
    rotations = np.zeros((count, 24, 4))
    rotations[..., 0] = 1.0
    rotations[:, SHOULDER] = np.stack([np.cos(half), 0 * half, 0 * half, np.sin(half)], -1)
    standing = np.tile([0.0, 0.95, 0.0], (count, 1))
    motion = Motion(rotations, standing, times, smpl_skeleton(), params["fps"])
    progress(1, 1, "done")
    return motion_content(motion), motion_arrays(motion)


JOB = JobType(
    name="wave",
    label="Wave",
    help="test only: the right arm waves, once a second",
    params={"seconds": Param("number", "how long", default=1.0, minimum=0.0, maximum=10.0),
            "fps": Param("integer", "framerate", default=30, minimum=1, maximum=240),
            "degrees": Param("number", "how far the arm swings", default=30.0,
                             maximum=90.0, minimum=-90.0)},
    run=_wave,
)


def add_commands(sub) -> None:
    """A top-level command of the method (as a future `generate` would be)."""
    p = sub.add_parser("wave", help="test only: write a waving motion")
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_wave_command)


def _wave_command(args) -> int:
    content, arrays = JOB.run(JOB.validate({"seconds": args.seconds}, {}), {}, lambda *a: 0)
    motion_from_result(content, arrays).save(args.output)
    return 0


def add_train(sub) -> None:
    p = sub.add_parser("wave", help="test only: pretend to train")
    p.add_argument("--steps", type=int, default=1)
    p.set_defaults(func=lambda args: print(f"trained wave for {args.steps} steps") or 0)


@pytest.fixture
def wave():
    methods.register("wave", __name__)
    yield JOB
    methods.unregister("wave")


@pytest.fixture
def server(wave, tmp_path):
    key = new_key()
    srv = Server("tcp://127.0.0.1:0", key)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    connection = write_connection_file(tmp_path / "backend.json", srv.address, key)
    yield srv, connection
    with Client.from_connection_file(connection) as c:
        c.shutdown()
    thread.join(timeout=10)
    assert not thread.is_alive()


def _shoulder_angle(motion: Motion) -> np.ndarray:
    q = motion.rotations[:, SHOULDER]
    return 2 * np.arctan2(q[:, 3], q[:, 0])


# --------------------------------------------------------------------------- the registry


def test_the_built_in_methods_come_first_and_load_lazily():
    assert methods.names()[:2] == ["convert", "predict"]
    assert methods.job_type("predict").label == "Predict / Complete"
    with pytest.raises(JobError, match=r"unknown method 'teleport'.*'convert', 'predict'"):
        methods.job_type("teleport")


def test_register_refuses_bad_names_and_a_second_module_for_a_name(wave):
    with pytest.raises(ValueError, match="lower-case"):
        methods.register("Wave Hands", __name__)
    with pytest.raises(ValueError, match="already registered"):
        methods.register("wave", "somewhere.else")
    methods.register("wave", __name__)  # the same again is fine
    assert methods.names().count("wave") == 1


def test_a_registered_module_without_a_matching_job_is_refused():
    methods.register("nothing", "motionfield.errors")
    try:
        with pytest.raises(TypeError, match="must define JOB"):
            methods.job_type("nothing")
    finally:
        methods.unregister("nothing")


def test_every_built_in_number_has_an_upper_bound_and_a_panel_flag():
    for name, job in methods.job_types().items():
        described = job.describe()
        assert set(described) == {"name", "label", "help", "version", "live", "params",
                                  "arrays"}
        assert described["label"] and len(described["label"]) <= 24, name
        for param, spec in described["params"].items():
            assert isinstance(spec["panel"], bool)
            if spec["type"] in ("number", "integer"):
                assert math.isfinite(spec["maximum"]), (name, param)
    assert methods.job_type("convert").params["fps"].maximum == MAX_FPS
    hidden = {n for n, p in methods.job_type("convert").params.items() if not p.panel}
    assert {"bvh", "name", "map"} <= hidden
    assert not methods.job_type("predict").params["mode"].panel


# --------------------------------------------------------------------------- discovered


def test_a_registered_method_is_offered_by_info_and_runs(server):
    srv, connection = server
    with Client.from_connection_file(connection) as c:
        offered = c.info()["methods"]
        assert list(offered)[-1] == "wave"
        assert offered["wave"] == json.loads(json.dumps(JOB.describe()))
        assert offered["wave"]["params"]["seconds"]["maximum"] == 10.0
        result = c.run("wave", {"seconds": 0.5, "fps": 24, "degrees": 40.0})
    assert result.content["frames"] == 13 and result.content["fps"] == "24"
    motion = Motion(result.arrays["rotations"], result.arrays["root_translation"],
                    result.arrays["times"], smpl_skeleton())
    np.testing.assert_allclose(_shoulder_angle(motion), wave_angle(motion.times, 40.0),
                               atol=1e-5)


def test_a_registered_method_is_listed_and_run_by_the_cli(server, tmp_path, capsys):
    _, connection = server
    assert main(["methods"]) == 0
    listed = capsys.readouterr().out
    assert "wave: Wave - test only: the right arm waves" in listed
    assert "seconds (number, min 0, max 10): how long" in listed
    out = tmp_path / "wave.npz"
    assert main(["client", "run", "wave", "--connection-file", str(connection),
                 "--param", "seconds=2", "--param", "fps=30", "--param", "degrees=-25",
                 "-o", str(out)]) == 0
    assert f"{out}: 61 frames at 30 fps" in capsys.readouterr().out
    motion = Motion.load(out)
    assert motion.fps == 30 and motion.skeleton.names == smpl_skeleton().names
    np.testing.assert_allclose(_shoulder_angle(motion), wave_angle(motion.times, -25.0),
                               atol=1e-5)
    # parameters are typed by the schema `info` sends: a bad value or name never leaves
    assert main(["client", "--connection-file", str(connection), "run", "wave", "--param",
                 "fps=fast"]) == 2
    assert "--param fps=fast: not a valid integer" in capsys.readouterr().err
    assert main(["client", "--connection-file", str(connection), "run", "wave", "--param",
                 "speed=3"]) == 2
    assert "NAME one of ['degrees', 'fps', 'seconds']" in capsys.readouterr().err


def test_a_registered_methods_cli_hooks_become_commands(tmp_path, capsys):
    with pytest.raises(SystemExit):  # not registered: no such command
        main(["train", "wave"])
    capsys.readouterr()
    methods.register("wave", __name__)
    try:
        assert main(["train", "wave", "--steps", "3"]) == 0
        assert "trained wave for 3 steps" in capsys.readouterr().out
        assert main(["wave", "--seconds", "1", "-o", str(tmp_path / "w.npz")]) == 0
    finally:
        methods.unregister("wave")
    motion = Motion.load(tmp_path / "w.npz")
    assert motion.num_frames == 31
    np.testing.assert_allclose(_shoulder_angle(motion), wave_angle(motion.times, 30.0),
                               atol=1e-6)


def test_out_of_bounds_requests_get_clear_errors_and_the_server_keeps_answering(server):
    _, connection = server
    walk = {"rotations": np.tile([1.0, 0, 0, 0], (2, 24, 1)),
            "root_translation": np.zeros((2, 3)), "times": np.array([0.0, 5000.0])}
    refused = [
        ("wave", {"seconds": 11.0}, {}, "'seconds' must be at most 10"),
        ("wave", {"fps": 241}, {}, "'fps' must be at most 240"),
        ("wave", {"fps": True}, {}, "'fps' must be an integer, got bool"),
        ("convert", {"fps": 5000}, walk, "'fps' must be at most 1000"),
        ("convert", {"fps": 30, "end": 1e9}, walk, "'end' must be at most 86400"),
        # 5,000 s at 1,000 fps: refused before anything that size is allocated
        ("convert", {"fps": 1000}, walk, "more than one job returns"),
        ("predict", {"fps": 30, "seconds": 60.0}, walk, "'seconds' must be at most 10"),
        ("predict", {"fps": 1000, "mode": "fill"}, walk, "more than one job returns"),
    ]
    with Client.from_connection_file(connection) as c:
        for method, params, arrays, message in refused:
            with pytest.raises(BackendError, match=message):
                c.run(method, params, arrays, timeout=30)
            assert c.ping() < 1.0
        assert c.run("wave", {"seconds": 10.0, "fps": 240}).content["frames"] == 2401


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_a_non_finite_number_from_the_wire_is_refused(server, literal):
    """JSON parsers accept NaN and Infinity (a client's own encoder never sends them)."""
    srv, connection = server
    address, key = read_connection_file(connection)
    session = Session(key)
    header = json.dumps({"v": PROTOCOL_VERSION, "id": "nan-1", "type": "submit", "job": None,
                         "time": 0.0, "buffers": []}).encode()
    content = b'{"method": "wave", "params": {"degrees": %s}}' % literal
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        dealer.connect(address)
        dealer.send_multipart([DELIMITER, session.sign([header, content]), header, content])
        assert dealer.poll(5000), "no answer"
        reply = session.deserialize(dealer.recv_multipart())
    finally:
        dealer.close(0)
        ctx.term()
    assert reply.type == "error" and reply.content["re"] == "nan-1"
    assert "'degrees' must be a finite number" in reply.content["message"]


@pytest.mark.parametrize("kind,value,problem", [
    ("number", float("nan"), "finite"), ("number", float("-inf"), "finite"),
    ("number", True, "got bool"), ("integer", 1.5, "got float"), ("integer", False, "bool"),
    ("integer", 10**30, "at most 100"), ("number", -1, "at least 0"),
])
def test_a_parameter_refuses_bools_non_finite_numbers_and_values_out_of_bounds(kind, value,
                                                                               problem):
    spec = Param(kind, "a count", minimum=0, maximum=100)
    assert problem in spec.problem(value)
    assert spec.problem(100) is None and spec.problem(0) is None


def test_a_schema_with_bounds_on_a_string_or_a_default_out_of_bounds_is_refused():
    with pytest.raises(ValueError, match="bounds are for numbers"):
        Param("string", "a name", maximum=3)
    with pytest.raises(ValueError, match="default 20"):
        Param("integer", "a count", default=20, maximum=10)
