"""End to end on one machine: agents on a simulated week, a real Mosquitto, the collector, the
report. The report's play count for each device and day equals the agent's own record, every
open day meets the quota — with the broker killed for an hour of simulated time and one agent
killed with SIGKILL in the middle of a play."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from broker.collector import Collector
from broker.report.build import report_from_store
from broker.store import open_store
from edge.localdb import open_local_db
from edge.playlog import PlayLog
from ihanoi.contract.clock import CAMPAIGN_TZ
from tests.agent_support import device_config, unit_trace
from tests.mosquitto import Mosquitto
from tests.test_collector import SHIPPED_CONF, config_for

ROOT = Path(__file__).resolve().parents[1]
MONDAY, FRIDAY = date(2024, 9, 9), date(2024, 9, 13)
# The simulated clock starts on Sunday evening: at 4000× the agents have 11 s of real time to start
# (Python, the pack, the broker) before Monday opens, also on a machine busy with other work.
START = datetime(2024, 9, 8, 20, 0, tzinfo=CAMPAIGN_TZ)
UNTIL = datetime(2024, 9, 13, 18, 0, tzinfo=CAMPAIGN_TZ)
SPEED = 4000.0
DEVICES = ("hbt-bach-dang-01", "hbt-bach-mai-01", "hbt-bach-khoa-01")
VICTIM = "hbt-bach-mai-01"


def start_agent(tmp_path: Path, broker, device: str, epoch: float, trace: Path) -> subprocess.Popen:
    config = device_config(tmp_path, device, broker.port, receipts="collector")
    env = dict(os.environ, PYTHONPATH=str(ROOT), IHANOI_PANEL="null")
    log = (tmp_path / f"{device}.log").open("a")
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config), "--speed", str(SPEED),
                             "--start", START.isoformat(), "--sim-epoch", repr(epoch), "--until", UNTIL.isoformat(), "--pir-trace", str(trace)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)


def wait_for_line(path: Path, text: str, after: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text()[after:]:
            return True
        time.sleep(0.005)
    return False


def kill_mid_play(tmp_path: Path, agent: subprocess.Popen) -> None:
    """SIGKILL ``agent`` while a play is under way: at 4000x a play lasts about 10 ms, so the agent
    is stopped once it logs "playing" and killed only if its own file holds the play as begun and
    not finished; otherwise it goes on, and its next play is tried."""
    log = tmp_path / f"{VICTIM}.log"
    db = tmp_path / VICTIM / "agent.db"
    for _ in range(20):
        assert wait_for_line(log, "playing ihanoi-promo", len(log.read_text()), 60)
        agent.send_signal(signal.SIGSTOP)
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
            begun = conn.execute("SELECT count(*) FROM current").fetchone()[0]
        if begun:
            agent.send_signal(signal.SIGKILL)
            agent.wait(10)
            return
        agent.send_signal(signal.SIGCONT)
    raise AssertionError("the agent was never caught in the middle of a play")


@pytest.mark.slow
def test_simulated_week_report_equals_agents_records(tmp_path, registry):
    broker = Mosquitto(tmp_path / "mosquitto", include=SHIPPED_CONF).start()
    url = f"sqlite:///{tmp_path / 'collector.sqlite3'}"
    store = open_store(url)
    collector = Collector(config_for(broker, url, client_id="week"), registry, store).start()
    assert collector.wait_connected()
    traces = {d: unit_trace(tmp_path, d, MONDAY, 5, seed=i) for i, d in enumerate(DEVICES)}
    t0 = time.monotonic() + 1.0          # one simulated clock for every agent, restarted ones included
    agents = {d: start_agent(tmp_path, broker, d, t0, traces[d]) for d in DEVICES}

    def sim_now() -> datetime:
        return START + timedelta(seconds=max(0.0, time.monotonic() - t0) * SPEED)

    try:
        # Tuesday from 9:00 (simulated), an hour without the broker. It comes back without the
        # collector's shared subscription; until the collector subscribes again the boards keep
        # what the broker answered with "no matching subscribers".
        while sim_now() < datetime(2024, 9, 10, 9, 0, tzinfo=CAMPAIGN_TZ):
            time.sleep(0.05)
        broker.kill()
        time.sleep(3600 / SPEED)
        broker.start()
        # Wednesday morning: one agent dies with SIGKILL while it plays.
        while sim_now() < datetime(2024, 9, 11, 8, 0, tzinfo=CAMPAIGN_TZ):
            time.sleep(0.05)
        kill_mid_play(tmp_path, agents[VICTIM])
        agents[VICTIM] = start_agent(tmp_path, broker, VICTIM, t0, traces[VICTIM])
        for device, proc in agents.items():
            assert proc.wait(600) == 0, (tmp_path / f"{device}.log").read_text()[-3000:]
        # The agents flushed their outboxes on the way out; wait for the collector's last batch.
        time.sleep(1)
        deadline = time.monotonic() + 30
        while collector.metrics.value("ihanoi_collector_pending") > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for proc in agents.values():
            proc.kill()
        collector.stop()
        broker.kill()

    report = report_from_store(store, registry, MONDAY, FRIDAY, UNTIL + timedelta(days=1))
    counted = {(row.day, device): n for row in report.days for device, n in row.plays_by_device.items()}
    interrupted = 0
    for device in DEVICES:
        journal = PlayLog(open_local_db(tmp_path / device), CAMPAIGN_TZ)
        own = journal.play_counts()
        interrupted += sum(not r.completed for day in range(5) for r in journal.plays_on(MONDAY + timedelta(days=day)))
        for day in range(5):
            d = MONDAY + timedelta(days=day)
            assert counted[(d, device)] == own.get(d.isoformat(), 0), (device, d)
            quota = registry.quota_of(registry.unit_of(device))
            assert own.get(d.isoformat(), 0) >= quota, f"{device} made {own.get(d.isoformat())} plays on {d}"
    assert interrupted == 1, "the play cut by SIGKILL is recorded (and reported) as interrupted"
    # bach-mai's second board is not simulated, so that unit is (rightly) not compliant; the
    # simulated boards are never the ones below quota.
    rows = [row for row in report.days if row.unit in {registry.unit_of(d).id for d in DEVICES}]
    assert len(rows) == 3 * 5
    assert not any(set(row.below_quota) & set(DEVICES) for row in rows)
    assert all(row.compliant for row in rows if row.unit != "phuong-bach-mai")
