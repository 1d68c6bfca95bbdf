"""The agent as a whole: plays at the planner's times, reports them, obeys commands, survives crashes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.agent import Agent
from edge.config import check_config
from edge.localdb import open_local_db
from edge.playlog import PlayLog
from edge.service import Service
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from ihanoi.contract.registry import load_registry
from tests.agent_support import device_config, unit_trace
from tests.mqtt_helpers import Recorder

ROOT = Path(__file__).resolve().parents[1]
DEVICE = "hbt-bach-dang-01"
WED = date(2024, 9, 4)            # an ordinary open day (2 and 3 September are holidays)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=CAMPAIGN_TZ)


def play_log(folder: Path) -> PlayLog:
    """The board's own play log, as the agent in ``folder`` left it."""
    return PlayLog(open_local_db(folder), CAMPAIGN_TZ)


def make_agent(tmp_path, broker, start: datetime, *, trace_days=3, synced=True, extra="") -> Agent:
    path = device_config(tmp_path, DEVICE, broker.port, extra=extra)
    config, registry, profile = check_config(path)
    trace = unit_trace(tmp_path, DEVICE, start.date(), trace_days)
    clock = SimClock(start, synced=synced)
    return Agent(config, registry, profile, clock, pir_trace=trace, step=15.0)


def publish(broker, topic: str, payload: dict | bytes, retain: bool = False) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tech-{time.monotonic_ns()}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    client.publish(topic, data, qos=1, retain=retain).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_a_simulated_day_meets_the_quota_within_hours_and_reports_every_play(tmp_path, mosquitto):
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#")
    agent = make_agent(tmp_path, mosquitto, at(WED, 6, 0))
    agent.run(until=at(WED, 18, 0))
    journal = play_log(tmp_path / DEVICE)
    records = journal.plays_on(WED)
    assert len(records) >= 10 and all(r.completed for r in records)
    hours = load_registry().hours_of("phuong-bach-dang")
    for r in records:
        assert any(a <= r.start and r.end <= b for a, b in hours.windows(WED, CAMPAIGN_TZ)), r.start
    for a, b in zip(records, records[1:]):
        assert b.start - a.start >= timedelta(minutes=15)
    # Every play reached the broker, with the same numbers the agent recorded.
    assert recorder.wait_for(lambda r: len(r.events("play")) >= len(records), 20)
    sent = recorder.events("play")
    assert [(p["start"], p["audience"]) for p in sent] == [(r.start.isoformat(), r.audience) for r in records]
    assert sum(p["audience"] for p in sent) > 0
    bins = recorder.events("traffic")
    assert len(bins) >= 11 * 12 and all(b["bin_seconds"] == 300 for b in bins)
    recorder.close()


def test_closed_day_and_outside_the_campaign_nothing_plays(tmp_path, mosquitto):
    saturday = date(2024, 9, 7)                   # Bạch Đằng's one-stop desk is closed on Saturday
    agent = make_agent(tmp_path, mosquitto, at(saturday, 6, 0))
    agent.run(until=at(saturday, 18, 0))
    after = date(2024, 10, 11)                     # the day after the campaign's last day
    agent2 = make_agent(tmp_path / "late", mosquitto, at(after, 6, 0))
    agent2.run(until=at(after, 18, 0))
    assert play_log(tmp_path / DEVICE).plays_on(saturday) == []
    assert play_log(tmp_path / "late" / DEVICE).plays_on(after) == []


def test_unsynchronised_clock_marks_events_and_does_not_play(tmp_path, mosquitto):
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#")
    agent = make_agent(tmp_path, mosquitto, at(WED, 8, 0), synced=False)
    agent.run(until=at(WED, 12, 0))
    assert play_log(tmp_path / DEVICE).plays_on(WED) == []
    assert recorder.wait_for(lambda r: len(r.events("traffic")) >= 40, 20)
    assert all(e["clock_synced"] is False for e in recorder.events("traffic"))
    recorder.close()


def test_interrupted_play_is_reported_after_restart_and_caught_up(tmp_path, mosquitto):
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#")
    agent = make_agent(tmp_path, mosquitto, at(WED, 6, 0))
    agent.run(until=at(WED, 9, 30))
    made = len(play_log(tmp_path / DEVICE).plays_on(WED))
    # A power cut during a play: the start was journaled, the end never came.
    j = play_log(tmp_path / DEVICE)
    j.begin(at(WED, 9, 31), "peak", agent.promo.current.content)
    j.progress(at(WED, 9, 31) + timedelta(seconds=20), 3)
    j.db.close()
    again = make_agent(tmp_path, mosquitto, at(WED, 11, 0))
    again.run(until=at(WED, 18, 0))
    records = play_log(tmp_path / DEVICE).plays_on(WED)
    cut = [r for r in records if not r.completed]
    assert [(r.start, r.end, r.audience) for r in cut] == [(at(WED, 9, 31), at(WED, 9, 31, ) + timedelta(seconds=20), 3)]
    # What the outage cost is made up the same day. Under which reason depends on how the planner
    # values the rest of the day (here the late morning is busy enough to play them as "live").
    assert made < 10
    assert sum(r.completed for r in records if r.start >= at(WED, 11, 0)) >= 10 - made, \
        "the planner must catch up after the outage"
    assert recorder.wait_for(lambda r: any(p["completed"] is False for p in r.events("play")), 20)
    recorder.close()


def test_commands_quota_brightness_snapshot_play_now_and_refusals(tmp_path, mosquitto):
    results = Recorder(mosquitto.host, mosquitto.port, f"ihanoi/v1/dev/{DEVICE}/#")
    agent = make_agent(tmp_path, mosquitto, at(WED, 7, 30))
    prefix = "ihanoi/v1"
    # Desired state left retained while the device was away...
    publish(mosquitto, f"{prefix}/cmd/{DEVICE}/quota", {"schema": "ihanoi.cmd.quota/1", "quota": 8}, retain=True)
    publish(mosquitto, f"{prefix}/unit/phuong-bach-dang/quota", {"schema": "ihanoi.cmd.quota/1", "quota": 12}, retain=True)
    publish(mosquitto, f"{prefix}/cmd/{DEVICE}/brightness", {"schema": "ihanoi.cmd.brightness/1", "percent": 35}, retain=True)
    publish(mosquitto, f"{prefix}/cmd/{DEVICE}/play-now", {"schema": "ihanoi.cmd.play-now/1", "id": "old"}, retain=True)
    agent.link.start()
    assert agent.link.connected.wait(10)
    deadline = time.monotonic() + 10
    while agent.inbox.waiting() < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    # ...and commands sent while it is online.
    publish(mosquitto, f"{prefix}/cmd/{DEVICE}/play-now", {"schema": "ihanoi.cmd.play-now/1", "id": "t-1"})
    publish(mosquitto, f"{prefix}/cmd/{DEVICE}/reboot", {"now": True})
    publish(mosquitto, f"{prefix}/cmd/{DEVICE}/brightness", b"{bad json")
    publish(mosquitto, f"{prefix}/cmd/{DEVICE}/snapshot", {"schema": "ihanoi.cmd.snapshot/1", "id": "s-1"})
    while agent.inbox.waiting() < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    agent.inbox.handle()
    assert agent.rules.quota == 12 and agent.planner.rules.quota == 12
    assert agent.panel.brightness == 35
    assert agent.commands.manual == ["t-1"], "a retained play-now must be ignored"
    agent.link.stop(flush_timeout=0)
    agent.link = type(agent.link)(agent.config.device, agent.config.broker, agent.outbox, clock=agent.clock,
                                  status=agent._announced, on_command=agent.inbox.put, unit=agent.config.unit)
    agent.run(until=at(WED, 8, 30))
    records = play_log(tmp_path / DEVICE).plays_on(WED)
    assert records[0].reason == "manual"
    assert results.wait_for(lambda r: len(r.events("cmd-result")) >= 6, 10)
    answers = {(a["command"], a["ok"]): a["reason"] for a in results.events("cmd-result")}
    assert "below 10" in answers[("quota", False)]
    assert answers[("quota", True)] == "quota 12"
    assert answers[("reboot", False)].startswith("bad-command")
    assert answers[("brightness", False)].startswith("bad-json")
    snaps = [p for t, p in results.messages if t.endswith("/snapshot")]
    assert snaps and snaps[-1].startswith(b"\x89PNG")
    results.close()


def test_systemd_ready_and_watchdog_pings(tmp_path, mosquitto, monkeypatch):
    sock_path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(sock_path)
    server.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", sock_path)
    monkeypatch.setenv("WATCHDOG_USEC", "300000")
    agent = make_agent(tmp_path, mosquitto, at(WED, 8, 0))
    agent.service = Service()
    agent.run(until=at(WED, 8, 20))
    got = []
    try:
        while True:
            got.append(server.recv(4096).decode())
    except (socket.timeout, BlockingIOError):
        pass
    server.close()
    assert got[0].startswith("READY=1")
    assert "STOPPING=1" in got
    assert agent.service.pings >= 1 and "WATCHDOG=1" in got


def _run_agent(tmp_path, broker, start: str, until: str, speed: float = 60) -> subprocess.Popen:
    path = device_config(tmp_path, DEVICE, broker.port)
    trace = unit_trace(tmp_path, DEVICE, WED, 1)
    env = dict(os.environ, PYTHONPATH=str(ROOT), IHANOI_PANEL="null")
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(path), "--speed", str(speed),
                             "--start", start, "--until", until, "--pir-trace", str(trace)],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


def test_sigkill_mid_play_then_restart(tmp_path, mosquitto):
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#")
    agent = _run_agent(tmp_path, mosquitto, "2024-09-04T08:00:00+07:00", "2024-09-04T12:00:00+07:00", speed=40)
    try:
        for line in agent.stderr:
            if "playing ihanoi-promo" in line:
                break
        time.sleep(0.3)                   # the promo lasts about 1.3 s of real time at speed 40
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
    finally:
        agent.kill()
    again = _run_agent(tmp_path, mosquitto, "2024-09-04T10:00:00+07:00", "2024-09-04T10:10:00+07:00", speed=60)
    out = again.stderr.read()
    assert again.wait(60) == 0, out
    assert "was interrupted" in out
    assert recorder.wait_for(lambda r: any(not p["completed"] for p in r.events("play")), 20)
    cut = [p for p in recorder.events("play") if not p["completed"]]
    assert len(cut) == 1 and cut[0]["start"].startswith("2024-09-04T08:")
    recorder.close()


def test_sigterm_ends_cleanly_and_says_offline(tmp_path, mosquitto):
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#")
    agent = _run_agent(tmp_path, mosquitto, "2024-09-04T08:00:00+07:00", "2024-09-04T17:00:00+07:00", speed=40)
    for line in agent.stderr:
        if "playing ihanoi-promo" in line:
            break
    agent.send_signal(signal.SIGTERM)
    rest = agent.stderr.read()
    assert agent.wait(30) == 0, rest
    assert "stopped" in rest
    assert recorder.wait_for(lambda r: r.events("state") and r.events("state")[-1]["state"] == "offline", 10)
    assert recorder.events("state")[-1]["reason"] == "shutdown"
    plays = recorder.events("play")
    assert plays and plays[-1]["completed"] is False        # the play cut by SIGTERM is reported, not lost
    recorder.close()


def test_signed_bundle_pushed_to_the_unit_is_installed_and_played(tmp_path, mosquitto):
    from tests.updates_kit import desired_for, make_bundle, make_keys

    key, public = make_keys(tmp_path / "keys")
    bundle = make_bundle(tmp_path, key, 2, units=["phuong-bach-dang"])
    publish(mosquitto, "ihanoi/v1/unit/phuong-bach-dang/content",
            desired_for(bundle, bundle.as_uri(), 2).to_bytes(), retain=True)
    results = Recorder(mosquitto.host, mosquitto.port, f"ihanoi/v1/dev/{DEVICE}/#")
    path = device_config(tmp_path, DEVICE, mosquitto.port,
                         extra=f'\n[content]\ntrusted_keys = ["{public}"]\n')
    config, registry, profile = check_config(path)
    clock = SimClock(at(WED, 7, 0), speed=120)
    agent = Agent(config, registry, profile, clock, pir_trace=unit_trace(tmp_path, DEVICE, WED, 1), step=15.0)
    assert agent.promo.current.version == "2024.08.1"            # the configured (built-in) pack to begin with
    agent.run(until=at(WED, 7, 40))
    assert agent.promo.current.version == "v2"
    assert results.wait_for(lambda r: any(a["command"] == "content" and a["ok"] for a in r.events("cmd-result")), 10)
    states = results.events("state")
    assert any(s.get("content_version") == "2" for s in states)
    results.close()
    # After a restart the installed bundle is what plays, without the broker's help.
    again = Agent(config, registry, profile, SimClock(at(WED, 8, 0)), connect=False)
    assert again.promo.current.version == "v2"


def test_traffic_is_learned_at_midnight_but_not_for_hours_the_agent_did_not_see(tmp_path, mosquitto):
    agent = make_agent(tmp_path, mosquitto, at(WED, 10, 0), trace_days=2)
    prior = agent.model.expected(WED).copy()
    agent.run(until=at(WED + timedelta(days=1), 0, 30))
    from edge.traffic import TrafficModel

    learned = TrafficModel.load(tmp_path / DEVICE / "traffic.json", agent.rules.hours)
    row = learned.expected(WED)
    before_start = slice(0, 10 * 12)           # 5-minute bins before 10:00, when the agent was not running
    assert np.allclose(row[before_start], prior[before_start], atol=1e-3)   # saved with 4 decimals
    assert not np.allclose(row[10 * 12:17 * 12], prior[10 * 12:17 * 12], atol=1e-3)
    assert learned.days_observed[WED.weekday()] == 1


def test_filler_packs_play_in_turn_between_promo_plays_and_are_not_reported(tmp_path, mosquitto):
    from tests.updates_kit import make_pack

    make_pack(tmp_path / "news", "news", color=(0, 0, 255))
    make_pack(tmp_path / "weather", "weather", color=(0, 255, 0))
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#")
    agent = make_agent(tmp_path, mosquitto, at(WED, 7, 50), extra=f'\n[content]\nfiller = ["{tmp_path / "news"}", '
                                                                   f'"{tmp_path / "weather"}"]\nfiller_every_minutes = 20\n')
    assert [p.version for p in agent.filler.packs] == ["news", "weather"]
    seen = []
    show = agent.panel.show

    def watch(frame):
        blue, green = frame[..., 2].max() == 255 and frame[..., 0].max() == 0, frame[..., 1].max() == 255
        seen.append("news" if blue and not frame[..., 1].any() else "weather" if green and not frame[..., 0].any()
                    else None)
        show(frame)

    agent.panel.show = watch
    agent.run(until=at(WED, 9, 30))
    shown = [s for i, s in enumerate(seen) if s and (i == 0 or seen[i - 1] != s)]
    assert shown[:4] == ["news", "weather", "news", "weather"]
    assert recorder.wait_for(lambda r: len(r.events("play")) >= 1, 10)
    assert {p["content"]["id"] for p in recorder.events("play")} == {"ihanoi-promo"}
    assert all(p["content"]["version"] == "2024.08.1" for p in recorder.events("play"))
    recorder.close()


def test_a_board_whose_clock_gets_synchronised_says_online_again_with_the_right_time(tmp_path, mosquitto):
    """Before NTP a Pi's state says "online since" 1970, which the collector refuses as implausible."""
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/+/state")
    agent = make_agent(tmp_path, mosquitto, at(WED, 7, 50), synced=False)
    sync_at = at(WED, 8, 0)
    clock = agent.clock
    sleep = clock.sleep

    def sleep_then_maybe_sync(seconds):
        sleep(seconds)
        if clock.now() >= sync_at:
            clock.set_synced(True)

    clock.sleep = sleep_then_maybe_sync
    agent.run(until=at(WED, 8, 10))
    assert recorder.wait_for(lambda r: any(s["state"] == "online" and s["since"] >= sync_at.isoformat()
                                           for s in r.events("state")), 10)
    recorder.close()
