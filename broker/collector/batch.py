"""Turn one batch of received messages into the rows the store commits together (pure)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from broker.collector.validate import Accepted, classify
from broker.store.rows import event_row, health_state_row, state_row
from ihanoi.contract import protocol

log = logging.getLogger("broker.collector")


@dataclass(slots=True)
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


@dataclass
class Prepared:
    events: dict[str, list[dict]] = field(default_factory=lambda: {"play": [], "traffic": [], "health": []})
    quarantined: list[dict] = field(default_factory=list)
    seen: dict[str, dict] = field(default_factory=dict)
    health_states: dict[str, dict] = field(default_factory=dict)
    states: dict[str, dict] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)


def kind_of_topic(topic: str) -> str:
    kind = topic.rsplit("/", 1)[-1]
    return kind if kind in protocol.UPSTREAM else "other"


def prepare(batch: list[Incoming], topics: protocol.Topics, registry, now: datetime,
            logged_reasons: set[str] | None = None) -> Prepared:
    """Validate every message; keep the newest state and health per device (the batch may
    hold several); log each quarantine reason the first time it is seen."""
    out = Prepared()
    tz = registry.campaign.tz
    for item in batch:
        kind = kind_of_topic(item.topic)
        out.received[kind] = out.received.get(kind, 0) + 1
        result = classify(topics, registry, item.topic, item.payload)
        if not isinstance(result, Accepted):
            out.rejected[result.reason] = out.rejected.get(result.reason, 0) + 1
            out.quarantined.append({"received_at": now, "topic": item.topic, "payload": bytes(item.payload),
                                    "reason": result.reason, "detail": result.detail})
            if logged_reasons is not None and result.reason not in logged_reasons:
                logged_reasons.add(result.reason)
                log.warning("quarantined a %s message on %s: %s (further %r messages are counted, "
                            "not logged)", result.reason, item.topic, result.detail, result.reason)
            continue
        message, unit = result.message, result.unit
        if message.device not in out.seen:
            out.seen[message.device] = {"device": message.device, "unit": unit, "last_seen": now}
        if result.kind == "state":
            row = state_row(message, unit)
            old = out.states.get(message.device)
            if old is None or old["state_since"] <= row["state_since"]:
                out.states[message.device] = row
            continue
        out.events[result.kind].append(event_row(message, unit, tz, now))
        if result.kind == "health":
            row = health_state_row(message, unit)
            old = out.health_states.get(message.device)
            if old is None or old["last_health"] <= row["last_health"]:
                out.health_states[message.device] = row
    return out
