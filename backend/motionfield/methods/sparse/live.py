"""Live streams: each `step` request (docs/protocol.md, "Live streams") carries the tracking
samples that came since the last one (usually one) and is answered with their poses at once.

A stream is named by the client (the server keeps each client's names apart) and kept
between requests in this backend process: at most MAX_STREAMS at a time, each forgotten
after IDLE_S without a request (the oldest goes first when a new one would exceed the
bound). Samples step the
network at about config.FPS: one that comes sooner than 3/4 of a frame after the last
stepped one is answered with the last pose (a 90 Hz headset steps it every third sample).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from motionfield.methods.sparse.config import FPS

MAX_STREAMS = 8
IDLE_S = 60.0
_streams: dict[str, dict] = {}
_lock = threading.Lock()


def step(solver, name: str, tracking, restart: bool = False) -> np.ndarray:
    """World tokens (T, 25, 6) of the samples of `tracking` (tracking.Tracking in the SMPL
    frame) on the stream `name` (begun now if new, or if `restart`)."""
    from motionfield.methods.sparse.infer import Stream

    with _lock:
        now = time.monotonic()
        for old in [k for k, s in _streams.items() if now - s["used"] > IDLE_S]:
            del _streams[old]
        state = None if restart else _streams.get(name)
        if state is None:
            while len(_streams) >= MAX_STREAMS:
                del _streams[min(_streams, key=lambda k: _streams[k]["used"])]
            state = {"stream": Stream(solver), "stepped_at": None, "last": None}
            _streams[name] = state
        state["used"] = now
    out = []
    for t in range(len(tracking.times)):
        due = state["stepped_at"] is None or \
            tracking.times[t] >= state["stepped_at"] + 0.75 / FPS  # jitter allowed
        if due:
            state["last"] = state["stream"].step(tracking.rot[t], tracking.pos[t],
                                                 tracking.seen[t])
            state["stepped_at"] = float(tracking.times[t])
        out.append(state["last"])
    return np.stack(out)


def forget(name: str) -> None:
    with _lock:
        _streams.pop(name, None)
