"""Shared fixtures: the real data archives, unpacked once into the user cache, and a real
job server on loopback in this process."""

from __future__ import annotations

import threading

import pytest

from motionfield.data import sources


@pytest.fixture(scope="session")
def data_root():
    """Folder with the unpacked archives of ../shared/data (skips when none can be found)."""
    if sources.find_archives() is None and not sources.data_dir().exists():
        pytest.skip("motion archives (shared/data) not available")
    return sources.unpack()


@pytest.fixture
def in_process_server():
    """(address, key) of a real server on loopback, serving from a thread of this process
    until the test ends."""
    from motionfield.client import Client
    from motionfield.protocol import new_key
    from motionfield.server.app import Server

    key = new_key()
    server = Server("tcp://127.0.0.1:0", key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.address, key
    with Client(server.address, key, heartbeat=30.0) as client:
        client.shutdown()
    thread.join(timeout=10)
