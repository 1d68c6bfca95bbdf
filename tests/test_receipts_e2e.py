"""A broker killed outright loses no play: boards keep every event until the collector's receipt.

Mosquitto acknowledges an event (PUBACK) as soon as it has it in memory and writes its queues to
disk only now and then (here: never, within the test). A SIGKILL, like a power cut, loses what
it held. With receipts from the store (``outbox.receipts = "collector"``) the boards still have
those events and send them again; with the broker's PUBACK as the receipt they are gone. Both
are shown, on the same kill, so the test of the first cannot pass by luck.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.collector import Collector
from broker.mosquitto import QUEUES_CONF
from broker.store import open_store
from edge.config import MqttSettings
from edge.link import Link
from edge.outbox import Outbox
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ
from tests.fake_mqtt import FakeClients
from tests.mosquitto import Mosquitto
from tests.polling import eventually
from tests.test_collector import DAY, SHA, config_for

DEVICES = ("hbt-bach-dang-01", "hbt-bach-mai-01", "hbt-bach-khoa-01")
PLAYS_PER_ROUND = 8


@pytest.fixture
def broker(tmp_path):
    # The shipped queue settings, and no autosave within the test: what the broker holds in
    # memory when it is killed is lost, as in a power cut between two saves.
    b = Mosquitto(tmp_path / "mosquitto", include=QUEUES_CONF, extra="autosave_interval 3600\n").start()
    yield b
    b.kill()


def commit_plays(outbox: Outbox, first: int, count: int) -> None:
    for i in range(first, first + count):
        start = datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ) + timedelta(hours=8, minutes=15 * i)
        outbox.commit("play", content={"id": "ihanoi-promo", "version": "3", "sha256": SHA}, start=start,
                      end=start + timedelta(seconds=45), completed=True, audience=i % 4, reason="peak")


class District:
    def __init__(self, broker, tmp_path, registry, receipts: str):
        self.broker, self.registry = broker, registry
        self.store = open_store(f"sqlite:///{tmp_path / 'collector.sqlite3'}")
        self.config = config_for(broker, f"sqlite:///{tmp_path / 'collector.sqlite3'}", client_id="receipts")
        self.outboxes = {d: Outbox(tmp_path / f"{d}.db", d) for d in DEVICES}
        settings = MqttSettings(host=broker.host, port=broker.port, reconnect_min_s=0.5, reconnect_max_s=1)
        self.links = {d: Link(d, settings, ob, window=20, receipts=receipts, receipt_timeout=3).start()
                      for d, ob in self.outboxes.items()}
        self.collector: Collector | None = None
        self.made = 0

    def start_collector(self) -> None:
        self.collector = Collector(self.config, self.registry, self.store).start()
        assert self.collector.wait_connected(15)

    def stop_collector(self) -> None:
        self.collector.stop()

    def play_round(self) -> None:
        for ob in self.outboxes.values():
            commit_plays(ob, self.made, PLAYS_PER_ROUND)
        self.made += PLAYS_PER_ROUND

    def handed_to_the_broker(self) -> bool:
        return all(link.wait_handed(20) for link in self.links.values())

    def close(self) -> None:
        for link in self.links.values():
            link.stop(flush_timeout=0)
        if self.collector:
            self.collector.stop()


def kill_with_a_queue_in_memory(district: District) -> None:
    """The collector is away; the boards' plays wait in its session at the broker, which is killed."""
    district.stop_collector()
    district.play_round()
    assert district.handed_to_the_broker(), "the broker acknowledged every play before it died"
    district.broker.kill()
    district.broker.start()
    district.start_collector()


def test_a_broker_killed_outright_loses_no_play_when_boards_wait_for_the_stores_receipt(broker, tmp_path, registry):
    district = District(broker, tmp_path, registry, receipts="collector")
    try:
        district.start_collector()
        district.play_round()
        for _ in range(3):                                  # killed three times mid-stream
            kill_with_a_queue_in_memory(district)
            district.play_round()
        expected = len(DEVICES) * district.made
        assert eventually(lambda: district.store.count("play") >= expected, 60), \
            f"{district.store.count('play')} of {expected} plays stored"
        assert eventually(lambda: all(ob.depth() == 0 for ob in district.outboxes.values()), 30), \
            "every board forgets its plays once the store has them"
        time.sleep(1)
        assert district.store.count("play") == expected       # each exactly once
        resent = sum(link.resent for link in district.links.values())
        assert resent >= 3 * len(DEVICES) * PLAYS_PER_ROUND, "the lost plays came back by being sent again"
    finally:
        district.close()


def test_the_same_kill_loses_the_plays_when_the_brokers_puback_is_the_receipt(broker, tmp_path, registry):
    district = District(broker, tmp_path, registry, receipts="broker")
    try:
        district.start_collector()
        district.play_round()
        assert eventually(lambda: district.store.count("play") == len(DEVICES) * PLAYS_PER_ROUND, 30)
        kill_with_a_queue_in_memory(district)
        assert all(ob.depth() == 0 for ob in district.outboxes.values()), "the boards forgot them at the PUBACK"
        time.sleep(5)
        assert district.store.count("play") == len(DEVICES) * PLAYS_PER_ROUND, "the killed broker's plays are lost"
    finally:
        district.close()


def test_receipts_go_out_only_after_the_commit_and_name_stored_and_quarantined_events(tmp_path, registry):
    clients = FakeClients()
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    store = open_store(url)
    nowhere = SimpleNamespace(host="127.0.0.1", port=1)         # the fake client connects to nothing
    collector = Collector(config_for(nowhere, url), registry, store, client_factory=clients)
    committed = []
    write = store.write_batch

    def watch(*args, **kw):
        committed.append(list(clients.client.published))
        return write(*args, **kw)

    store.write_batch = watch
    collector.start()
    stream = uuid.uuid4()
    start = datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ) + timedelta(hours=9)
    for seq in (1, 2, 3, 5):
        message = protocol.Play(device="hbt-bach-mai-01", stream=stream, seq=seq,
                                content={"id": "ihanoi-promo", "version": "3", "sha256": SHA}, start=start,
                                end=start + timedelta(seconds=45), completed=True, audience=1, reason="peak",
                                clock_synced=True)
        clients.client.deliver("ihanoi/v1/dev/hbt-bach-mai-01/play", protocol.encode(message))
    # a play from 2099 on a board whose clock says it is synced: quarantined, and still receipted
    bad = protocol.encode(message).replace(b'"seq":5', b'"seq":9').replace(b"2024-", b"2099-")
    clients.client.deliver("ihanoi/v1/dev/hbt-bach-mai-01/play", bad)
    clients.client.deliver("ihanoi/v1/dev/hbt-bach-mai-01/play", b"not json at all")
    try:
        assert eventually(lambda: clients.client.published, 10)
        assert committed and committed[0] == [], "no receipt before the batch is committed"
        [(topic, payload, qos)] = clients.client.published
        receipt = protocol.Stored.model_validate_json(payload)
        assert topic == "ihanoi/v1/cmd/hbt-bach-mai-01/stored" and qos == 1
        assert receipt.stream == stream and receipt.seqs == [(1, 3), (5, 5), (9, 9)]
        assert store.count("play") == 4
    finally:
        collector.stop()


def test_a_device_cannot_hand_another_boards_receipt_to_it_through_the_collector(tmp_path, broker, registry):
    """Receipts name the device of the topic the event came on (its own identity at the broker),
    never a device named inside the payload."""
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    collector = Collector(config_for(broker, url, client_id="r2"), registry, open_store(url)).start()
    got: list[tuple[str, bytes]] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watch")
    watcher.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    watcher.connect(broker.host, broker.port)
    watcher.subscribe("ihanoi/v1/cmd/+/stored", qos=1)
    watcher.loop_start()
    try:
        assert collector.wait_connected(10)
        stream = uuid.uuid4()
        start = datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ) + timedelta(hours=9)
        forged = protocol.Play(device="hbt-bach-dang-01", stream=stream, seq=4,
                               content={"id": "ihanoi-promo", "version": "3", "sha256": SHA}, start=start,
                               end=start + timedelta(seconds=45), completed=True, audience=1, reason="peak",
                               clock_synced=True)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-hbt-bach-mai-01", protocol=mqtt.MQTTv5)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        pub.publish("ihanoi/v1/dev/hbt-bach-mai-01/play", protocol.encode(forged), qos=1).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
        assert eventually(lambda: got, 10)
        assert [t for t, _ in got] == ["ihanoi/v1/cmd/hbt-bach-mai-01/stored"]
    finally:
        watcher.loop_stop()
        watcher.disconnect()
        collector.stop()


def test_events_without_a_key_or_a_device_get_no_receipt_and_stop_nothing(tmp_path, registry, caplog):
    clients = FakeClients()
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    nowhere = SimpleNamespace(host="127.0.0.1", port=1)
    collector = Collector(config_for(nowhere, url), registry, open_store(url), client_factory=clients).start()
    start = datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ) + timedelta(hours=9)
    heartbeat = protocol.Health(device="hbt-bach-mai-01", time=start, uptime_s=1, outbox_depth=0, outbox_dropped=0,
                                software_version="t", clock_synced=True)          # no stream, no seq
    stream = uuid.uuid4()
    keyed = protocol.encode(protocol.Play(device="hbt-bach-mai-01", stream=stream, seq=7,
                                          content={"id": "ihanoi-promo", "version": "3", "sha256": SHA},
                                          start=start, end=start, completed=True, audience=1, reason="peak",
                                          clock_synced=True))
    try:
        clients.client.deliver("ihanoi/v1/dev/hbt-bach-mai-01/health", protocol.encode(heartbeat))
        clients.client.deliver("ihanoi/v1/dev//play", keyed)                    # no device in the topic
        clients.client.deliver("ihanoi/v1/dev/hbt-bach-mai-01/play", keyed)
        assert eventually(lambda: clients.client.published, 10)
        time.sleep(0.3)
        assert [t for t, _, _ in clients.client.published] == ["ihanoi/v1/cmd/hbt-bach-mai-01/stored"]
        assert collector._writer.is_alive() and "could not send" not in caplog.text
    finally:
        collector.stop()
