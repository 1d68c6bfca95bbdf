"""The whole proof-of-play path: events committed in the boards' outboxes, sent by their real
links, collected and reported exactly once, while the broker and the collector restart."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from broker.collector import Collector
from broker.report.build import report_from_store
from broker.store import open_store
from edge.config import MqttSettings
from edge.link import Link
from edge.outbox import Outbox
from ihanoi.contract.clock import CAMPAIGN_TZ
from tests.postgres import db_url  # noqa: F401  (fixture)
from tests.test_collector import DAY, NOW, SHA, broker, config_for, wait_until  # noqa: F401

# device -> plays it makes on DAY (bach-khoa's quota is 12, the others' 10)
PLAYS = {"hbt-bach-dang-01": 10, "hbt-bach-khoa-01": 12, "hbt-bach-mai-01": 10, "hbt-bach-mai-02": 7}
TOTAL = sum(PLAYS.values())



def commit_plays(outbox: Outbox, first: int, last: int) -> None:
    for i in range(first, last):
        start = datetime.combine(DAY, datetime.min.time(), CAMPAIGN_TZ) + timedelta(hours=8, minutes=15 * i)
        outbox.commit("play", content={"id": "ihanoi-promo", "version": 3, "sha256": SHA}, start=start,
                      end=start + timedelta(seconds=45), completed=True, audience=i % 4, reason="peak")
        outbox.commit("traffic", bin_start=start, bin_seconds=300, onsets=2 + i % 3)


class Boards:
    """The four boards: an outbox each and a real link to the broker."""

    def __init__(self, broker, tmp_path):
        self.settings = MqttSettings(host=broker.host, port=broker.port, reconnect_min_s=0.5, reconnect_max_s=1)
        self.outboxes = {d: Outbox(tmp_path / f"{d}.db", d) for d in PLAYS}
        self.thirds = {d: (0, n // 3, 2 * n // 3, n) for d, n in PLAYS.items()}
        self.links: dict[str, Link] = {}

    def start(self) -> None:
        self.links = {d: Link(d, self.settings, ob, window=20).start()
                      for d, ob in self.outboxes.items()}

    def stop(self, flush_timeout: float = 5.0) -> None:
        for link in self.links.values():
            link.stop(flush_timeout=flush_timeout)

    def play_third(self, k: int) -> None:
        for d, ob in self.outboxes.items():
            commit_plays(ob, self.thirds[d][k], self.thirds[d][k + 1])

    def wait_drained(self) -> None:
        for link in self.links.values():
            assert link.wait_drained(20), f"{link.device}: outbox still holds {link.outbox.depth()}"


def check_exactly_once(store, registry) -> None:
    wait_until(lambda: store.count("play") >= TOTAL and store.count("traffic") >= TOTAL, 15,
               "every play and traffic event")
    time.sleep(0.5)                                        # anything sent twice would now be in
    assert store.count("play") == TOTAL
    assert store.count("traffic") == TOTAL
    report = report_from_store(store, registry, DAY, DAY, NOW)
    row = {d.unit: d for d in report.days}
    assert row["phuong-bach-dang"].plays == 10 and row["phuong-bach-dang"].compliant is True
    assert row["phuong-bach-khoa"].plays == 12 and row["phuong-bach-khoa"].compliant is True
    mai = row["phuong-bach-mai"]
    assert mai.plays_by_device == {"hbt-bach-mai-01": 10, "hbt-bach-mai-02": 7}
    assert mai.compliant is False and mai.below_quota == ["hbt-bach-mai-02"]


def start_path(broker, db_url, tmp_path, registry):
    """The whole reporting path running: the store, a connected collector and the boards' links."""
    store = open_store(db_url)
    config = config_for(broker, db_url, client_id="e2e-collector")
    collector = Collector(config, registry, store).start()
    assert collector.wait_connected()
    boards = Boards(broker, tmp_path)
    boards.start()
    return store, config, collector, boards


@pytest.mark.slow
def test_plays_from_real_links_are_reported_once_through_collector_and_broker_restarts(broker, db_url, tmp_path,
                                                                                      registry):
    store, config, collector, boards = start_path(broker, db_url, tmp_path, registry)
    try:
        boards.play_third(0)
        time.sleep(0.3)
        collector.stop()                                   # the collector restarts while boards send:
        boards.play_third(1)                               # its session queues their events
        boards.wait_drained()
        collector = Collector(config, registry, store).start()
        assert collector.wait_connected()
        boards.stop()                                      # the boards go offline and keep playing,
        boards.play_third(2)
        connections = collector.connections
        broker.restart()                                   # the broker restarts meanwhile,
        wait_until(lambda: collector.connections > connections, 20, "the collector to subscribe again")
        boards.start()                                     # and the boards come back
        boards.wait_drained()
        check_exactly_once(store, registry)
        states = {s.device: s for s in store.device_states()}
        assert states["hbt-bach-dang-01"].state == "online" and states["hbt-bach-dang-01"].software_version
    finally:
        boards.stop(flush_timeout=0)
        collector.stop()
        store.close()


@pytest.mark.slow
def test_plays_sent_while_the_server_reboots_are_reported_once(broker, db_url, tmp_path, registry):
    """Mosquitto 2.0 does not restore a $share subscription from its persistence file: until the
    collector subscribes again, the broker acknowledges events with "No matching subscribers"
    (MQTT v5 reason 16) and drops them; the link keeps such an event and sends it again."""
    store, config, collector, boards = start_path(broker, db_url, tmp_path, registry)
    try:
        boards.play_third(0)
        wait_until(lambda: store.count("play") >= sum(t[1] for t in boards.thirds.values()), 30, "the first plays")
        broker.restart()                                   # the broker goes away while everyone is connected
        boards.play_third(1)
        time.sleep(0.5)
        collector.stop()                                   # the server reboots: the collector stops,
        broker.restart()                                   # the broker comes back first,
        boards.play_third(2)                               # the boards reconnect and send,
        time.sleep(1.5)
        collector = Collector(config, registry, store).start()   # and the collector comes back last
        boards.wait_drained()
        check_exactly_once(store, registry)
    finally:
        boards.stop(flush_timeout=0)
        collector.stop()
        store.close()
