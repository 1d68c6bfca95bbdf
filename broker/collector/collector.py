"""The collector's MQTT side: a persistent session on a shared subscription, manual acks.

The MQTT client comes from a factory (``broker.collector.client``; paho unless a test gives
another) and calls ``on_message`` on its network thread; messages go to a queue, a writer
thread validates and commits them in batches (``batch_size`` events or
``batch_latency_ms``, whichever comes first) and only then acknowledges them (PUBACK). A
collector killed mid-batch has acknowledged nothing of it: the broker sends it again and the
store's unique key counts it once. Back-pressure comes for free: the broker sends at most
``receive_maximum`` unacknowledged messages.

Only the database's own troubles (connection, lock, disk: ``database_away``) are retried.
Anything else a commit raises is about the data: the batch is split until the message the
database refuses is alone, and that one is quarantined as ``store-rejected``. So no message
can stall the stream, and a poison message is acknowledged like any other.

``state`` is subscribed without ``$share``: brokers never deliver retained messages on a
shared subscription, and state is a latest-value upsert, so every collector may see it.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from broker.collector.batch import Incoming, Prepared, prepare, printable, quarantine_record, receipt_key
from broker.collector.client import ClientFactory, ClientOptions, paho_client
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


def database_away(exc: BaseException) -> bool:
    """Whether a failed commit is the database's own trouble (connection, lock, disk, pool),
    to be retried as it is; anything else is about the batch's data."""
    return isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, OSError))


class Collector:
    def __init__(self, config: CollectorConfig, registry, store: Store, clock: Clock | None = None,
                 metrics: CollectorMetrics | None = None, client_factory: ClientFactory = paho_client):
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
        c = config.collector
        self._client = client_factory(ClientOptions(
            broker=config.broker, client_id=c.client_id, session_expiry_s=c.session_expiry_s,
            receive_maximum=c.receive_maximum, on_connect=self._on_connect, on_refused=self._on_refused,
            on_subscribe=self._on_subscribe, on_disconnect=self._on_disconnect, on_message=self._on_message))

    # --- MQTT (called on the client's network thread) ------------------------------------------
    def subscriptions(self) -> list[tuple[str, int]]:
        group = self.config.collector.share_group
        subs = [(f"$share/{group}/{self.topics.subscription(kind)}", 1) for kind in SHARED_KINDS]
        return subs + [(self.topics.subscription("state"), 1)]

    def _on_refused(self, reason: str) -> None:
        log.error("broker %s:%s refused the connection: %s", self.config.broker.host, self.config.broker.port, reason)

    def _on_connect(self, session_present: bool) -> None:
        self._generation += 1
        # Subscribed again on every connection, even when the session was resumed: Mosquitto
        # 2.0 does not restore a $share subscription from its persistence file.
        self._client.subscribe(self.subscriptions())
        log.info("connected to %s:%s as %s (session %s)", self.config.broker.host, self.config.broker.port,
                 self.config.collector.client_id, "resumed" if session_present else "new")

    def _on_subscribe(self, refused: list[str]) -> None:
        if refused:
            log.error("the broker refused the subscriptions (%s): check its ACL for %s", ", ".join(refused),
                      self.config.broker.username or self.config.collector.client_id)
            return
        self.connections += 1
        self._connected.set()
        self.metrics.connected.set(1)

    def _on_disconnect(self, reason: str) -> None:
        self._connected.clear()
        self.metrics.connected.set(0)
        if not self._stop.is_set():
            log.warning("lost the broker (%s); reconnecting", reason)

    def _on_message(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        self._arrived += 1            # before the put: the writer may commit it at once
        self._queue.put(Incoming(topic, payload, mid, qos, self._generation))

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Collector":
        self._stop.clear()
        self._writer = threading.Thread(target=self._write_loop, name="collector-writer", daemon=True)
        self._writer.start()
        self._client.start()
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
        self._client.stop()
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

        False when the collector was stopped before the batch could be committed (nothing of
        it acknowledged). A batch the database refuses for its data (a value out of a column's
        range, a byte it cannot hold, anything but ``database_away``) is split in halves until
        the message it refuses is alone; that one is quarantined as ``store-rejected`` and the
        rest are stored. Nothing else of the stream waits on it."""
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
            except Exception as exc:      # noqa: BLE001 - sorted below: the database's trouble or the data's
                # Refused for its data, unless the refused message's quarantine record was:
                # that is retried like a database that is away.
                if not database_away(exc) and STORE_REJECTED not in prepared.rejected:
                    if len(batch) > 1:
                        half = len(batch) // 2
                        return self._commit(batch[:half]) and self._commit(batch[half:])
                    prepared, seen = self._refused_by_store(batch[0], prepared, exc, now), []
                    continue
                self.metrics.commit_failures.inc()
                log.error("could not commit a batch of %d messages (%s: %s); retrying in %.1fs — nothing was "
                          "acknowledged, so nothing is lost", len(batch), exc.__class__.__name__,
                          printable(str(exc).split("\n", 1)[0], 200), delay)
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, 10.0)
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        for row in seen:
            self._seen_written[row["device"]] = now
        self.metrics.batch_size.observe(len(batch))
        self._ack(batch)
        self._send_receipts(prepared)
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

    def _ack(self, batch: list[Incoming]) -> None:
        """Acknowledge a committed batch (the client sends a batch's PUBACKs in one write).

        Acks for messages of an earlier connection would name packet ids the broker has since
        reused; those messages are redelivered and counted once by the store."""
        generation = self._generation
        for qos in (1, 2):
            self._client.ack([item.mid for item in batch if item.qos == qos and item.generation == generation], qos)

    def _send_receipts(self, prepared: Prepared) -> None:
        """Tell each board which of its events are now in the store (or in quarantine): it
        forgets them only then, so events a broker loses in a power cut are sent again."""
        if not self.config.collector.receipts:
            return
        for (device, stream), seqs in prepared.receipts.items():
            ranges = protocol.seq_ranges(seqs)
            for at in range(0, len(ranges), protocol.MAX_RECEIPT_RANGES):
                try:
                    receipt = protocol.Stored(device=device, stream=stream,
                                              seqs=ranges[at:at + protocol.MAX_RECEIPT_RANGES])
                    taken = self._client.publish(self.topics.receipt(device), protocol.encode(receipt), 1)
                except Exception:       # noqa: BLE001 - a receipt is a courtesy; the writer must live on
                    log.exception("could not send %s a receipt; it will send those events again", device)
                    continue
                if taken is False:
                    # Too many receipts wait for the broker (a backlog drained faster than they go
                    # out): this board sends these events again after its receipt timeout, and the
                    # store's key makes that harmless; the next receipt covers them then.
                    self.metrics.receipts_skipped.inc()
                    continue
                self.metrics.receipts.inc()

    def _refused_by_store(self, item: Incoming, prepared: Prepared, exc: Exception, now: datetime) -> Prepared:
        """What to commit instead of ``prepared`` (of the one message ``item``): its quarantine record."""
        first_line = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]
        detail = f"{exc.__class__.__name__}: {first_line}"
        if STORE_REJECTED not in self._logged_reasons:
            self._logged_reasons.add(STORE_REJECTED)
            log.warning("the database refused a message on %s: %s (further %r messages are counted, "
                        "not logged)", printable(item.topic, 200), printable(detail), STORE_REJECTED)
        key = receipt_key(item, self.topics)
        return Prepared(events={}, received=prepared.received, rejected={STORE_REJECTED: 1},
                        quarantined=[quarantine_record(item, STORE_REJECTED, detail, now)],
                        receipts={key[:2]: {key[2]}} if key else {})
