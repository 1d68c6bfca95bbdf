"""The collector's MQTT client seam: what the collector needs of a client, and paho behind it.

Like Telegraf's ``mqtt_consumer`` (a ``ClientFactory`` builds the client from options), the
collector is handed a factory: ``paho_client`` in service, a client of the test's own in unit
tests, so the collector's logic runs without a broker while its integration tests keep a real
Mosquitto. The callbacks carry plain values, not paho's types.

This is also the one module that touches paho's private parts, each behind a version check
with the public way as the fallback:

- ``Client._packet_queue``: a batch's PUBACKs handed over as one packet (``ack()`` wakes the
  network thread and writes to the socket once per message);
- ``MQTTMessage._topic``: the raw bytes of a topic that is not UTF-8 (``msg.topic`` raises),
  so that such a message can still be quarantined under a readable name.
"""

from __future__ import annotations

import inspect
import logging
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from broker.collector.config import MqttSettings

log = logging.getLogger("broker.collector")

# paho releases whose private parts above were read and tested; others get the public way.
PAHO_INTERNALS = ((2, 0), (2, 1), (2, 2))
_PUBACK = struct.Struct("!BBH")     # MQTT PUBACK: type 0x40, remaining length 2, packet id
# paho numbers a client's outgoing QoS 1 messages 1..65,535 and keeps them by that number until
# their PUBACK: with more waiting, a new one takes an old one's place and the old is never sent.
# The collector's receipts stop well before that (a receipt not sent is a resend, not a loss).
MAX_OUTSTANDING = 20_000


@dataclass(frozen=True)
class ClientOptions:
    """Everything a client needs to be built: where to connect, as whom, and whom to call."""

    broker: MqttSettings
    client_id: str
    session_expiry_s: int
    receive_maximum: int
    on_connect: Callable[[bool], None]                    # session_present
    on_refused: Callable[[str], None]                     # the broker's reason
    on_subscribe: Callable[[list[str]], None]             # refused subscriptions' reasons (empty: all granted)
    on_disconnect: Callable[[str], None]                  # reason
    on_message: Callable[[str, bytes, int, int], None]    # topic, payload, packet id, QoS


class CollectorClient(Protocol):
    """An MQTT v5 client with a persistent session and manual acknowledgements."""

    def start(self) -> None:
        """Connect in the background (clean_start false) and keep reconnecting."""

    def subscribe(self, subscriptions: list[tuple[str, int]]) -> None: ...

    def ack(self, mids: Sequence[int], qos: int) -> None:
        """Acknowledge received messages (PUBACK for QoS 1, PUBCOMP for QoS 2)."""

    def publish(self, topic: str, payload: bytes, qos: int) -> bool:
        """Send a message (the boards' receipts); paho queues it while the connection is down.
        False when it was not taken: too many QoS 1 messages wait for the broker's PUBACK."""

    def stop(self) -> None:
        """Disconnect (the session stays on the broker) and stop the network thread."""


ClientFactory = Callable[[ClientOptions], CollectorClient]


def _known_paho(version: str = paho.mqtt.__version__) -> bool:
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return major_minor in PAHO_INTERNALS


def _queue_of(client: mqtt.Client, version: str) -> Callable | None:
    """paho's ``_packet_queue(command, packet, mid, qos)`` where this release has it as read."""
    queue = getattr(client, "_packet_queue", None)
    if queue is None or not _known_paho(version):
        return None
    try:
        params = list(inspect.signature(queue).parameters)
    except (TypeError, ValueError):
        return None
    return queue if params[:4] == ["command", "packet", "mid", "qos"] else None


def topic_of(msg: mqtt.MQTTMessage, version: str = paho.mqtt.__version__) -> str:
    """The message's topic; for one that is not UTF-8 (the broker should have refused it),
    its bytes written out, so it is quarantined as a bad topic rather than lost."""
    try:
        return msg.topic
    except UnicodeDecodeError:
        raw = getattr(msg, "_topic", None) if _known_paho(version) else None
        return repr(raw) if isinstance(raw, bytes) else "<a topic that is not UTF-8>"


class PahoClient:
    """``CollectorClient`` on paho-mqtt 2.x (``CallbackAPIVersion.VERSION2``, MQTT v5)."""

    def __init__(self, options: ClientOptions, version: str = paho.mqtt.__version__,
                 max_outstanding: int = MAX_OUTSTANDING):
        self.options = options
        self._version = version
        self.max_outstanding = max_outstanding
        self._outstanding = 0           # QoS 1 messages published and not yet acknowledged by the broker
        self._outstanding_lock = threading.Lock()
        b = options.broker
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=options.client_id,
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
        client.on_publish = self._on_publish
        self._client = client
        self._queue_packet = _queue_of(client, version)
        if self._queue_packet is None:
            log.info("paho-mqtt %s: acknowledging one message at a time (the batched PUBACK is read "
                     "for paho %s)", version, ", ".join(f"{a}.{b}" for a, b in PAHO_INTERNALS))

    # paho's callbacks, on its network thread
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.options.on_refused(str(reason_code))
        else:
            self.options.on_connect(bool(flags.session_present))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.options.on_subscribe([str(rc) for rc in reason_codes if rc.is_failure])

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.options.on_disconnect(str(reason_code))

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._outstanding_lock:
            self._outstanding = max(0, self._outstanding - 1)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage):
        self.options.on_message(topic_of(msg, self._version), msg.payload, msg.mid, msg.qos)

    # the collector's side
    def start(self) -> None:
        b, o = self.options.broker, self.options
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = o.session_expiry_s
        props.ReceiveMaximum = o.receive_maximum
        self._client.connect_async(b.host, b.port, keepalive=b.keepalive, clean_start=False, properties=props)
        self._client.loop_start()

    def subscribe(self, subscriptions: list[tuple[str, int]]) -> None:
        self._client.subscribe(subscriptions)

    def ack(self, mids: Sequence[int], qos: int) -> None:
        """QoS 1: the PUBACKs of a whole batch in one write to the socket, the same bytes
        ``ack()`` would send (no reason code or properties: "success")."""
        if not mids:
            return
        if qos == 1 and self._queue_packet is not None:
            pack = _PUBACK.pack
            self._queue_packet(mqtt.PUBACK, b"".join([pack(mqtt.PUBACK, 2, mid) for mid in mids]), 0, 1)
            return
        for mid in mids:
            self._client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes, qos: int) -> bool:
        with self._outstanding_lock:
            if qos and self._outstanding >= self.max_outstanding:
                return False
            if qos:
                self._outstanding += 1
        self._client.publish(topic, payload, qos=qos)
        return True

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def paho_client(options: ClientOptions) -> CollectorClient:
    """The factory the collector uses unless it is given another."""
    return PahoClient(options)
