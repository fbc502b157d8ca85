"""A real Redis server of the test's own, on a free port, that the test can stop and
start again (by its process id): the ``own_redis`` fixture (visible to every test via
tests/conftest.py)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.mailserver import free_port


@pytest.fixture
def own_redis() -> Iterator[dict]:
    """``{"port", "url", "pid", "start", "stop"}``; started, and stopped after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    state: dict = {"port": port, "url": f"redis://127.0.0.1:{port}/0", "proc": None, "pid": None}

    def start() -> None:
        state["proc"] = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        state["pid"] = state["proc"].pid
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop() -> None:
        if state["proc"] is not None:
            state["proc"].terminate()
            state["proc"].wait(timeout=10)
            state["proc"] = state["pid"] = None

    state["start"], state["stop"] = start, stop
    start()
    yield state
    stop()
