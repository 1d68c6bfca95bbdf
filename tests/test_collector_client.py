"""The collector behind its client seam, without a broker: it subscribes where it should, it
acknowledges a message only once the message is committed (whatever the database does), and
the paho adapter keeps paho's private parts behind a version check with the public fallback.
(The same collector against a real Mosquitto: test_collector.py.)"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy.exc import OperationalError, StatementError

from broker.collector import Collector
from broker.collector.client import PAHO_INTERNALS, ClientOptions, PahoClient, _known_paho, topic_of
from broker.collector.config import CollectorConfig, MqttSettings
from broker.store import open_store
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from tests.fake_mqtt import FakeClient, FakeClients
from tests.polling import eventually
from tests.postgres import db_url  # noqa: F401  (fixture)

TOPICS = protocol.Topics()
NOW = datetime(2024, 9, 6, 12, 0, tzinfo=CAMPAIGN_TZ)
START = datetime(2024, 9, 4, 8, 0, tzinfo=CAMPAIGN_TZ)
DEVICE = "hbt-bach-dang-01"
SHA = "a" * 64


def play_payload(seq: int, stream: uuid.UUID, device: str = DEVICE, **over) -> bytes:
    start = START + timedelta(minutes=20 * seq)
    fields = dict(device=device, stream=stream, seq=seq, content={"id": "ihanoi-promo", "version": "3", "sha256": SHA},
                  start=start, end=start + timedelta(seconds=30), completed=True, audience=2, reason="peak",
                  clock_synced=True)
    fields.update(over)
    return protocol.Play(**fields).to_json()


def unit_collector(url: str, registry, store=None, **collector) -> tuple[Collector, FakeClient]:
    """A collector with the fake client, on a simulated clock; not started."""
    clients = FakeClients()
    config = CollectorConfig.model_validate({"collector": {"batch_latency_ms": 20, **collector},
                                             "database": {"url": url}})
    c = Collector(config, registry, store or open_store(url), clock=SimClock(NOW), client_factory=clients)
    return c, clients.client


@contextlib.contextmanager
def running(collector: Collector):
    """The collector started; stopped and its store closed afterwards, whatever the test did."""
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()
        collector.store.close()


class GatedStore:
    """The real store, whose ``write_batch`` first records what had been acknowledged, then
    waits for the test (or fails ``failures`` times as a database that is away would)."""

    def __init__(self, store, client_of, failures: int = 0, hold: bool = False):
        self.store, self.client_of, self.failures = store, client_of, failures
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.acked_at_entry: list[list[int]] = []
        self.calls = 0

    def write_batch(self, *args, **kwargs):
        self.calls += 1
        self.acked_at_entry.append(self.client_of().acked_mids())
        self.entered.set()
        self.release.wait(30)
        if self.calls <= self.failures:
            raise OperationalError("INSERT ...", {}, Exception("could not connect to server: Connection refused"))
        return self.store.write_batch(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_it_subscribes_to_the_shared_streams_and_state_on_every_connection(db_url, registry):
    collector, client = unit_collector(db_url, registry, share_group="g1")
    with running(collector):
        assert collector.wait_connected(1)
        client.reconnect()
        assert client.subscriptions == [[("$share/g1/ihanoi/v1/dev/+/play", 1),
                                         ("$share/g1/ihanoi/v1/dev/+/traffic", 1),
                                         ("$share/g1/ihanoi/v1/dev/+/health", 1), ("ihanoi/v1/dev/+/state", 1)]] * 2
        assert collector.connections == 2
    assert client.stopped


def test_nothing_is_acknowledged_before_its_batch_is_committed(db_url, registry):
    clients = FakeClients()
    gate = GatedStore(open_store(db_url), lambda: clients.client, hold=True)
    config = CollectorConfig.model_validate({"collector": {"batch_latency_ms": 20}, "database": {"url": db_url}})
    collector = Collector(config, registry, gate, clock=SimClock(NOW), client_factory=clients).start()
    client = clients.client
    try:
        stream = uuid.uuid4()
        mids = [client.deliver(TOPICS.up(DEVICE, "play"), play_payload(i, stream)) for i in range(1, 6)]
        assert gate.entered.wait(10), "the writer never got to the store"
        assert gate.acked_at_entry == [[]], "a message was acknowledged before its batch reached the database"
        assert client.acked == []
        assert collector.metrics.value("ihanoi_collector_pending") == 5
        gate.release.set()
        assert eventually(lambda: sorted(client.acked_mids()) == mids, 10)
        assert gate.store.count("play") == 5
    finally:
        gate.release.set()
        collector.stop()
        gate.store.close()


def test_while_the_database_is_away_nothing_is_acknowledged_and_the_batch_is_retried(db_url, registry):
    clients = FakeClients()
    gate = GatedStore(open_store(db_url), lambda: clients.client, failures=2)
    config = CollectorConfig.model_validate({"collector": {"batch_latency_ms": 20}, "database": {"url": db_url}})
    collector = Collector(config, registry, gate, clock=SimClock(NOW), client_factory=clients).start()
    client = clients.client
    try:
        stream = uuid.uuid4()
        mids = [client.deliver(TOPICS.up(DEVICE, "play"), play_payload(i, stream)) for i in range(1, 4)]
        assert eventually(lambda: client.acked_mids(), 20)
        assert gate.calls == 3 and gate.acked_at_entry == [[], [], []]
        assert sorted(client.acked_mids()) == mids
        assert collector.metrics.value("ihanoi_collector_commit_failures_total") == 2
        assert gate.store.count("play") == 3 and gate.store.quarantine_counts() == {}
    finally:
        collector.stop()
        gate.store.close()


def test_a_stopped_collector_acknowledges_nothing_it_could_not_commit(db_url, registry):
    clients = FakeClients()
    gate = GatedStore(open_store(db_url), lambda: clients.client, failures=10**6)
    config = CollectorConfig.model_validate({"collector": {"batch_latency_ms": 20}, "database": {"url": db_url}})
    collector = Collector(config, registry, gate, clock=SimClock(NOW), client_factory=clients).start()
    client = clients.client
    try:
        client.deliver(TOPICS.up(DEVICE, "play"), play_payload(1, uuid.uuid4()))
        assert gate.entered.wait(10)
    finally:
        collector.stop(timeout=2)
        gate.store.close()
    assert client.acked == [] and gate.calls >= 1


def test_data_the_database_refuses_in_any_way_is_quarantined_not_retried(db_url, registry, caplog):
    """Not only DataError: an error while binding a value (SQLAlchemy's StatementError, an
    OverflowError inside) or a plain ValueError is about the data, and would be retried forever
    if it were taken for a database that is away."""
    store = open_store(db_url)
    poison = {b"seq-2": StatementError("(builtins.OverflowError) date value out of range", "INSERT", {},
                                       OverflowError("date value out of range")),
              b"seq-4": ValueError("naive datetime")}

    class Picky:
        def write_batch(self, events, *rest):
            for row in events.get("play", ()):
                error = poison.get(f"seq-{row['seq']}".encode())
                if error:
                    raise error
            return store.write_batch(events, *rest)

        def __getattr__(self, name):
            return getattr(store, name)

    collector, client = unit_collector(db_url, registry, store=Picky(), batch_latency_ms=200)
    collector.start()
    try:
        stream = uuid.uuid4()
        mids = [client.deliver(TOPICS.up(DEVICE, "play"), play_payload(i, stream)) for i in range(1, 6)]
        assert eventually(lambda: len(client.acked) == 5, 20)
        assert sorted(client.acked_mids()) == mids
        assert store.count("play") == 3
        refused = sorted((r.payload, r.reason, r.detail) for r in store.quarantined())
        assert refused == [(play_payload(2, stream), "store-rejected", "StatementError: date value out of range"),
                           (play_payload(4, stream), "store-rejected", "ValueError: naive datetime")]
        said = [r.getMessage() for r in caplog.records if "the database refused" in r.getMessage()]
        assert said in ([f"the database refused a message on {TOPICS.up(DEVICE, 'play')}: {detail} (further "
                         "'store-rejected' messages are counted, not logged)"]
                        for detail in ("StatementError: date value out of range", "ValueError: naive datetime"))
        assert collector.metrics.value("ihanoi_collector_commit_failures_total") == 0
    finally:
        collector.stop()
        store.close()


def received_seqs(client, topics: protocol.Topics, device: str = DEVICE) -> set[int]:
    """Every seq the collector's receipts to ``device`` name."""
    seqs: set[int] = set()
    for topic, payload, _ in client.published:
        if topic == topics.receipt(device):
            seqs |= {n for lo, hi in json.loads(payload)["seqs"] for n in range(lo, hi + 1)}
    return seqs


def test_a_refusal_that_says_nothing_is_quarantined_under_its_name_alone_and_its_board_told(db_url, registry,
                                                                                            caplog):
    store = open_store(db_url)
    topics = protocol.Topics("district/" + "x" * 200 + "/v1")      # a long prefix: the log line cuts the topic

    class Mute:
        def write_batch(self, events, *rest):
            if any(row["seq"] == 2 for row in events.get("play", ())):
                raise ValueError()
            return store.write_batch(events, *rest)

        def __getattr__(self, name):
            return getattr(store, name)

    collector, client = unit_collector(db_url, registry, store=Mute(), batch_latency_ms=200,
                                       topic_prefix=topics.prefix)
    collector.start()
    try:
        stream = uuid.uuid4()
        with caplog.at_level("WARNING", logger="broker.collector"):
            mids = [client.deliver(topics.up(DEVICE, "play"), play_payload(i, stream)) for i in range(1, 4)]
            assert eventually(lambda: sorted(client.acked_mids()) == mids, 20)
        assert store.count("play") == 2
        assert [(r.payload, r.reason, r.detail) for r in store.quarantined()] == [
            (play_payload(2, stream), "store-rejected", "ValueError: ")]
        said = [r.getMessage() for r in caplog.records if "the database refused" in r.getMessage()]
        assert said == [f"the database refused a message on {topics.up(DEVICE, 'play')[:200]}: ValueError:  (further "
                        "'store-rejected' messages are counted, not logged)"]
        # The refused play is kept in quarantine: its board is told so, and stops sending it.
        assert eventually(lambda: received_seqs(client, topics) == {1, 2, 3}, 10)
        value = collector.metrics.value
        assert value("ihanoi_collector_messages_received_total", kind="play") == 3
        assert value("ihanoi_collector_events_stored_total", kind="play") == 2
        assert value("ihanoi_collector_messages_quarantined_total", reason="store-rejected") == 1
    finally:
        collector.stop()
        store.close()


def test_a_refused_state_is_quarantined_and_needs_no_receipt(db_url, registry):
    store = open_store(db_url)

    class NoStates:
        def write_batch(self, events, quarantined=(), seen=(), health_states=(), states=()):
            if states:
                raise ValueError("state refused")
            return store.write_batch(events, quarantined, seen, health_states, states)

        def __getattr__(self, name):
            return getattr(store, name)

    collector, client = unit_collector(db_url, registry, store=NoStates(), batch_latency_ms=200)
    collector.start()
    try:
        online = protocol.State(device=DEVICE, state="online", since=NOW - timedelta(minutes=1))
        mids = [client.deliver(TOPICS.up(DEVICE, "state"), online.to_json()),
                client.deliver(TOPICS.up(DEVICE, "play"), play_payload(1, uuid.uuid4()))]
        assert eventually(lambda: sorted(client.acked_mids()) == mids, 20)
        assert [(r.reason, r.detail) for r in store.quarantined()] == [("store-rejected", "ValueError: state refused")]
        assert store.count("play") == 1 and collector._writer.is_alive()
    finally:
        collector.stop()
        store.close()


def test_each_message_is_acknowledged_at_the_qos_it_came_with(db_url, registry):
    collector, client = unit_collector(db_url, registry)
    with running(collector):
        stream = uuid.uuid4()
        once = client.deliver(TOPICS.up(DEVICE, "play"), play_payload(1, stream), qos=1)
        exactly_once = client.deliver(TOPICS.up(DEVICE, "play"), play_payload(2, stream), qos=2)
        assert eventually(lambda: len(client.acked) == 2, 10)
        assert sorted(client.acked) == [(once, 1), (exactly_once, 2)]


def test_a_boards_last_seen_is_written_at_most_every_thirty_seconds(db_url, registry):
    # A backlog drain holds most boards in every batch: one upsert per board per 30 s, not per batch.
    collector, client = unit_collector(db_url, registry)
    with running(collector):
        stream, clock = uuid.uuid4(), collector.clock
        last_seen = lambda: {s.device: s.last_seen for s in collector.store.device_states()}.get(DEVICE)  # noqa: E731
        for seq, after, written in ((1, 0, NOW), (2, 29, NOW), (3, 1, NOW + timedelta(seconds=30))):
            clock.advance(after)
            client.deliver(TOPICS.up(DEVICE, "play"), play_payload(seq, stream))
            assert eventually(lambda: collector.store.count("play") == seq, 10)
            assert last_seen() == written, seq
        assert collector.metrics.value("ihanoi_collector_pending") == 0       # three batches, all committed


def test_a_database_away_with_a_long_error_is_said_in_its_first_200_characters(db_url, registry, caplog):
    clients = FakeClients()
    store = open_store(db_url)
    long = OperationalError("INSERT ...", {}, Exception("x" * 600 + "\nthe server's second line"))

    class AwayOnce(GatedStore):
        def write_batch(self, *args, **kwargs):
            self.calls += 1
            if self.calls == 1:
                raise long
            return self.store.write_batch(*args, **kwargs)

    gate = AwayOnce(store, lambda: clients.client)
    config = CollectorConfig.model_validate({"collector": {"batch_latency_ms": 20}, "database": {"url": db_url}})
    collector = Collector(config, registry, gate, clock=SimClock(NOW), client_factory=clients)
    collector._stop = _Waits()
    collector.start()
    try:
        with caplog.at_level("ERROR", logger="broker.collector"):
            mids = [clients.client.deliver(TOPICS.up(DEVICE, "play"), play_payload(1, uuid.uuid4()))]
            assert eventually(lambda: clients.client.acked_mids() == mids, 20)
        said = [r.getMessage() for r in caplog.records if r.name == "broker.collector"]
        first = ("(builtins.Exception) " + "x" * 600)[:200]
        assert said == [f"could not commit a batch of 1 messages (OperationalError: {first}); retrying in 0.5s — "
                        "nothing was acknowledged, so nothing is lost"]
    finally:
        collector.stop()
        store.close()


def test_a_collector_stopped_while_the_database_is_away_goes_on_to_no_other_batch(db_url, registry):
    clients = FakeClients()
    tried: list[list[int]] = []

    class Away(GatedStore):
        def write_batch(self, events, *rest):
            tried.append([row["seq"] for row in events.get("play", ())])
            return super().write_batch(events, *rest)

    gate = Away(open_store(db_url), lambda: clients.client, failures=10**6)
    config = CollectorConfig.model_validate({"collector": {"batch_latency_ms": 20}, "database": {"url": db_url}})
    collector = Collector(config, registry, gate, clock=SimClock(NOW), client_factory=clients).start()
    client = clients.client
    try:
        stream = uuid.uuid4()
        client.deliver(TOPICS.up(DEVICE, "play"), play_payload(1, stream))
        assert gate.entered.wait(10)
        client.deliver(TOPICS.up(DEVICE, "play"), play_payload(2, stream))      # the next batch, waiting
    finally:
        collector.stop(timeout=2)
        gate.store.close()
    assert tried and all(seqs == [1] for seqs in tried), tried
    assert client.acked == []


def test_messages_of_an_earlier_connection_are_stored_but_not_acknowledged(db_url, registry):
    # Their packet ids may have been reused by the broker since; it sends them again.
    clients = FakeClients()
    gate = GatedStore(open_store(db_url), lambda: clients.client, hold=True)
    config = CollectorConfig.model_validate({"collector": {"batch_latency_ms": 20}, "database": {"url": db_url}})
    collector = Collector(config, registry, gate, clock=SimClock(NOW), client_factory=clients).start()
    client = clients.client
    try:
        stream = uuid.uuid4()
        client.deliver(TOPICS.up(DEVICE, "play"), play_payload(1, stream))
        assert gate.entered.wait(10)
        client.reconnect()
        gate.release.set()
        assert eventually(lambda: gate.store.count("play") == 1, 10)
        later = client.deliver(TOPICS.up(DEVICE, "play"), play_payload(2, stream))
        assert eventually(lambda: client.acked_mids() == [later], 10)
    finally:
        gate.release.set()
        collector.stop()
        gate.store.close()


# --- the paho adapter ---------------------------------------------------------------------------
def options(**over) -> ClientOptions:
    noop = lambda *a: None  # noqa: E731
    fields = dict(broker=MqttSettings(), client_id="adapter-test", session_expiry_s=60, receive_maximum=100,
                  on_connect=noop, on_refused=noop, on_subscribe=noop, on_disconnect=noop, on_message=noop)
    fields.update(over)
    return ClientOptions(**fields)


@pytest.mark.parametrize("version, known", [("2.0.0", True), ("2.1.0", True), ("2.2.0", True), ("2.3.0", False),
                                            ("3.0.0", False), ("1.6.1", False), ("2.x", False)])
def test_paho_internals_are_used_only_on_releases_they_were_read_for(version, known):
    assert _known_paho(version) is known
    assert (2, 2) in PAHO_INTERNALS


def test_on_a_known_paho_a_batch_of_pubacks_is_one_packet_of_the_acks_bytes():
    client = PahoClient(options(), version="2.2.0")
    queued, one_by_one = [], []
    client._queue_packet = lambda *args: queued.append(args)
    client._client.ack = lambda mid, qos: one_by_one.append((mid, qos))
    client.ack([1, 2, 258], 1)
    assert one_by_one == []
    assert queued == [(mqtt.PUBACK, b"\x40\x02\x00\x01" + b"\x40\x02\x00\x02" + b"\x40\x02\x01\x02", 0, 1)]
    client.ack([7], 2)                       # QoS 2 always through paho's own ack
    assert one_by_one == [(7, 2)]


def test_on_an_unknown_paho_every_message_is_acknowledged_through_the_public_ack():
    client = PahoClient(options(), version="3.0.0")
    assert client._queue_packet is None
    one_by_one = []
    client._client.ack = lambda mid, qos: one_by_one.append((mid, qos))
    client.ack([1, 2, 3], 1)
    assert one_by_one == [(1, 1), (2, 1), (3, 1)]


def test_a_topic_that_is_not_utf8_is_named_not_lost(registry):
    msg = mqtt.MQTTMessage(mid=1, topic=b"ihanoi/v1/dev/\xff/play")
    assert topic_of(msg, "2.2.0") == repr(b"ihanoi/v1/dev/\xff/play")
    assert topic_of(msg, "3.0.0") == "<a topic that is not UTF-8>"
    assert topic_of(mqtt.MQTTMessage(mid=1, topic=b"ihanoi/v1/dev/x/play")) == "ihanoi/v1/dev/x/play"


def test_the_adapter_hands_the_collector_plain_values():
    got = []
    client = PahoClient(options(on_message=lambda *a: got.append(a)))
    msg = mqtt.MQTTMessage(mid=9, topic=b"ihanoi/v1/dev/d/play")
    msg.payload, msg.qos = b"{}", 1
    client._on_message(client._client, None, msg)
    assert got == [("ihanoi/v1/dev/d/play", b"{}", 9, 1)]


def test_receipts_stop_before_paho_runs_out_of_packet_ids_and_go_on_once_acknowledged():
    # paho keeps unacknowledged QoS 1 messages by packet id (1..65,535): past that, a new receipt
    # would take an old one's place. Never connected, nothing is acknowledged: the bound holds.
    client = PahoClient(options(), max_outstanding=3)
    assert [client.publish("ihanoi/v1/cmd/d/stored", b"{}", 1) for _ in range(5)] == [True, True, True, False, False]
    assert client.publish("ihanoi/v1/cmd/d/other", b"{}", 0) is True          # QoS 0 waits for nothing
    client._on_publish(client._client, None, 1, None, None)                  # the broker's PUBACK
    assert client.publish("ihanoi/v1/cmd/d/stored", b"{}", 1) is True
    assert client.publish("ihanoi/v1/cmd/d/stored", b"{}", 1) is False


def test_a_receipt_the_client_cannot_take_is_counted_and_the_events_are_still_stored(db_url, registry):
    collector, client = unit_collector(db_url, registry)
    client.refuse_publish = True
    with running(collector):
        stream = uuid.uuid4()
        mids = [client.deliver(TOPICS.up(DEVICE, "play"), play_payload(i, stream)) for i in range(1, 4)]
        assert eventually(lambda: sorted(client.acked_mids()) == mids, 10)
        assert collector.store.count("play") == 3
        assert client.published == []
        assert collector.metrics.value("ihanoi_collector_receipts_skipped_total") >= 1
        assert collector.metrics.value("ihanoi_collector_receipts_sent_total") == 0
        client.refuse_publish = False
        client.deliver(TOPICS.up(DEVICE, "play"), play_payload(4, stream))
        assert eventually(lambda: len(client.published) == 1, 10)
        assert collector.metrics.value("ihanoi_collector_receipts_sent_total") == 1


def test_every_committed_message_is_counted_by_kind_and_reason(db_url, registry):
    """What the collector received, stored, found twice, quarantined and applied, as its metrics say."""
    collector, client = unit_collector(db_url, registry)
    with running(collector):
        stream = uuid.uuid4()
        mids = [client.deliver(TOPICS.up(DEVICE, "play"), play_payload(seq, stream)) for seq in (1, 2, 2)]
        mids.append(client.deliver(TOPICS.up(DEVICE, "play"), b"{not json"))
        online = protocol.State(device=DEVICE, state="online", since=NOW - timedelta(minutes=1))
        mids.append(client.deliver(TOPICS.up(DEVICE, "state"), online.to_json()))
        assert eventually(lambda: sorted(client.acked_mids()) == sorted(mids), 10)
        value = collector.metrics.value
        assert value("ihanoi_collector_messages_received_total", kind="play") == 4
        assert value("ihanoi_collector_messages_received_total", kind="state") == 1
        assert value("ihanoi_collector_events_stored_total", kind="play") == 2
        assert value("ihanoi_collector_events_duplicate_total", kind="play") == 1
        assert value("ihanoi_collector_messages_quarantined_total", reason="bad-json") == 1
        assert value("ihanoi_collector_states_total") == 1
        assert value("ihanoi_collector_batch_messages_sum") == 5
        batches = value("ihanoi_collector_batch_messages_count")
        assert batches >= 1 and value("ihanoi_collector_batch_commit_seconds_count") == batches
        assert value("ihanoi_collector_commit_failures_total") == 0
        assert collector.store.count("play") == 2
        assert value("ihanoi_collector_pending") == 0                       # every message received is committed


class _Waits(threading.Event):
    """The collector's stop event, whose timed waits return at once and are recorded."""

    def __init__(self):
        super().__init__()
        self.delays: list[float] = []

    def wait(self, timeout=None):
        if timeout is None or self.is_set():
            return super().wait(timeout)
        self.delays.append(timeout)
        return False


def test_a_database_away_is_retried_doubling_the_wait_up_to_ten_seconds_and_said_each_time(db_url, registry,
                                                                                         caplog):
    clients = FakeClients()
    gate = GatedStore(open_store(db_url), lambda: clients.client, failures=7)
    config = CollectorConfig.model_validate({"collector": {"batch_latency_ms": 20}, "database": {"url": db_url}})
    collector = Collector(config, registry, gate, clock=SimClock(NOW), client_factory=clients)
    waits = collector._stop = _Waits()
    collector.start()
    client = clients.client
    try:
        with caplog.at_level("ERROR", logger="broker.collector"):
            mids = [client.deliver(TOPICS.up(DEVICE, "play"), play_payload(1, uuid.uuid4()))]
            assert eventually(lambda: client.acked_mids() == mids, 20)
        assert waits.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
        said = [r.getMessage() for r in caplog.records if r.name == "broker.collector"]
        assert said[0] == ("could not commit a batch of 1 messages (OperationalError: (builtins.Exception) could not "
                           "connect to server: Connection refused); retrying in 0.5s — nothing was acknowledged, so "
                           "nothing is lost")
        assert [line.split("retrying in ")[1].split("s ")[0] for line in said] == [
            "0.5", "1.0", "2.0", "4.0", "8.0", "10.0", "10.0"]
        assert collector.metrics.value("ihanoi_collector_commit_failures_total") == 7
        # the time of the one commit that went through, not of the failed ones (nor a clock reading)
        assert 0 < collector.metrics.value("ihanoi_collector_batch_commit_seconds_sum") < 10
    finally:
        collector.stop()
        gate.store.close()
