"""Announcing: each unit's campaign set, signed, as one retained QoS 1 message through Mosquitto.

A unit's version is recorded in the store only once the broker has acknowledged its message, so
an announcement cut short is sent again (with the same version) by the next one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from broker.campaigns.sets import UnitSet, unit_sets
from ihanoi.contract import campaigns as contract
from ihanoi.contract import protocol
from ihanoi.contract.errors import ConfigError, StoreError
from ihanoi.contract.keys import load_private

log = logging.getLogger("broker.campaigns")


@dataclass(frozen=True)
class Announced:
    unit: str
    version: int
    campaigns: tuple[str, ...]
    changed: bool


class MqttAnnouncer:
    """One short-lived paho client: connect, publish retained, wait for every PUBACK, disconnect."""

    def __init__(self, broker, prefix: str, client_id: str = "ihanoi-campaigns", timeout: float = 10.0):
        self.broker, self.topics, self.client_id, self.timeout = broker, protocol.Topics(prefix), client_id, timeout

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        import paho.mqtt.client as mqtt

        b = self.broker
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        if b.username:
            client.username_pw_set(b.username, b.password())
        if b.tls:
            client.tls_set(ca_certs=str(b.tls.ca_file), certfile=str(b.tls.cert_file) if b.tls.cert_file else None,
                           keyfile=str(b.tls.key_file) if b.tls.key_file else None)
        connected = threading.Event()
        refused: list[str] = []

        def on_connect(_c, _u, _f, reason_code, _p):
            if reason_code.is_failure:
                refused.append(str(reason_code))
            connected.set()
        client.on_connect = on_connect
        try:
            client.connect(b.host, b.port, keepalive=b.keepalive)
        except OSError as exc:
            raise StoreError(f"cannot reach the MQTT broker {b.host}:{b.port} to announce campaigns: {exc}; "
                             "check [broker] in the config") from None
        client.loop_start()
        try:
            if not connected.wait(self.timeout) or refused:
                raise StoreError(f"the MQTT broker {b.host}:{b.port} did not accept the announcer "
                                 f"({refused[0] if refused else 'no answer'}); check [broker] username and password")
            infos = [client.publish(topic, payload, qos=1, retain=True) for topic, payload in messages]
            for (topic, _), info in zip(messages, infos):
                info.wait_for_publish(self.timeout)
                if not info.is_published():
                    raise StoreError(f"the MQTT broker did not acknowledge {topic}; announce again")
        finally:
            client.disconnect()
            client.loop_stop()

    def topic(self, unit: str) -> str:
        return self.topics.unit_cmd(unit, contract.TOPIC_VERB)


def signing_key(path, source="the server config"):
    if path is None:
        raise ConfigError(source, [("campaigns.signing_key", "is required to announce campaigns: the "
                                                   "private content key whose public half the boards trust")])
    return load_private(path)


def announce(store, registry, announcer: MqttAnnouncer, private_key, now: datetime,
             units: set[str] | None = None) -> list[Announced]:
    """Sign and publish the set of every unit (or of ``units``); record the versions acknowledged."""
    from broker.store.campaigns import known_campaigns

    sets: list[UnitSet] = unit_sets(registry, known_campaigns(store.campaigns, registry),
                                     store.campaigns.announced(), now, units)
    announcer.publish([(announcer.topic(s.unit), contract.sign(s.campaign_set, private_key)) for s in sets])
    for s in sets:
        store.campaigns.record_announced(s.unit, s.campaign_set.version, s.digest, now)
    log.info("announced campaign sets to %d unit(s), %d changed", len(sets), sum(s.changed for s in sets))
    return [Announced(s.unit, s.campaign_set.version, tuple(c.id for c in s.campaign_set.campaigns), s.changed)
            for s in sets]
