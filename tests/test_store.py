"""The store, on SQLite and PostgreSQL through the same code: a re-sent event counts once, the
newest device state wins whatever order batches commit in, and the schema migrates itself."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from broker.migrations import current
from broker.store import open_store
from broker.store.rows import event_row, health_state_row, state_row
from edge import protocol
from edge.clock import CAMPAIGN_TZ
from tests.postgres import db_url  # noqa: F401  (fixture)

T0 = datetime(2024, 9, 4, 9, 0, tzinfo=CAMPAIGN_TZ)
DEVICE, UNIT = "hbt-bach-dang-01", "phuong-bach-dang"


def play_row(stream, seq, start=T0, **over):
    msg = protocol.Play(device=DEVICE, stream=stream, seq=seq, content={"id": "ihanoi-promo", "version": 1,
                        "sha256": "0" * 64}, start=start, end=start + timedelta(seconds=30), completed=True,
                        audience=2, reason="peak", clock_synced=True, **over)
    return event_row(msg, UNIT, CAMPAIGN_TZ, T0)


def test_a_resent_event_is_stored_once_within_and_across_batches(db_url):
    store = open_store(db_url)
    s1, s2 = uuid.uuid4(), uuid.uuid4()
    rows = [play_row(s1, i, T0 + timedelta(minutes=20 * i)) for i in range(1, 6)]
    first = store.write_batch({"play": rows + rows[:2]})
    assert first.stored == {"play": 5} and first.duplicates == {"play": 2}
    again = store.write_batch({"play": rows + [play_row(s2, 1)]})   # same seq, another stream: new
    assert again.stored == {"play": 1} and again.duplicates == {"play": 5}
    assert store.count("play") == 6
    store.close()


def test_times_come_back_as_the_same_instant_with_the_local_day(db_url):
    store = open_store(db_url)
    late = datetime(2024, 9, 4, 23, 30, tzinfo=CAMPAIGN_TZ)       # 16:30 UTC, still the 4th in Hanoi
    store.write_batch({"play": [play_row(uuid.uuid4(), 1, late)]})
    (row,) = store.plays(date(2024, 9, 4), date(2024, 9, 4))
    assert row.start == late and row.start.tzinfo is not None
    assert row.day == date(2024, 9, 4)
    assert store.plays(date(2024, 9, 5), date(2024, 9, 5)) == []
    store.close()


def test_the_newest_state_and_health_win_whatever_order_they_commit_in(db_url):
    store = open_store(db_url)
    newer = protocol.State(device=DEVICE, state="offline", since=T0 + timedelta(minutes=5), reason="lost")
    older = protocol.State(device=DEVICE, state="online", since=T0, software_version="1.2.0")
    store.write_batch({}, states=[state_row(newer, UNIT)])
    store.write_batch({}, states=[state_row(older, UNIT)])               # arrives late: ignored
    h = protocol.Health(device=DEVICE, time=T0, uptime_s=10, outbox_depth=7, outbox_dropped=0,
                        software_version="1.2.0", content_version=3, clock_synced=False)
    seen = {"device": DEVICE, "unit": UNIT, "last_seen": T0}
    store.write_batch({"health": [event_row(h, UNIT, CAMPAIGN_TZ, T0)]}, seen=[seen],
                      health_states=[health_state_row(h, UNIT)])
    store.write_batch({}, seen=[{**seen, "last_seen": T0 - timedelta(hours=1)}])   # older: ignored
    (state,) = store.device_states()
    assert state.state == "offline" and state.state_reason == "lost"
    assert state.outbox_depth == 7 and state.clock_synced is False and state.content_version == 3
    assert state.software_version == "1.2.0"
    assert state.last_seen == T0.astimezone(timezone.utc)
    store.close()


def test_the_schema_is_created_once_and_reopening_changes_nothing(db_url):
    store = open_store(db_url)
    store.write_batch({"play": [play_row(uuid.uuid4(), 1)]})
    store.close()
    store = open_store(db_url)
    assert current(store.engine) == "0001"
    assert store.count("play") == 1
    store.close()


def test_quarantined_messages_are_kept_with_topic_payload_and_reason(db_url):
    store = open_store(db_url)
    store.write_batch({}, quarantined=[{"received_at": T0, "topic": "ihanoi/v1/dev/x/play", "payload": b"\xff{",
                                        "reason": "bad-utf8", "detail": "byte 0 is not UTF-8"}])
    assert store.quarantine_counts() == {"bad-utf8": 1}
    (row,) = store.quarantined()
    assert row.payload == b"\xff{" and row.topic == "ihanoi/v1/dev/x/play"
    store.close()
