"""Turn one batch of received messages into the rows the store commits together (pure).

One rule, here and nowhere else: whatever goes wrong while one message is decoded, validated
or turned into rows quarantines that message (with the protocol's reason, or ``invalid``
and the error's name) and the rest of the batch goes on. Nothing a board sends can raise out
of ``prepare``; only the database's own troubles are left for the caller to retry.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from broker.collector.validate import accept, window_of
from broker.store.rows import event_row, health_state_row, state_row
from ihanoi.contract import protocol
from ihanoi.contract.errors import ProtocolError

log = logging.getLogger("broker.collector")
DETAIL_CHARS = 500


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
    # What the boards get a receipt for once the batch is committed: (device, stream) -> seqs,
    # stored or quarantined alike (a quarantined event is kept too; sending it again helps nobody).
    receipts: dict[tuple[str, str], set[int]] = field(default_factory=dict)


@dataclass(slots=True)
class _Rows:
    """What one accepted message adds to the batch."""

    kind: str
    device: str
    unit: str
    event: dict | None = None
    health_state: dict | None = None
    state: dict | None = None


def kind_of_topic(topic: str) -> str:
    kind = topic.rsplit("/", 1)[-1]
    return kind if kind in protocol.UPSTREAM else "other"


def printable(text: str, limit: int = DETAIL_CHARS) -> str:
    """A quarantine detail any database keeps: no NUL or other control characters, bounded."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text[:limit]


def quarantine_record(item: Incoming, reason: str, detail: str, now: datetime) -> dict:
    return {"received_at": now, "topic": printable(item.topic, 65535), "payload": bytes(item.payload),
            "reason": reason, "detail": printable(detail)}


def _rows_of(item: Incoming, topics: protocol.Topics, registry, window: protocol.TimeWindow,
             now: datetime) -> _Rows:
    accepted = accept(topics, registry, window, item.topic, item.payload)
    message, unit, kind = accepted.message, accepted.unit, accepted.kind
    rows = _Rows(kind, message.device, unit)
    if kind == "state":
        rows.state = state_row(message, unit)
        return rows
    rows.event = event_row(message, unit, registry.campaign.tz, now, registry.campaign.id)
    if kind == "health":
        rows.health_state = health_state_row(message, unit)
    return rows


def prepare(batch: list[Incoming], topics: protocol.Topics, registry, now: datetime,
            logged_reasons: set[str] | None = None) -> Prepared:
    """Validate every message; keep the newest state and health per device (the batch may
    hold several); log each quarantine reason the first time it is seen."""
    out = Prepared()
    window = window_of(registry, now)
    for item in batch:
        kind = kind_of_topic(item.topic)
        out.received[kind] = out.received.get(kind, 0) + 1
        try:
            rows = _rows_of(item, topics, registry, window, now)
        except ProtocolError as exc:
            reason, detail, unexpected, once = exc.reason, exc.detail, None, exc.reason
        except Exception as exc:      # noqa: BLE001 - the one rule: a message, never the collector
            name = exc.__class__.__name__
            reason, detail, unexpected, once = "invalid", f"{name}: {exc}", exc, f"invalid ({name})"
        else:
            _add(out, rows, now)
            if rows.event is not None and rows.event["stream"] is not None and rows.event["seq"] is not None:
                out.receipts.setdefault((rows.device, rows.event["stream"]), set()).add(rows.event["seq"])
            continue
        key = receipt_key(item, topics)
        if key is not None:
            out.receipts.setdefault(key[:2], set()).add(key[2])
        out.rejected[reason] = out.rejected.get(reason, 0) + 1
        out.quarantined.append(quarantine_record(item, reason, detail, now))
        if logged_reasons is not None and once not in logged_reasons:
            logged_reasons.add(once)
            # An error the protocol does not name may be a bug of ours: its trace is logged (once).
            log.warning("quarantined a %s message on %s: %s (further %r messages are counted, not logged)",
                        reason, printable(item.topic, 200), printable(detail), once, exc_info=unexpected)
    return out


def receipt_key(item: Incoming, topics: protocol.Topics) -> tuple[str, str, int] | None:
    """(device of the topic, stream, seq) of a quarantined event, where its payload names them.

    The device is the topic's: the broker's ACL makes it the sender's own identity."""
    try:
        device, kind = topics.parse_up(item.topic)
        if kind not in protocol.SEQUENCED or len(item.payload) > protocol.MAX_PAYLOAD:
            return None
        data = protocol.load_json(item.payload)
        stream, seq = str(UUID(str(data["stream"]))), data["seq"]
    except Exception:      # noqa: BLE001 - no key to be had: the board gets no receipt for it
        return None
    valid = (isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq < 2**63
             and re.fullmatch(protocol.DEVICE_ID, device) is not None)
    return (device, stream, seq) if valid else None


def _add(out: Prepared, rows: _Rows, now: datetime) -> None:
    if rows.device not in out.seen:
        out.seen[rows.device] = {"device": rows.device, "unit": rows.unit, "last_seen": now}
    if rows.state is not None:
        old = out.states.get(rows.device)
        if old is None or old["state_since"] <= rows.state["state_since"]:
            out.states[rows.device] = rows.state
        return
    out.events[rows.kind].append(rows.event)
    if rows.health_state is not None:
        old = out.health_states.get(rows.device)
        if old is None or old["last_health"] <= rows.health_state["last_health"]:
            out.health_states[rows.device] = rows.health_state
