"""Events committed on the Pi reach a real Mosquitto exactly as committed, whatever happens
to the broker, the network or the agent process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from broker.mosquitto import QUEUES_CONF
from edge.config import MqttSettings
from edge.health import Health
from edge.link import Link
from edge.outbox import Outbox
from ihanoi.contract.clock import CAMPAIGN_TZ, RealClock
from tests.mosquitto import Mosquitto
from tests.mqtt_helpers import Recorder

DEVICE = "hbt-bach-mai-01"
T0 = datetime(2024, 9, 3, 8, 0, tzinfo=CAMPAIGN_TZ)
ROOT = Path(__file__).resolve().parents[1]


def settings(broker) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, reconnect_min_s=1, reconnect_max_s=2)


def traffic(outbox: Outbox, i: int) -> int:
    return outbox.commit("traffic", bin_start=T0 + timedelta(minutes=5 * i), bin_seconds=300, onsets=i % 7)


@pytest.fixture
def mosquitto(tmp_path):
    # The project's broker settings: the recorder's session must be able to queue more than
    # Mosquitto's default 1,000 messages (1,000 events plus the link's state and health)
    # while it reconnects after a broker restart.
    broker = Mosquitto(tmp_path / "mosquitto", include=QUEUES_CONF).start()
    yield broker
    broker.kill()


@pytest.fixture
def recorder(mosquitto):
    rec = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#")
    yield rec
    rec.close()


def test_events_committed_while_broker_is_down_all_arrive_once(tmp_path, mosquitto, recorder):
    mosquitto.stop()          # the recorder's persistent session is kept by the broker
    outbox = Outbox(tmp_path / "outbox.db", DEVICE)
    for i in range(1000):
        traffic(outbox, i)
    link = Link(DEVICE, settings(mosquitto), outbox, window=100).start()
    try:
        time.sleep(1.5)
        assert not link.connected.is_set() and outbox.depth() >= 1000
        mosquitto.start()
        assert link.wait_drained(60), f"outbox still holds {outbox.depth()} events"
        stream = str(outbox.stream)
        assert recorder.wait_for(lambda r: len(set(r.keys("traffic"))) >= 1000, 30)
        keys = recorder.keys("traffic")
        assert sorted(set(keys)) == [(DEVICE, stream, s) for s in range(1, 1001)]
        assert len(keys) == 1000, "an event acknowledged once was delivered twice"
        assert link.max_inflight_seen <= 100
    finally:
        link.stop()


def test_broker_killed_and_restarted_while_sending_loses_nothing(tmp_path):
    from tests.mosquitto import Mosquitto

    # The witness's subscription must survive the broker's SIGKILL too: save state every second.
    mosquitto = Mosquitto(tmp_path / "m", extra="autosave_interval 1").start()
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#")
    time.sleep(1.5)
    outbox = Outbox(tmp_path / "outbox.db", DEVICE)
    link = Link(DEVICE, settings(mosquitto), outbox, window=50).start()
    try:
        assert link.connected.wait(10)
        n = 0
        seqs = set()
        for round_ in range(4):
            for _ in range(300):
                n += 1
                seqs.add(traffic(outbox, n))
            time.sleep(0.05 * round_)
            mosquitto.kill()                      # SIGKILL: no goodbye to anyone
            for _ in range(100):                  # events keep coming while it is down
                n += 1
                seqs.add(traffic(outbox, n))
            mosquitto.start()
            assert recorder.subscribed.wait(10) or recorder.wait_for(lambda r: r.subscribed.is_set(), 10)
            time.sleep(1.2)                           # the witness's queue is saved before the next kill
        assert link.wait_drained(90), f"outbox still holds {outbox.depth()} events"
        stream = str(outbox.stream)
        assert recorder.wait_for(lambda r: len(set(r.keys("traffic"))) >= n, 60)
        assert set(recorder.keys("traffic")) == {(DEVICE, stream, s) for s in seqs}
        assert len(seqs) == n == 1600
        assert link.max_inflight_seen <= 50
    finally:
        link.stop()
        recorder.close()
        mosquitto.kill()


def _agent(tmp_path, broker) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "tests.agent_proc", str(tmp_path), str(broker.port), DEVICE],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _ask(proc: subprocess.Popen, cmd: str) -> str:
    proc.stdin.write(cmd + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def test_agent_killed_between_commit_and_puback_resends_the_same_event(tmp_path, mosquitto, recorder):
    agent = _agent(tmp_path, mosquitto)
    try:
        first_stream = agent.stdout.readline().split()[1]
        assert _ask(agent, "connected") == "connected True"
        mosquitto.pause()                          # the broker stops answering: no PUBACK
        seq = int(_ask(agent, "play").split()[1])
        time.sleep(0.5)                            # the link has published it by now
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
    finally:
        mosquitto.resume()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        rows = db.execute("SELECT seq FROM events WHERE kind = 'play'").fetchall()
    assert rows == [(seq,)], "the event must still be in the outbox after the kill"

    agent = _agent(tmp_path, mosquitto)
    try:
        line = agent.stdout.readline().split()
        assert line[1] == first_stream and line[3] == "1"
        assert recorder.wait_for(lambda r: (DEVICE, first_stream, seq) in r.keys("play"), 30)
        deadline = time.monotonic() + 20
        while _ask(agent, "depth") != "depth 0" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ask(agent, "depth") == "depth 0"
        assert set(recorder.keys("play")) == {(DEVICE, first_stream, seq)}
        _ask(agent, "quit")
    finally:
        agent.kill()
        agent.wait(10)


def test_state_is_retained_online_and_offline_is_the_last_will(tmp_path, mosquitto):
    agent = _agent(tmp_path, mosquitto)
    try:
        agent.stdout.readline()
        assert _ask(agent, "connected") == "connected True"
        watcher = Recorder(mosquitto.host, mosquitto.port, f"ihanoi/v1/dev/{DEVICE}/state", client_id="late-watcher")
        assert watcher.wait_for(lambda r: r.events("state"), 10)
        assert watcher.events("state")[-1]["state"] == "online"
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        # keepalive is 30 s; the broker notices a dead TCP connection at once
        assert watcher.wait_for(lambda r: r.events("state")[-1]["state"] == "offline", 60)
        assert watcher.events("state")[-1]["reason"] == "lost"
        watcher.close()
    finally:
        agent.kill()


def test_clean_shutdown_says_offline_with_reason(tmp_path, mosquitto, recorder):
    outbox = Outbox(tmp_path / "outbox.db", DEVICE)
    link = Link(DEVICE, settings(mosquitto), outbox).start()
    assert link.connected.wait(10)
    link.stop()
    assert recorder.wait_for(lambda r: any(e["state"] == "offline" for e in r.events("state")), 10)
    last = recorder.events("state")[-1]
    assert (last["state"], last["reason"]) == ("offline", "shutdown")


def test_health_reports_outbox_and_versions(tmp_path, mosquitto, recorder):
    outbox = Outbox(tmp_path / "outbox.db", DEVICE, max_events=100)
    for i in range(130):
        traffic(outbox, i)
    link = Link(DEVICE, settings(mosquitto), outbox).start()
    heartbeat = Health(outbox, RealClock(), [link.figures, lambda: {"content_version": 7, "content_id": "ihanoi-promo"}],
                    interval=0.5).start(first_after=0)
    try:
        assert recorder.wait_for(lambda r: r.events("health"), 15)
        health = recorder.events("health")[-1]
        assert health["device"] == DEVICE and health["software_version"]
        assert health["outbox_dropped"] == 30
        assert health["content_version"] == "7"
        assert isinstance(health["clock_synced"], bool)
        assert "outbox_reset" not in health
        assert recorder.wait_for(lambda r: any(h["details"].get("link_acked", 0) >= 100 for h in r.events("health")), 15)
    finally:
        heartbeat.stop()
        link.stop()


def test_corrupt_outbox_is_reported_in_the_next_health_message(tmp_path, mosquitto, recorder, caplog):
    (tmp_path / "outbox.db").write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 3000)
    outbox = Outbox(tmp_path / "outbox.db", DEVICE)
    assert "outbox.db was corrupt" in caplog.text
    link = Link(DEVICE, settings(mosquitto), outbox).start()
    heartbeat = Health(outbox, RealClock(), [link.figures], interval=0.5).start(first_after=0)
    try:
        assert recorder.wait_for(lambda r: r.events("health"), 15)
        note = recorder.events("health")[-1]["outbox_reset"]
        assert "outbox.db.corrupt-" in note
        assert (tmp_path / note.split("moved to ")[1].split(" ")[0]).exists()
    finally:
        heartbeat.stop()
        link.stop()


def test_wrong_password_is_reported_clearly(tmp_path):
    from tests.mosquitto import Mosquitto

    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), DEVICE, "right"], check=True)
    pwfile.chmod(0o600)   # mosquitto 2 refuses world-readable password files
    broker = Mosquitto(tmp_path / "m", extra=f"password_file {pwfile}")
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    broker.start()
    try:
        outbox = Outbox(tmp_path / "outbox.db", DEVICE)
        link = Link(DEVICE, settings(broker), outbox, password="wrong").start()
        deadline = time.monotonic() + 10
        while link.last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        link.stop(flush_timeout=0)
        assert link.last_error and "refused the connection" in link.last_error
        assert not link.connected.is_set()
    finally:
        broker.kill()


def test_events_nobody_was_subscribed_to_are_kept_and_sent_again(tmp_path, mosquitto):
    """A broker that lost the collector's session (crash before its state was saved) answers
    'No matching subscribers': the event must stay in the outbox until someone listens."""
    outbox = Outbox(tmp_path / "outbox.db", DEVICE)
    link = Link(DEVICE, settings(mosquitto), outbox).start()
    try:
        assert link.connected.wait(10)
        seqs = {traffic(outbox, i) for i in range(20)}
        deadline = time.monotonic() + 10
        while link.unheard < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert link.unheard >= 20 and outbox.depth() >= 20      # (and the first health message)
        recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#", client_id="late-collector")
        assert link.wait_drained(30)
        assert recorder.wait_for(lambda r: {k[2] for k in r.keys("traffic")} == seqs, 10)
        recorder.close()
    finally:
        link.stop()
