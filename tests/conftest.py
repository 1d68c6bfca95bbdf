"""Shared fixtures: a real Mosquitto per test (free port), simulated clocks, the registry."""

from __future__ import annotations

from datetime import datetime

import pytest

from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from tests.mosquitto import Mosquitto


@pytest.fixture
def mosquitto(tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.kill()


@pytest.fixture
def sim_clock():
    return SimClock(datetime(2024, 9, 3, 8, 0, tzinfo=CAMPAIGN_TZ))


@pytest.fixture(scope="session")
def registry():
    from ihanoi.contract.registry import load_registry

    return load_registry()
