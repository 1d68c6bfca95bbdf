"""Classify one MQTT message: a valid event of a known device, or a quarantine record (pure).

Every check of the protocol module applies (size, UTF-8, JSON, schema, types, topic vs
payload device), plus the one only the central side can make: the device must be in the
registry. The unit is taken from the registry, never from the payload.
"""

from __future__ import annotations

from dataclasses import dataclass

from ihanoi.contract import protocol
from ihanoi.contract.errors import ProtocolError

REASONS = ("oversize", "bad-utf8", "bad-json", "wrong-schema", "invalid", "device-mismatch",
           "bad-topic", "unknown-device")


@dataclass(frozen=True, slots=True)
class Accepted:
    kind: str
    message: protocol.Message
    unit: str


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str


def classify(topics: protocol.Topics, registry, topic: str, payload: bytes) -> Accepted | Rejected:
    try:
        kind, message = protocol.parse(topics, topic, payload)
    except ProtocolError as exc:
        return Rejected(exc.reason, exc.detail)
    unit = registry.unit_of(message.device)
    if unit is None:
        return Rejected("unknown-device", f"device {message.device!r} is not in the units registry")
    return Accepted(kind, message, unit.id)
