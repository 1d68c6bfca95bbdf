"""Local ports for the processes the demo and the tests start: a free one, and waiting for it."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float = 10.0, up: bool = True) -> None:
    """Until something answers on ``host:port`` (or, with ``up=False``, until nothing does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {host}:{port} did not become {'reachable' if up else 'free'} in {timeout}s")
