"""A stand-in for paho's client, for tests of the link's own rules without a broker.

It records what the link publishes and lets the test play the broker's part: connect, and
answer each publish with a PUBACK reason code (paho's own ``ReasonCode`` objects), in any
order. The integration tests (tests/test_link.py) run the same link against Mosquitto.
"""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode


class Info:
    """What ``publish`` returns: the message id and paho's result code."""

    def __init__(self, mid: int, rc):
        self.mid, self.rc = mid, rc

    def wait_for_publish(self, timeout=None):
        pass


class StandInClient:
    def __init__(self, client_id: str):
        self.client_id = client_id
        self.published: dict[int, tuple[str, bytes, int, bool]] = {}    # mid -> message, in flight
        self.all_published: list[tuple[str, bytes]] = []
        self.subscriptions: list = []
        self.connected = False
        self._mid = 0
        self._lock = threading.Lock()
        self.on_connect = self.on_disconnect = self.on_connect_fail = self.on_publish = self.on_message = None
        self.on_subscribe = None

    # --- the surface the link uses -------------------------------------------------------------
    def username_pw_set(self, username, password=None):
        self.username = username

    def tls_set(self, **kw):
        pass

    def max_inflight_messages_set(self, n):
        self.max_inflight = n

    def reconnect_delay_set(self, **kw):
        pass

    def will_set(self, topic, payload, qos=0, retain=False):
        self.will = (topic, payload, qos, retain)

    def connect_async(self, host, port, keepalive=60, clean_start=True):
        pass

    def loop_start(self):
        pass

    def loop_stop(self):
        pass

    def disconnect(self):
        self.connected = False

    def subscribe(self, subs):
        with self._lock:
            self._mid += 1
            self.subscriptions.append(subs)
            return mqtt.MQTT_ERR_SUCCESS, self._mid

    def suback(self, reason: int = 1) -> None:
        """The broker grants (QoS ``reason``) or refuses (0x87) the last subscription."""
        codes = [ReasonCode(PacketTypes.SUBACK, identifier=reason) for _ in self.subscriptions[-1]]
        self.on_subscribe(self, None, self._mid, codes, None)

    def publish(self, topic, payload, qos=0, retain=False):
        with self._lock:
            self._mid += 1
            mid = self._mid
            if qos:
                self.published[mid] = (topic, payload, qos, retain)
            self.all_published.append((topic, payload))
        return Info(mid, mqtt.MQTT_ERR_SUCCESS if self.connected else mqtt.MQTT_ERR_NO_CONN)

    # --- the broker's part, played by the test -------------------------------------------------
    def connect(self):
        self.connected = True
        self.on_connect(self, None, {}, ReasonCode(PacketTypes.CONNACK, identifier=0), None)

    def puback(self, mid: int, reason: int = 0) -> None:
        with self._lock:
            self.published.pop(mid, None)
        self.on_publish(self, None, mid, ReasonCode(PacketTypes.PUBACK, identifier=reason), None)

    def in_flight(self, topic_end: str = "") -> list[int]:
        with self._lock:
            return [mid for mid, (topic, *_rest) in self.published.items() if topic.endswith(topic_end)]
