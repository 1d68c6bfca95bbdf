"""Accept one MQTT message as a valid event of a known device, or say why not (pure).

Every check of the protocol module applies (size, UTF-8, JSON and its nesting, schema, types
and lengths, times any store can hold, topic vs payload device, the plausibility window of
times), plus the one only the central side can make: the device must be in the registry.
The unit is taken from the registry, never from the payload.
"""

from __future__ import annotations

from dataclasses import dataclass

from ihanoi.contract import protocol
from ihanoi.contract.errors import ProtocolError

# Why a message is quarantined (docs/collector.md). ``invalid`` is also the reason of any
# other error while one message is decoded, validated or prepared; ``store-rejected`` is the
# database refusing a message the protocol accepted.
REASONS = ("oversize", "bad-utf8", "bad-json", "too-deep", "wrong-schema", "invalid", "device-mismatch",
           "bad-topic", "unknown-device", "implausible-time", "store-rejected")


@dataclass(frozen=True, slots=True)
class Accepted:
    kind: str
    message: protocol.Message
    unit: str


def accept(topics: protocol.Topics, registry, window: protocol.TimeWindow | None, topic: str,
           payload: bytes) -> Accepted:
    """The message as an event of its unit; ProtocolError with the reason otherwise."""
    kind, message = protocol.parse(topics, topic, payload, window)
    unit = registry.unit_of(message.device)
    if unit is None:
        raise ProtocolError("unknown-device", f"device {message.device!r} is not in the units registry")
    return Accepted(kind, message, unit.id)


def window_of(registry, now) -> protocol.TimeWindow:
    """The times the collector believes, by its clock and the campaign."""
    campaign = registry.campaign
    return protocol.TimeWindow.around(now, campaign.first_day, campaign.tz)
