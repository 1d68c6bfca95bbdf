"""Waiting in tests for something another thread or process will make true."""

from __future__ import annotations

import time


def eventually(predicate, timeout: float = 10.0, every: float = 0.05) -> bool:
    """True as soon as ``predicate()`` is; after ``timeout`` seconds, its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())
