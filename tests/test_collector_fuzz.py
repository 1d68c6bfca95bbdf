"""Fuzzing the collector's message path (hypothesis): whatever a board publishes, on any of the
topics the collector reads, ends stored or quarantined with a reason the contract names — never
an exception, a dead writer, a retry loop or a message left unacknowledged — and the valid play
sent with it is stored exactly once. On SQLite and PostgreSQL.

The inputs: arbitrary bytes, arbitrary JSON values (nested), valid messages of every kind with
one field replaced by an arbitrary value or a boundary date, deep nesting of any depth that
fits the size limit, oversized payloads, unknown devices and odd topics."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from broker.collector.validate import REASONS
from broker.store import schema
from ihanoi.contract import protocol
from tests.polling import eventually
from tests.postgres import db_url  # noqa: F401  (fixture)
from tests.test_collector import handled
from tests.test_collector_client import unit_collector

TOPICS = protocol.Topics()
DEVICES = ["hbt-bach-dang-01", "hbt-bach-mai-02", "hbt-not-registered-01"]
GOOD = "hbt-bach-khoa-01"
SHA = "c" * 64
ZONES = [timezone(timedelta(hours=h)) for h in (-12, -1, 0, 7, 14)]
BOUNDARY_TIMES = [
    "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59.999999+00:00",
    "1969-12-31T23:59:59+00:00", "1970-01-01T00:00:00+00:00", "2099-12-31T23:59:59+00:00", "2100-01-01T00:00:00+00:00",
    "2024-07-18T23:59:59+07:00", "2024-07-19T00:00:00+07:00", "2024-09-06T12:05:00+07:00", "2024-09-06T12:05:01+07:00",
    "2024-09-04T09:00:00", "2024-02-30T09:00:00+07:00", "2024-09-04T09:00:00+24:00", "now", "", "T", 1725415200,
]

json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40)
                | st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u202e"]) | st.sampled_from(BOUNDARY_TIMES))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=25)
times = (st.sampled_from(BOUNDARY_TIMES)
         | st.datetimes(timezones=st.sampled_from(ZONES)).map(lambda t: t.isoformat())
         | st.datetimes(min_value=datetime(2024, 7, 1), max_value=datetime(2024, 9, 30),
                        timezones=st.sampled_from(ZONES)).map(lambda t: t.isoformat()))


def valid(kind: str, device: str, seq: int) -> dict:
    t = "2024-09-04T09:00:00+07:00"
    stream = str(uuid.uuid5(uuid.NAMESPACE_DNS, device))
    return {
        "play": {"schema": "ihanoi.play/1", "device": device, "stream": stream, "seq": seq,
                 "content": {"id": "ihanoi-promo", "version": "3", "sha256": SHA}, "start": t, "end": t,
                 "completed": True, "audience": 1, "reason": "peak", "clock_synced": True},
        "traffic": {"schema": "ihanoi.traffic/1", "device": device, "stream": stream, "seq": seq, "bin_start": t,
                    "bin_seconds": 300, "onsets": 2, "clock_synced": True},
        "health": {"schema": "ihanoi.health/1", "device": device, "stream": stream, "seq": seq, "time": t,
                   "uptime_s": 1.5, "outbox_depth": 0, "outbox_dropped": 0, "software_version": "1",
                   "details": {"a": [1, {"b": None}]}, "clock_synced": True},
        "state": {"schema": "ihanoi.state/1", "device": device, "state": "online", "since": t},
    }[kind]


@st.composite
def messages(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["play", "traffic", "health", "state"]))
    device = draw(st.sampled_from(DEVICES))
    topic = TOPICS.up(device, kind)
    shape = draw(st.sampled_from(["field", "field", "time", "extra", "missing", "value", "bytes", "nested",
                                  "number", "oversize", "topic"]))
    if shape in ("field", "time", "extra", "missing"):
        data = valid(kind, device, draw(st.integers(1, 10**6)))
        key = draw(st.sampled_from(sorted(data)))
        if shape == "field":
            data[key] = draw(json_values)
        elif shape == "time":
            for name in protocol.TIMES[kind]:
                data[name] = draw(times)
            if "clock_synced" in data:
                data["clock_synced"] = draw(st.booleans())
        elif shape == "extra":
            data[draw(st.text(max_size=80))] = draw(json_values)
        else:
            del data[key]
        # (a lone surrogate: escaped as \ud800, or written out as bytes that are not UTF-8)
        return topic, json.dumps(data, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if shape == "value":
        return topic, json.dumps(draw(json_values)).encode()
    if shape == "bytes":
        return topic, draw(st.binary(max_size=300))
    if shape == "nested":
        opened, closed = draw(st.integers(0, 32_000)), draw(st.integers(0, 32_000))
        bracket = draw(st.sampled_from(["[", "{\"k\":"]))
        inner = bracket * opened + "1" + ("]" if bracket == "[" else "}") * closed
        return topic, ('{"schema":"ihanoi.%s/1","x":%s}' % (kind, inner)).encode()[:protocol.MAX_PAYLOAD + 10]
    if shape == "number":      # Python's json refuses integers of more than 4,300 digits
        data = json.dumps(valid(kind, device, 1))
        digits = "9" * draw(st.integers(1, 6000))
        return topic, data.replace('"seq": 1', f'"seq": {digits}').replace('"onsets": 2', f'"onsets": {digits}')\
            .replace('"uptime_s": 1.5', f'"uptime_s": {digits}.5').encode()
    if shape == "oversize":
        return topic, b'{"x":"' + b"y" * (protocol.MAX_PAYLOAD + draw(st.integers(-20, 20))) + b'"}'
    odd = draw(st.sampled_from(["ihanoi/v1/dev//play", "ihanoi/v1/dev/x/y/play", "ihanoi/v2/dev/a/play",
                                f"ihanoi/v1/dev/{device}/other", "", "ihanoi/v1/dev/\x00/play"]))
    return odd, json.dumps(valid(kind, device, 1)).encode()


@pytest.fixture
def fuzzed(db_url, registry):
    collector, client = unit_collector(db_url, registry, batch_latency_ms=5)
    collector.start()
    assert collector.wait_connected(1)
    yield collector, client
    collector.stop()
    collector.store.close()


def quarantined_total(collector) -> float:
    return sum(collector.metrics.value("ihanoi_collector_messages_quarantined_total", reason=r) for r in REASONS)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(batch=st.lists(messages(), min_size=1, max_size=6), seq=st.integers(1, 2**62))
def test_whatever_arrives_is_stored_or_quarantined(fuzzed, batch, seq):
    collector, client = fuzzed
    store = collector.store
    m = collector.metrics
    good = (TOPICS.up(GOOD, "play"), json.dumps(valid("play", GOOD, seq)).encode())
    before = {"handled": handled(collector), "quarantined": quarantined_total(collector),
              "rows": len(store.quarantined(100_000)), "acked": len(client.acked),
              "events": sum(m.value("ihanoi_collector_events_stored_total", kind=k)
                            + m.value("ihanoi_collector_events_duplicate_total", kind=k)
                            for k in ("play", "traffic", "health"))}
    sent = batch + [good]
    mids = [client.deliver(topic, payload) for topic, payload in sent]

    assert eventually(lambda: handled(collector) == before["handled"] + len(sent), 30), "a message was not handled"
    assert eventually(lambda: len(client.acked) == before["acked"] + len(sent), 10)
    assert sorted(client.acked_mids()[before["acked"]:]) == sorted(mids), "every message is acknowledged"
    assert collector._writer.is_alive()
    assert m.value("ihanoi_collector_commit_failures_total") == 0, "no retry loop"

    new_rows = store.quarantined(100_000)[: len(store.quarantined(100_000)) - before["rows"]]
    assert all(r.reason in REASONS and r.detail for r in new_rows)
    assert quarantined_total(collector) - before["quarantined"] == len(new_rows)
    # Stored or quarantined, each message: events are counted as stored or duplicate, states
    # are applied (several of one device in a batch: the newest), the rest is in quarantine.
    events = sum(m.value("ihanoi_collector_events_stored_total", kind=k)
                 + m.value("ihanoi_collector_events_duplicate_total", kind=k)
                 for k in ("play", "traffic", "health")) - before["events"]
    states = sum(1 for topic, _ in sent if topic.endswith("/state")) - sum(r.topic.endswith("/state") for r in new_rows)
    assert events + states + len(new_rows) == len(sent)
    # The valid play is stored, once.
    key = (GOOD, str(uuid.uuid5(uuid.NAMESPACE_DNS, GOOD)), seq)
    t = schema.plays
    with store.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(t).where(
            t.c.device == key[0], t.c.stream == key[1], t.c.seq == key[2])).scalar_one()
    assert n == 1
