"""An MQTT client for the collector's unit tests: the test delivers messages by hand and reads
what was acknowledged. It implements ``broker.collector.client.CollectorClient``, so the
collector runs its real logic without a broker; the tests against Mosquitto use paho."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from broker.collector.client import ClientOptions


class FakeClient:
    def __init__(self, options: ClientOptions):
        self.options = options
        self.subscriptions: list[list[tuple[str, int]]] = []
        self.acked: list[tuple[int, int]] = []       # (packet id, QoS) in the order acknowledged
        self.published: list[tuple[str, bytes, int]] = []
        self.started = self.stopped = False
        self.refuse_publish = False                  # as a client with too many receipts waiting
        self._mid = 0
        self._lock = threading.Lock()

    # --- what the collector calls ---------------------------------------------------------------
    def start(self) -> None:
        self.started = True
        self.options.on_connect(False)

    def subscribe(self, subscriptions: list[tuple[str, int]]) -> None:
        self.subscriptions.append(list(subscriptions))
        self.options.on_subscribe([])

    def ack(self, mids: Sequence[int], qos: int) -> None:
        with self._lock:
            self.acked.extend((mid, qos) for mid in mids)

    def publish(self, topic: str, payload: bytes, qos: int) -> bool:
        with self._lock:
            if self.refuse_publish:
                return False
            self.published.append((topic, payload, qos))
            return True

    def stop(self) -> None:
        self.stopped = True

    # --- what the test calls --------------------------------------------------------------------
    def deliver(self, topic: str, payload: bytes, qos: int = 1) -> int:
        """Hand the collector one message, as the network thread would; returns its packet id."""
        with self._lock:
            self._mid = self._mid % 65535 + 1
            mid = self._mid
        self.options.on_message(topic, payload, mid, qos)
        return mid

    def reconnect(self) -> None:
        """The connection drops and comes back (the session resumed)."""
        self.options.on_disconnect("test: connection lost")
        self.options.on_connect(True)

    def acked_mids(self) -> list[int]:
        with self._lock:
            return [mid for mid, _ in self.acked]


class FakeClients:
    """A client factory that keeps the client it made."""

    def __init__(self):
        self.client: FakeClient | None = None

    def __call__(self, options: ClientOptions) -> FakeClient:
        self.client = FakeClient(options)
        return self.client
