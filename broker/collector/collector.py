"""The collector's MQTT side: a persistent session on a shared subscription, manual acks.

paho calls ``on_message`` on its network thread; messages go to a queue, a writer thread
validates and commits them in batches (``batch_size`` events or ``batch_latency_ms``,
whichever comes first) and only then acknowledges them (PUBACK). A collector killed
mid-batch has acknowledged nothing of it: the broker sends it again and the store's unique
key counts it once. Back-pressure comes for free: the broker sends at most
``receive_maximum`` unacknowledged messages.

``state`` is subscribed without ``$share``: brokers never deliver retained messages on a
shared subscription, and state is a latest-value upsert, so every collector may see it.
"""

from __future__ import annotations

import logging
import queue
import signal
import struct
import threading
import time
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from broker.collector.batch import Incoming, Prepared, prepare
from broker.collector.config import CollectorConfig
from broker.collector.metrics import CollectorMetrics
from broker.store import Store
from ihanoi.contract import protocol
from ihanoi.contract.clock import Clock, RealClock

log = logging.getLogger("broker.collector")

SHARED_KINDS = ("play", "traffic", "health")
# "Last seen" is written at most this often per device: during a backlog drain every batch
# holds most devices, and an upsert per device per batch would double the database's work.
SEEN_RESOLUTION = timedelta(seconds=30)
STORE_REJECTED = "store-rejected"   # valid by the protocol, refused by the database
_PUBACK = struct.Struct("!BBH")     # MQTT PUBACK: type 0x40, remaining length 2, packet id


class Collector:
    def __init__(self, config: CollectorConfig, registry, store: Store, clock: Clock | None = None,
                 metrics: CollectorMetrics | None = None):
        self.config = config
        self.registry = registry
        self.store = store
        self.clock = clock or RealClock()
        self.metrics = metrics or CollectorMetrics()
        self.topics = protocol.Topics(config.collector.topic_prefix)
        self._queue: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._seen_written: dict[str, datetime] = {}
        self._connected = threading.Event()
        self._generation = 0
        self.connections = 0          # connections that got as far as subscribing
        self._logged_reasons: set[str] = set()
        self._writer: threading.Thread | None = None
        # Counted with plain integers (one writer each) and read by the gauge when scraped:
        # a gauge's lock per message costs the network thread more than the count is worth.
        self._arrived = 0
        self._settled = 0
        self.metrics.pending.set_function(lambda: self._arrived - self._settled)
        self._client = self._make_client()

    # --- MQTT ---------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        b, c = self.config.broker, self.config.collector
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=c.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if b.username:
            client.username_pw_set(b.username, b.password())
        if b.tls:
            client.tls_set(ca_certs=str(b.tls.ca_file),
                           certfile=str(b.tls.cert_file) if b.tls.cert_file else None,
                           keyfile=str(b.tls.key_file) if b.tls.key_file else None)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def subscriptions(self) -> list[tuple[str, int]]:
        group = self.config.collector.share_group
        subs = [(f"$share/{group}/{self.topics.subscription(kind)}", 1) for kind in SHARED_KINDS]
        return subs + [(self.topics.subscription("state"), 1)]

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker %s:%s refused the connection: %s", self.config.broker.host,
                      self.config.broker.port, reason_code)
            return
        self._generation += 1
        # Subscribed again on every connection, even when the session was resumed: Mosquitto
        # 2.0 does not restore a $share subscription from its persistence file.
        client.subscribe(self.subscriptions())
        log.info("connected to %s:%s as %s (session %s)", self.config.broker.host, self.config.broker.port,
                 self.config.collector.client_id, "resumed" if flags.session_present else "new")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("the broker refused the subscriptions (%s): check its ACL for %s", ", ".join(refused),
                      self.config.broker.username or self.config.collector.client_id)
            return
        self.connections += 1
        self._connected.set()
        self.metrics.connected.set(1)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._connected.clear()
        self.metrics.connected.set(0)
        if not self._stop.is_set():
            log.warning("lost the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage):
        try:
            topic = msg.topic
        except Exception:  # a topic that is not UTF-8 (the broker should have refused it)
            topic = repr(msg._topic)
        self._arrived += 1            # before the put: the writer may commit it at once
        self._queue.put(Incoming(topic, msg.payload, msg.mid, msg.qos, self._generation))

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Collector":
        b, c = self.config.broker, self.config.collector
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = c.session_expiry_s
        props.ReceiveMaximum = c.receive_maximum
        self._stop.clear()
        self._writer = threading.Thread(target=self._write_loop, name="collector-writer", daemon=True)
        self._writer.start()
        self._client.connect_async(b.host, b.port, keepalive=b.keepalive, clean_start=False, properties=props)
        self._client.loop_start()
        return self

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once connected and subscribed."""
        return self._connected.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Commit and acknowledge what has arrived, then leave (the session stays on the broker).

        What is not committed within ``timeout`` is left unacknowledged: the broker keeps it
        for the next start."""
        self._stop.set()
        if self._writer:
            self._writer.join(timeout)
            if self._writer.is_alive():
                self._abandon.set()
                self._writer.join(30)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def run_forever(self) -> None:
        """For the service: until SIGTERM or SIGINT."""
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        while not done.wait(1.0):
            if self._writer and not self._writer.is_alive():
                raise RuntimeError("the collector's writer thread died; see the log above")
        log.info("stopping: committing what has arrived")
        self.stop()

    def _ack(self, mids: list[int]) -> None:
        """PUBACK every QoS 1 message of a committed batch, in one write to the socket.

        ``client.ack`` queues one packet per message and wakes paho's network thread for
        each: a thousand wake-ups and socket writes per batch, on the interpreter that also
        reads the next messages. The PUBACKs are the same bytes ``ack`` would send (no reason
        code or properties: "success"), handed to paho's packet queue as one packet."""
        if not mids:
            return
        queue_packet = getattr(self._client, "_packet_queue", None)
        if queue_packet is None:        # a paho without it: one packet per message
            for mid in mids:
                self._client.ack(mid, 1)
            return
        pack = _PUBACK.pack
        queue_packet(mqtt.PUBACK, b"".join([pack(mqtt.PUBACK, 2, mid) for mid in mids]), 0, 1)

    # --- the writer ---------------------------------------------------------------------------
    def _take_batch(self) -> list[Incoming]:
        c = self.config.collector
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + c.batch_latency_ms / 1000
        while len(batch) < c.batch_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.is_set():
                break
            try:
                batch.append(self._queue.get(timeout=min(left, 0.05)))
            except queue.Empty:
                continue
        return batch

    def _write_loop(self) -> None:
        while not self._abandon.is_set():
            batch = self._take_batch()
            if batch:
                if not self._commit(batch):
                    return
                continue
            if self._stop.is_set():
                return

    def _commit(self, batch: list[Incoming]) -> bool:
        """Commit one batch, retrying while the database is away; then acknowledge it.

        A batch the database refuses for its data (a value out of a column's range, say) is
        split in halves until the message it refuses is alone; that one is quarantined as
        ``store-rejected`` and the rest are stored. Nothing else of the stream waits on it."""
        now = self.clock.now()
        prepared = prepare(batch, self.topics, self.registry, now, self._logged_reasons)
        due = now - SEEN_RESOLUTION
        never = datetime.min.replace(tzinfo=now.tzinfo)
        seen = [row for device, row in prepared.seen.items() if self._seen_written.get(device, never) <= due]
        delay = 0.5
        while True:
            started = time.perf_counter()
            try:
                result = self.store.write_batch(prepared.events, prepared.quarantined,
                                                seen,
                                                list(prepared.health_states.values()),
                                                list(prepared.states.values()))
                break
            except SQLAlchemyError as exc:
                # Refused for its data, unless the refused message's quarantine record was:
                # that is retried like a database that is away.
                if isinstance(exc, (DataError, IntegrityError)) and STORE_REJECTED not in prepared.rejected:
                    if len(batch) > 1:
                        half = len(batch) // 2
                        return self._commit(batch[:half]) and self._commit(batch[half:])
                    prepared, seen = self._refused_by_store(batch[0], prepared, exc, now), []
                    continue
                self.metrics.commit_failures.inc()
                log.error("could not commit a batch of %d messages (%s); retrying in %.1fs — nothing was "
                          "acknowledged, so nothing is lost", len(batch), exc.__class__.__name__, delay)
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, 10.0)
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        for row in seen:
            self._seen_written[row["device"]] = now
        self.metrics.batch_size.observe(len(batch))
        generation = self._generation
        # Acks for messages of an earlier connection would name packet ids the broker has
        # since reused; those messages are redelivered and counted once by the store.
        self._ack([item.mid for item in batch if item.qos == 1 and item.generation == generation])
        for item in batch:
            if item.qos == 2 and item.generation == generation:
                self._client.ack(item.mid, item.qos)
        m = self.metrics
        self._settled += len(batch)
        for kind, n in prepared.received.items():
            m.received.labels(kind).inc(n)
        for kind, n in result.stored.items():
            m.stored.labels(kind).inc(n)
        for kind, n in result.duplicates.items():
            m.duplicates.labels(kind).inc(n)
        for reason, n in prepared.rejected.items():
            m.quarantined.labels(reason).inc(n)
        if prepared.states:
            m.states.inc(len(prepared.states))
        return True

    def _refused_by_store(self, item: Incoming, prepared: Prepared, exc: Exception, now: datetime) -> Prepared:
        """What to commit instead of ``prepared`` (of the one message ``item``): its quarantine record."""
        first_line = (str(getattr(exc, "orig", exc)).splitlines() or [""])[0].replace("\x00", "\\x00")
        detail = f"{exc.__class__.__name__}: {first_line}"[:500]
        if STORE_REJECTED not in self._logged_reasons:
            self._logged_reasons.add(STORE_REJECTED)
            log.warning("the database refused a message on %s: %s (further %r messages are counted, "
                        "not logged)", item.topic, detail, STORE_REJECTED)
        return Prepared(events={}, received=prepared.received, rejected={STORE_REJECTED: 1},
                        quarantined=[{"received_at": now, "topic": item.topic, "payload": bytes(item.payload),
                                      "reason": STORE_REJECTED, "detail": detail}])
