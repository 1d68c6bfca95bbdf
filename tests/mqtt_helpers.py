"""A plain paho subscriber that records what reaches the broker, for end-to-end checks."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.polling import eventually


class Recorder:
    """Subscribes (QoS 1, persistent session) and keeps every message it receives."""

    def __init__(self, host: str, port: int, topic: str, client_id: str = "test-recorder"):
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_disconnect = lambda *a: self.subscribed.clear()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect(host, port)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("recorder did not subscribe")

    def _on_message(self, client, userdata, message):
        with self._lock:
            self.messages.append((message.topic, message.payload))

    def events(self, kind: str | None = None) -> list[dict]:
        with self._lock:
            items = list(self.messages)
        return [json.loads(p) for t, p in items if kind is None or t.endswith("/" + kind)]

    def keys(self, kind: str) -> list[tuple[str, str, int]]:
        return [(e["device"], e["stream"], e["seq"]) for e in self.events(kind)]

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        return eventually(lambda: predicate(self), timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
