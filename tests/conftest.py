"""Shared fixtures: a real Mosquitto per test (free port), simulated clocks, the registry.

The tests use their own small units registry (tests/data/units.toml), for every part and every
process they start (IHANOI_REGISTRY), so editing the district's registry never breaks them.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from tests.mosquitto import Mosquitto

TEST_REGISTRY = Path(__file__).with_name("data") / "units.toml"
os.environ["IHANOI_REGISTRY"] = str(TEST_REGISTRY)


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
