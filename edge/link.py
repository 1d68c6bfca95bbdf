"""The MQTT link: sends the outbox to the broker and keeps the device's presence there.

paho-mqtt 2.x (``CallbackAPIVersion.VERSION2``), MQTT v5, QoS 1. A sender thread hands paho
at most ``window`` events at a time (paho's message ids are 16-bit, so never more than
65,535 unacknowledged). paho re-sends what was in flight after a reconnect; the outbox
re-sends it after a restart.

When is an event done? With ``receipts="collector"`` (the district's setting) only when the
collector's receipt (``cmd/{device}/stored``, ``protocol.Stored``) says it is in the central
store: the broker's PUBACK only marks it handed over, and an event without a receipt
``receipt_timeout`` seconds after its PUBACK is sent again (the collector counts it once). A
broker that dies outright (power cut) loses the events it had not saved; the boards still have
them. With ``receipts="broker"`` the PUBACK deletes the row (a lone board without a collector). The retained ``state``
topic says ``online`` on connect and the broker publishes the last will (``offline``) when
the connection is lost. The link only carries messages: what goes into them (health, play
events) is assembled by their owners (``edge.health``, ``edge.plays``) and committed to the
outbox.

The MQTT client is made by ``client_factory(client_id)`` (paho's by default): tests of the
link's own rules run against a stand-in client, the integration tests against Mosquitto.
"""

from __future__ import annotations

import collections
import logging
import ssl
import threading
import time
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edge import __version__
from edge.config import MqttSettings
from edge.outbox import Outbox
from ihanoi.contract import protocol
from ihanoi.contract.clock import Clock, RealClock

log = logging.getLogger(__name__)

ACK_FLUSH_SECONDS = 0.05   # acks are deleted in batches: one fsync for many events
# MQTT v5 PUBACK reason 16: the broker took the event but nobody was subscribed to hear it (the
# broker lost the collector's session, e.g. after a crash). Such an event is kept and sent again.
NO_MATCHING_SUBSCRIBERS = 16
UNHEARD_RETRY_MIN_S, UNHEARD_RETRY_MAX_S = 2.0, 60.0


def paho_client(client_id: str) -> mqtt.Client:
    """The real client: paho-mqtt 2.x, callback API version 2, MQTT v5."""
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)


class Link:
    def __init__(self, device: str, broker: MqttSettings, outbox: Outbox, clock: Clock | None = None,
                 password: str | None = None, window: int = 200,
                 status: Callable[[], dict[str, Any]] | None = None,
                 on_command: Callable[[str, bytes, bool], None] | None = None, unit: str | None = None,
                 client_factory: Callable[[str], mqtt.Client] = paho_client, receipts: str = "broker",
                 receipt_timeout: float = 120.0):
        """``status()`` gives the retained state message its ``content_version``."""
        if not 1 <= window <= 65_535:
            raise ValueError(f"window {window} must be 1..65535: paho's message ids are 16-bit")
        if receipts not in ("broker", "collector"):
            raise ValueError(f"receipts={receipts!r}: 'collector' (the store's receipt) or 'broker' (PUBACK)")
        self.receipts = receipts
        self.receipt_timeout = receipt_timeout
        self.device = device
        self.unit = unit
        self.settings = broker
        self.outbox = outbox
        self.clock = clock or RealClock()
        self.window = window
        self.status = status or (lambda: {})
        self.on_command = on_command
        self.topics = protocol.Topics(broker.topic_prefix)
        self.connected = threading.Event()
        self.subscribed = threading.Event()          # the broker confirmed the command subscriptions
        self._subscribe_mid: int | None = None
        self.last_error: str | None = None
        self.sent = 0
        self.acked = 0
        self.max_inflight_seen = 0
        self._failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acks: collections.deque[tuple[int, int, str]] = collections.deque()
        self._unheard: list[int] = []                 # rows to send again once someone listens
        self._unheard_due = 0.0
        self._unheard_delay = UNHEARD_RETRY_MIN_S
        self.unheard = 0
        self._awaiting: dict[int, tuple[int, float]] = {}   # row id -> (seq, when its PUBACK came)
        self._receipts: collections.deque[protocol.Stored] = collections.deque()
        self.receipts_heard = 0
        self.resent = 0
        self._inflight: dict[int, int] = {}          # paho mid -> outbox row id
        self._seq_of: dict[int, int] = {}            # outbox row id -> its seq, while in flight
        self._last_sent_id = 0
        self._thread: threading.Thread | None = None
        self._client = self._make_client(client_factory, password)
        outbox._on_change = self._wake.set

    # --- paho set-up ------------------------------------------------------------------------
    def _make_client(self, factory: Callable[[str], mqtt.Client], password: str | None) -> mqtt.Client:
        s = self.settings
        client = factory(f"edge-{self.device}")
        client.username_pw_set(s.username or self.device, password)
        if s.tls:
            client.tls_set(ca_certs=str(s.ca_file) if s.ca_file else None,
                           certfile=str(s.cert_file) if s.cert_file else None,
                           keyfile=str(s.key_file) if s.key_file else None,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.max_inflight_messages_set(self.window)
        client.reconnect_delay_set(min_delay=max(1, int(s.reconnect_min_s)), max_delay=max(1, int(s.reconnect_max_s)))
        client.will_set(self.topics.up(self.device, "state"), self._state("offline", "lost"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _state(self, state: str, reason: str) -> bytes:
        status = self.status()
        return protocol.encode(protocol.State(device=self.device, state=state, since=self.clock.now(), reason=reason,
                                              software_version=__version__,
                                              content_version=status.get("content_version"),
                                              screen_fault=status.get("screen_fault")))

    # --- paho callbacks (network thread: keep them short, never block on our locks) ---------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.last_error = f"broker {self.settings.host}:{self.settings.port} refused the connection: {reason_code}"
            log.error("%s (user %r)", self.last_error, self.settings.username or self.device)
            return
        self.last_error = None
        self._failures = 0
        log.info("connected to %s:%d", self.settings.host, self.settings.port)
        client.publish(self.topics.up(self.device, "state"), self._state("online", "connected"), qos=1, retain=True)
        subs = []
        if self.on_command:
            subs.append((self.topics.cmd(self.device, "#"), 1))
            if self.unit:
                subs.append((self.topics.unit_cmd(self.unit, "#"), 1))
        elif self.receipts == "collector":
            subs.append((self.topics.receipt(self.device), 1))
        if subs:
            self._subscribe_mid = client.subscribe(subs)[1]
        self.connected.set()
        self._wake.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if mid != self._subscribe_mid:
            return
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            self.last_error = f"the broker refused the command subscriptions: {', '.join(refused)}"
            log.error("%s (check the ACL for %s)", self.last_error, self.settings.username or self.device)
        else:
            self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        was_connected = self.connected.is_set()
        self.connected.clear()
        self.subscribed.clear()
        if was_connected and not self._stop.is_set():
            self.last_error = f"connection to {self.settings.host}:{self.settings.port} lost: {reason_code}"
            log.warning("%s; reconnecting with back-off", self.last_error)

    def _on_connect_fail(self, client, userdata):
        self._failures += 1
        self.last_error = f"cannot reach the broker at {self.settings.host}:{self.settings.port}"
        if self._failures in (1, 10) or self._failures % 100 == 0:
            log.warning("%s (attempt %d); events wait in the outbox (%d)", self.last_error, self._failures,
                        self.outbox.depth())

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self._acks.append((mid, reason_code.value, str(reason_code)))
        self._wake.set()

    def _on_message(self, client, userdata, message):
        if message.topic == self.topics.receipt(self.device):
            self._on_receipt(message.payload)
            return
        if self.on_command:
            try:
                self.on_command(message.topic, message.payload, bool(message.retain))
            except Exception:
                log.exception("command on %s failed", message.topic)

    def _on_receipt(self, payload: bytes) -> None:
        try:
            receipt = protocol.Stored.model_validate_json(payload)
        except ValueError as exc:
            log.warning("ignored a malformed receipt on %s: %s", self.topics.receipt(self.device), exc)
            return
        if receipt.device == self.device:
            self._receipts.append(receipt)
            self._wake.set()

    # --- the sender thread ------------------------------------------------------------------
    def start(self) -> "Link":
        s = self.settings
        self._client.connect_async(s.host, s.port, keepalive=s.keepalive, clean_start=True)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        pending_acks: list[int] = []
        last_flush = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            heard = False
            while self._acks:
                mid, code, reason = self._acks.popleft()
                row = self._inflight.pop(mid, None)
                if row is None:
                    continue
                if code >= 0x80:
                    log.error("broker refused event row %d: %s; kept aside in the outbox", row, reason)
                    self.outbox.reject(row, reason)
                elif code == NO_MATCHING_SUBSCRIBERS:
                    self._unheard.append(row)
                    self.unheard += 1
                else:
                    pending_acks.append(row)
                    heard = True
            now = time.monotonic()
            self._schedule_unheard(now, heard)
            if pending_acks and (now - last_flush >= ACK_FLUSH_SECONDS or len(pending_acks) >= self.window):
                self._puback(pending_acks, now)
                pending_acks = []
                last_flush = now
            elif pending_acks:
                self._wake.set()
            self._take_receipts()
            if self.connected.is_set():
                self._fill_window()
        if pending_acks:
            self._puback(pending_acks, time.monotonic())

    def _puback(self, rows: list[int], now: float) -> None:
        """The broker has these rows: done (``receipts="broker"``), or waiting for the store's receipt."""
        self.acked += len(rows)
        if self.receipts == "broker":
            self.outbox.ack(rows)
            return
        self.outbox.handed(rows)
        for row in rows:
            self._awaiting[row] = (self._seq_of.pop(row, 0), now)

    def _take_receipts(self) -> None:
        while self._receipts:
            receipt = self._receipts.popleft()
            self.receipts_heard += 1
            if str(receipt.stream) != str(self.outbox.stream):
                log.warning("ignored a receipt for stream %s: this board's outbox is %s", receipt.stream,
                            self.outbox.stream)
                continue
            self.outbox.confirm(receipt.stream, receipt.seqs)
            done = [row for row, (seq, _t) in self._awaiting.items()
                    if any(a <= seq <= b for a, b in receipt.seqs)]
            for row in done:
                del self._awaiting[row]

    def _overdue(self, now: float, room: int) -> list[int]:
        """Rows whose receipt has not come ``receipt_timeout`` after their PUBACK: to send again."""
        if not self._awaiting:
            return []
        late = [row for row, (_seq, t) in self._awaiting.items() if now - t >= self.receipt_timeout][:room]
        for row in late:
            del self._awaiting[row]
        return late

    def _schedule_unheard(self, now: float, heard: bool) -> None:
        if heard:
            self._unheard_delay = UNHEARD_RETRY_MIN_S
        if self._unheard and not self._unheard_due:
            self._unheard_due = now + self._unheard_delay
            log.warning("%d event(s) reached the broker while no collector was subscribed; sending them again "
                        "in %.0f s", len(self._unheard), self._unheard_delay)
            self._unheard_delay = min(UNHEARD_RETRY_MAX_S, self._unheard_delay * 2)

    def _fill_window(self) -> None:
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        overdue = self._overdue(time.monotonic(), room)
        if overdue:
            rows = self.outbox.get(overdue)
            self.resent += len(rows)
            if rows:
                log.info("%d event(s) without the collector's receipt after %.0f s: sending them again",
                         len(rows), self.receipt_timeout)
        elif self._unheard and self._unheard_due and time.monotonic() >= self._unheard_due:
            again, self._unheard = self._unheard[:room], self._unheard[room:]
            self._unheard_due = 0.0
            rows = self.outbox.get(again)
        else:
            rows = self.outbox.pending(self._last_sent_id, room)
        for row in rows:
            info = self._client.publish(self.topics.up(self.device, row.kind), row.payload, qos=1)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning("paho refused event seq %d: %s; will retry", row.seq, mqtt.error_string(info.rc))
                break
            # NO_CONN: paho keeps the message and sends it on reconnect, like any in-flight one.
            self._inflight[info.mid] = row.id
            self._seq_of[row.id] = row.seq
            self._last_sent_id = max(self._last_sent_id, row.id)
            self.sent += 1
        self.max_inflight_seen = max(self.max_inflight_seen, len(self._inflight))

    # --- for callers ------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The link's own counters, for health."""
        figures = {"link_sent": self.sent, "link_acked": self.acked, "unheard": self.unheard}
        if self.receipts == "collector":
            figures.update(awaiting_receipt=len(self._awaiting), receipts=self.receipts_heard, resent=self.resent)
        if self.last_error:
            figures["link_error"] = self.last_error
        return figures

    def publish_state(self) -> None:
        """Re-announce ``online`` with the current status (e.g. a new content version)."""
        if self.connected.is_set():
            self._client.publish(self.topics.up(self.device, "state"), self._state("online", "connected"),
                                 qos=1, retain=True)

    def publish_direct(self, kind: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Messages that are not events (snapshots, command results): sent now or not at all."""
        self._client.publish(self.topics.up(self.device, kind), payload, qos=qos, retain=retain)

    def wait_handed(self, timeout: float) -> bool:
        """True once the broker has every event (PUBACK), receipts or not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.not_handed() == 0 and not self._inflight and not self._unheard:
                return True
            time.sleep(0.02)
        return False

    def wait_drained(self, timeout: float) -> bool:
        """True once the outbox is empty (every event has its receipt)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.depth() == 0 and not self._inflight and not self._unheard:
                return True
            time.sleep(0.02)
        return False

    def stop(self, flush_timeout: float = 5.0) -> None:
        """Try to hand every event to the broker, say ``offline`` (shutdown), disconnect.
        Events without their receipt stay in the outbox and are sent again at the next start."""
        if self.connected.is_set() and flush_timeout > 0:
            self.wait_handed(flush_timeout)
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(5)
        if self.connected.is_set():
            info = self._client.publish(self.topics.up(self.device, "state"), self._state("offline", "shutdown"),
                                        qos=1, retain=True)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
