"""The collector against a real Mosquitto (the project's shipped queue settings) and both
databases: malformed and foreign messages are quarantined and change nothing, re-sent events
count once, a backlog queued while the collector was down arrives whole, and two collectors
on one shared subscription split the stream without losing anything when one is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from broker.collector import Collector
from broker.collector.config import CollectorConfig
from broker.report.build import report_from_store
from broker.store import open_store
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ
from tests.mosquitto import Mosquitto, free_port
from tests.postgres import db_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
from broker.mosquitto import QUEUES_CONF as SHIPPED_CONF  # noqa: E402

TOPICS = protocol.Topics()
DAY = date(2024, 9, 4)                       # a Wednesday in the campaign, not a holiday
NOW = datetime(2024, 9, 6, 12, 0, tzinfo=CAMPAIGN_TZ)
SHA = "a" * 64
DEVICE = "hbt-bach-dang-01"                  # phuong-bach-dang, one-stop hours, quota 10
OTHER = "hbt-bach-khoa-01"


# --- helpers shared by the collector tests -------------------------------------------------
def config_for(broker, url: str, **collector) -> CollectorConfig:
    return CollectorConfig.model_validate({
        "broker": {"host": broker.host, "port": broker.port},
        "collector": {"batch_latency_ms": 50, **collector},
        "database": {"url": url}})


def play(device: str, stream: uuid.UUID, seq: int, start: datetime, **over) -> protocol.Play:
    fields = dict(device=device, stream=stream, seq=seq, content={"id": "ihanoi-promo", "version": 3, "sha256": SHA},
                  start=start, end=start + timedelta(seconds=30), completed=True, audience=4, reason="peak",
                  clock_synced=True)
    fields.update(over)
    return protocol.Play(**fields)


def traffic(device: str, stream: uuid.UUID, seq: int, bin_start: datetime, onsets: int = 3) -> protocol.Traffic:
    return protocol.Traffic(device=device, stream=stream, seq=seq, bin_start=bin_start, onsets=onsets,
                            clock_synced=True)


class Publisher:
    def __init__(self, broker, client_id: str = "test-publisher"):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False):
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def event(self, message, kind: str | None = None):
        kind = kind or {protocol.Play: "play", protocol.Traffic: "traffic"}[type(message)]
        return self.send(TOPICS.up(message.device, kind), message.to_json())

    def flush(self, infos, timeout: float = 60) -> None:
        for info in infos:
            info.wait_for_publish(timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def handled(collector: Collector) -> int:
    """Messages the collector has committed (stored, duplicate or quarantined)."""
    m = collector.metrics
    return int(sum(m.value("ihanoi_collector_messages_received_total", kind=k)
                   for k in ("play", "traffic", "health", "state", "other")))


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path / "mosquitto", include=SHIPPED_CONF).start()
    yield b
    b.kill()


def report_json(store, registry) -> dict:
    report = report_from_store(store, registry, DAY, DAY, NOW)
    return {"days": [d.__dict__ for d in report.days], "district": report.district.__dict__}


# --- tests -----------------------------------------------------------------------------------
def test_malformed_foreign_and_repeated_messages_are_quarantined_and_change_nothing(broker, db_url, registry, caplog):
    store = open_store(db_url)
    collector = Collector(config_for(broker, db_url), registry, store).start()
    pub = Publisher(broker)
    try:
        assert collector.wait_connected()
        stream = uuid.uuid4()
        plays = [play(DEVICE, stream, i, datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ)
                      + timedelta(hours=8, minutes=20 * i)) for i in range(1, 12)]
        pub.flush([pub.event(p) for p in plays])
        wait_until(lambda: handled(collector) >= 11, 20, "the valid plays")
        before = report_json(store, registry)
        assert before["days"][[d["unit"] for d in before["days"]].index("phuong-bach-dang")]["plays"] == 11

        topic = TOPICS.up(DEVICE, "play")
        good = plays[0].to_json()
        as_dict = json.loads(good)
        bad = {
            "bad-json": (topic, b'{"schema": "ihanoi.play/1", '),
            "bad-utf8": (topic, b'{"schema": "\xff\xfe"}'),
            "oversize": (topic, b'{"pad": "' + b"x" * (protocol.MAX_PAYLOAD + 10) + b'"}'),
            "wrong-schema": (topic, json.dumps({**as_dict, "schema": "ihanoi.play/9"}).encode()),
            "invalid": (topic, json.dumps({**as_dict, "audience": "many"}).encode()),
            # a board that writes as another board: its own topic, someone else's name inside
            "device-mismatch": (TOPICS.up(OTHER, "play"), good),
            "unknown-device": (TOPICS.up("hbt-not-registered-01", "play"),
                               play("hbt-not-registered-01", stream, 1, plays[0].start).to_json()),
        }
        infos = [pub.send(t, p) for t, p in bad.values()]
        infos += [pub.event(p) for p in plays for _ in range(3)]        # every play sent three more times
        pub.flush(infos)
        expected = 11 + len(bad) + 33
        wait_until(lambda: handled(collector) >= expected, 30, "every message to be handled")

        m = collector.metrics
        for reason in bad:
            assert m.value("ihanoi_collector_messages_quarantined_total", reason=reason) == 1, reason
        assert m.value("ihanoi_collector_events_duplicate_total", kind="play") == 33
        assert m.value("ihanoi_collector_events_stored_total", kind="play") == 11
        assert store.count("play") == 11
        kept = {row.reason: row for row in store.quarantined(50)}
        assert set(kept) == set(bad)
        for reason, (t, p) in bad.items():
            assert kept[reason].topic == t and kept[reason].payload == p and kept[reason].detail
        assert report_json(store, registry) == before
        # logged once per kind, not once per message
        logged = [r for r in caplog.records if "quarantined a" in r.getMessage()]
        assert len(logged) == len(bad)
    finally:
        pub.close()
        collector.stop()
        store.close()


def test_a_message_the_database_refuses_is_quarantined_and_its_batch_is_stored(broker, db_url, registry):
    # Valid by the protocol, but PostgreSQL refuses a NUL character in text (SQLite keeps it):
    # the batch is split until the refused message is alone, instead of being retried forever.
    store = open_store(db_url)
    collector = Collector(config_for(broker, db_url, batch_latency_ms=1000), registry, store).start()
    pub = Publisher(broker)
    try:
        assert collector.wait_connected()
        stream = uuid.uuid4()
        start = datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ) + timedelta(hours=8)
        plays = [play(DEVICE, stream, i, start + timedelta(minutes=20 * i)) for i in range(1, 21)]
        odd = play(DEVICE, stream, 21, start + timedelta(hours=7),
                   content={"id": "ihanoi\x00promo", "version": "3", "sha256": SHA})
        plays.insert(9, odd)
        pub.flush([pub.event(p) for p in plays])
        wait_until(lambda: handled(collector) >= 21, 30, "every play to be handled")

        refused = [row for row in store.quarantined(10) if row.reason == "store-rejected"]
        if store.engine.dialect.name == "postgresql":
            assert store.count("play") == 20
            assert len(refused) == 1 and refused[0].payload == odd.to_json()
            assert "DataError" in refused[0].detail
            assert collector.metrics.value("ihanoi_collector_messages_quarantined_total", reason="store-rejected") == 1
        else:
            assert store.count("play") == 21 and refused == []
        assert collector.metrics.value("ihanoi_collector_commit_failures_total") == 0
    finally:
        pub.close()
        collector.stop()
        store.close()


def test_a_backlog_of_50000_events_sent_while_the_collector_was_down_arrives_whole(broker, tmp_path, registry):
    url = f"sqlite:///{tmp_path}/backlog.sqlite3"
    store = open_store(url)
    config = config_for(broker, url, batch_size=1000)
    first = Collector(config, registry, store).start()      # the broker now holds its session
    assert first.wait_connected()
    first.stop()

    devices = [d.id for _, d in registry.devices()]
    streams = {d: uuid.uuid4() for d in devices}
    t0 = datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ)
    pub = Publisher(broker)
    infos = []
    for i in range(50_000):
        device = devices[i % len(devices)]
        n = i // len(devices)
        infos.append(pub.event(traffic(device, streams[device], n + 1, t0 + timedelta(minutes=5 * n), i % 5)))
        if i % 5000 == 4999:
            infos[-1].wait_for_publish(60)
    pub.flush(infos)
    pub.close()
    broker.restart()              # the queue survives the broker's restart too

    collector = Collector(config, registry, store).start()
    try:
        wait_until(lambda: handled(collector) >= 50_000, 120, "the 50,000 queued events")
        assert store.count("traffic") == 50_000
        assert collector.metrics.value("ihanoi_collector_events_duplicate_total", kind="traffic") == 0
    finally:
        collector.stop()
        store.close()


def test_mosquittos_defaults_would_have_dropped_that_backlog(tmp_path, registry):
    """Why broker/mosquitto/conf.d matters: the same scenario on a stock broker keeps ~1,000."""
    stock = Mosquitto(tmp_path / "stock").start()
    url = f"sqlite:///{tmp_path}/stock.sqlite3"
    store = open_store(url)
    config = config_for(stock, url)
    try:
        first = Collector(config, registry, store).start()
        assert first.wait_connected()
        first.stop()
        pub = Publisher(stock)
        stream = uuid.uuid4()
        t0 = datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ)
        pub.flush([pub.event(traffic(DEVICE, stream, i + 1, t0 + timedelta(minutes=5 * i))) for i in range(3000)])
        pub.close()
        collector = Collector(config, registry, store).start()
        wait_until(lambda: handled(collector) >= 1000, 30, "what the stock broker kept")
        time.sleep(1.0)
        collector.stop()
        assert store.count("traffic") < 3000
    finally:
        stock.kill()
        store.close()


# --- two collectors, one shared subscription -------------------------------------------------
def _write_config(path: Path, broker, url: str, client_id: str, metrics_port: int) -> Path:
    path.write_text(
        f'[broker]\nhost = "{broker.host}"\nport = {broker.port}\n'
        f'[collector]\nclient_id = "{client_id}"\nshare_group = "test-group"\nbatch_latency_ms = 50\n'
        f'[database]\nurl = "{url}"\n'
        f'[metrics]\nport = {metrics_port}\n', encoding="utf-8")
    return path


class CollectorProcess:
    """``ihanoi-broker collect`` as its own process, so that it can be killed outright."""

    def __init__(self, config: Path, metrics_port: int, log: Path):
        self.config, self.port, self.log = config, metrics_port, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "CollectorProcess":
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "broker.cli", "collect", "--config", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("ab"), env=env)
        wait_until(lambda: self.metric("ihanoi_collector_connected") == 1, 30, f"collector {self.config.stem}")
        return self

    def metric(self, name: str, **labels) -> float | None:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=1).read().decode()
        except OSError:
            return None
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        for line in text.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return 0.0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


def test_two_collectors_share_the_stream_and_killing_one_loses_nothing(broker, db_url, tmp_path, registry):
    open_store(db_url).close()                       # schema ready before both start
    ports = [free_port(), free_port()]
    a = CollectorProcess(_write_config(tmp_path / "a.toml", broker, db_url, "collector-a", ports[0]), ports[0],
                         tmp_path / "a.log").start()
    b = CollectorProcess(_write_config(tmp_path / "b.toml", broker, db_url, "collector-b", ports[1]), ports[1],
                         tmp_path / "b.log").start()
    devices = [d.id for _, d in registry.devices()]
    streams = {d: uuid.uuid4() for d in devices}
    t0 = datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ)
    total = 4000
    pub = Publisher(broker)
    killed = threading.Event()
    try:
        infos = []
        for i in range(total):
            device = devices[i % len(devices)]
            n = i // len(devices)
            infos.append(pub.event(traffic(device, streams[device], n + 1, t0 + timedelta(minutes=5 * n))))
            if i == total // 3:
                b.kill()                           # mid-stream: its unacknowledged batch is not lost
                killed.set()
            if i % 200 == 199:
                time.sleep(0.05)                   # a steady stream, not one burst
        pub.flush(infos)
        a_part = a.metric("ihanoi_collector_events_stored_total", kind="traffic")
        b.start()                                  # same client id: its session was kept
        store = open_store(db_url, migrate=False)
        try:
            wait_until(lambda: store.count("traffic") >= total, 60, "every event in the store")
            time.sleep(0.5)
            assert store.count("traffic") == total
        finally:
            store.close()
        assert 0 < a_part < total, "collector a got the whole stream: the subscription is not shared"
        assert b.metric("ihanoi_collector_events_stored_total", kind="traffic") > 0
    finally:
        pub.close()
        a.stop()
        b.stop()
