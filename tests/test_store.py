"""The store, on SQLite and PostgreSQL through the same code: a re-sent event counts once, the
newest device state wins whatever order batches commit in, and the schema migrates itself."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, select

from broker import migrations
from broker.migrations import alembic_config, current, upgrade
from broker.store import open_store, schema
from broker.store.rows import event_row, health_state_row, state_row
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ
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
    assert state.outbox_depth == 7 and state.clock_synced is False and state.content_version == "3"   # ints as text
    assert state.software_version == "1.2.0"
    assert state.last_seen == T0.astimezone(timezone.utc)
    store.close()


def test_the_schema_is_created_once_and_reopening_changes_nothing(db_url):
    store = open_store(db_url)
    store.write_batch({"play": [play_row(uuid.uuid4(), 1)]})
    store.close()
    store = open_store(db_url)
    assert current(store.engine) == HEAD
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


# --- content versions are text ---------------------------------------------------------------
PACK_VERSION = "2024.08.1"      # what an agent sends for a content pack


def health(version, time=T0):
    return protocol.Health(device=DEVICE, time=time, uptime_s=10, outbox_depth=0, outbox_dropped=0,
                           software_version="1.2.0", content_id="ihanoi-promo", content_version=version,
                           clock_synced=True)


def content_versions(store) -> dict[str, list]:
    with store.engine.connect() as conn:
        return {t.name: sorted(conn.execute(select(t.c.content_version)).scalars())
                for t in (schema.plays, schema.health, schema.device_state)}


def test_a_pack_version_is_stored_and_read_back_as_text(db_url):
    store = open_store(db_url)
    play = {**play_row(uuid.uuid4(), 1), "content_version": PACK_VERSION}
    h = health(PACK_VERSION)
    result = store.write_batch({"play": [play], "health": [event_row(h, UNIT, CAMPAIGN_TZ, T0)]},
                               health_states=[health_state_row(h, UNIT)])
    assert result.stored == {"play": 1, "health": 1}
    assert content_versions(store) == {"plays": [PACK_VERSION], "health": [PACK_VERSION],
                                       "device_state": [PACK_VERSION]}
    later = protocol.State(device=DEVICE, state="online", since=T0 + timedelta(minutes=1), content_version="2024.08.10")
    store.write_batch({}, states=[state_row(later, UNIT)])
    (state,) = store.device_states()
    assert state.content_version == "2024.08.10"
    store.close()


def test_upgrading_from_0001_keeps_integer_versions_as_text(db_url):
    store = open_store(db_url, migrate=False)
    upgrade(store.engine, "0001")
    stream = uuid.uuid4()
    rows = {"plays": [{**play_row(stream, 1), "content_version": 7}],
            "health": [{**event_row(health(7), UNIT, CAMPAIGN_TZ, T0), "content_version": 7}]}
    sqlite = store.engine.dialect.name == "sqlite"
    if sqlite:   # what 0001 on SQLite kept silently: a pack's text among the integers
        rows["plays"].append({**play_row(stream, 2), "content_version": PACK_VERSION})
    rows["device_state"] = [{"device": DEVICE, "unit": UNIT, "content_version": 7}]
    with store.engine.begin() as conn:
        for name, table_rows in rows.items():
            conn.execute(Table(name, MetaData(), autoload_with=conn).insert(), table_rows)   # 0001's INTEGER column
    store.close()

    store = open_store(db_url)                       # the collector's start: upgrade to head
    assert current(store.engine) == HEAD
    assert content_versions(store) == {"plays": [PACK_VERSION, "7"] if sqlite else ["7"], "health": ["7"],
                                       "device_state": ["7"]}
    again = store.write_batch({"play": [play_row(stream, 1), {**play_row(stream, 3), "content_version": PACK_VERSION}]})
    assert again.stored == {"play": 1} and again.duplicates == {"play": 1}   # the event key survived the change
    store.close()


HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_boards_dark_screen_is_kept_until_it_says_otherwise_and_upgrading_adds_the_column(db_url):
    store = open_store(db_url, migrate=False)
    upgrade(store.engine, "0002")
    with store.engine.begin() as conn:
        conn.execute(Table("device_state", MetaData(), autoload_with=conn).insert(),
                     [{"device": DEVICE, "unit": UNIT, "content_version": "7"}])
    store.close()
    store = open_store(db_url)
    (state,) = store.device_states()
    assert current(store.engine) == HEAD and state.content_version == "7" and state.screen_fault is None
    dark = health(PACK_VERSION).model_copy(update={"screen_fault": "the rgbmatrix output cannot start: not a Pi"})
    store.write_batch({}, health_states=[health_state_row(dark, UNIT)])
    assert store.device_states()[0].screen_fault.endswith("not a Pi")
    older = protocol.State(device=DEVICE, state="online", since=T0 - timedelta(minutes=5))
    store.write_batch({}, states=[state_row(older, UNIT)])
    assert store.device_states()[0].screen_fault, "an older state message does not clear a newer fault"
    fixed = protocol.State(device=DEVICE, state="online", since=T0 + timedelta(minutes=5))
    store.write_batch({}, states=[state_row(fixed, UNIT)])
    assert store.device_states()[0].screen_fault is None
    store.close()


def downgrade(store, revision: str) -> None:
    migrations.downgrade(store.engine, revision)


def test_downgrading_refuses_text_versions_and_keeps_integer_ones(db_url):
    store = open_store(db_url)
    h = health(PACK_VERSION)
    store.write_batch({"play": [play_row(uuid.uuid4(), 1)], "health": [event_row(h, UNIT, CAMPAIGN_TZ, T0)]})
    with pytest.raises(RuntimeError, match=r"health\.content_version .*'2024\.08\.1'"):
        downgrade(store, "0001")
    assert current(store.engine) == HEAD and content_versions(store)["health"] == [PACK_VERSION]
    with store.engine.begin() as conn:
        conn.execute(schema.health.delete())
    downgrade(store, "0001")
    assert current(store.engine) == "0001"
    with store.engine.connect() as conn:
        assert conn.execute(select(schema.plays.c.content_version)).scalar_one() == 1   # an INTEGER again
    store.close()


# --- campaigns (0005) -------------------------------------------------------------------------
def test_upgrading_to_0005_puts_every_stored_play_in_the_registrys_campaign(db_url):
    store = open_store(db_url, migrate=False)
    upgrade(store.engine, "0004")
    stream = uuid.uuid4()
    old = [{k: v for k, v in play_row(stream, i, T0 + timedelta(minutes=20 * i)).items() if k != "campaign"}
           for i in range(1, 4)]
    with store.engine.begin() as conn:
        conn.execute(Table("plays", MetaData(), autoload_with=conn).insert(), old)     # 0004's plays: no campaign
    store.close()
    store = open_store(db_url)
    assert current(store.engine) == HEAD
    assert [r.campaign for r in store.plays(date(2024, 9, 4), date(2024, 9, 4))] == ["ihanoi"] * 3
    assert store.campaigns.all() == []          # the registry's campaign is written by whoever has the registry
    again = store.write_batch({"play": [play_row(stream, 1), play_row(stream, 4, campaign="bau-cu-2026")]})
    assert again.stored == {"play": 1} and again.duplicates == {"play": 1}
    assert [r.campaign for r in store.plays(date(2024, 9, 4), date(2024, 9, 4), campaign="bau-cu-2026")] == \
           ["bau-cu-2026"]
    store.close()


def test_the_first_campaign_id_given_to_the_upgrade_is_the_one_old_plays_get(db_url):
    store = open_store(db_url, migrate=False)
    upgrade(store.engine, "0004")
    row = {k: v for k, v in play_row(uuid.uuid4(), 1).items() if k != "campaign"}
    with store.engine.begin() as conn:
        conn.execute(Table("plays", MetaData(), autoload_with=conn).insert(), [row])
    upgrade(store.engine, first_campaign="ihanoi-2023")
    assert [r.campaign for r in store.plays(date(2024, 9, 4), date(2024, 9, 4))] == ["ihanoi-2023"]
    store.close()


def test_downgrading_below_0005_refuses_plays_of_other_campaigns(db_url):
    store = open_store(db_url)
    store.write_batch({"play": [play_row(uuid.uuid4(), 1), play_row(uuid.uuid4(), 1, campaign="tuan-le-y-te")]})
    with pytest.raises(RuntimeError, match=r"1 stored play\(s\) are of another campaign than 'ihanoi'"):
        downgrade(store, "0004")
    assert current(store.engine) == HEAD and store.count("play") == 2
    with store.engine.begin() as conn:
        conn.execute(schema.plays.delete().where(schema.plays.c.campaign != "ihanoi"))
    downgrade(store, "0004")
    assert current(store.engine) == "0004"
    with store.engine.connect() as conn:
        assert "campaign" not in Table("plays", MetaData(), autoload_with=conn).c
    store.close()


def test_campaigns_are_kept_as_the_contract_says_them_and_ended_to_the_minute(db_url):
    from ihanoi.contract.campaigns import Campaign
    from ihanoi.contract.errors import StoreError

    store = open_store(db_url)
    week = Campaign(id="tuan-le-y-te", title="Tuần lễ y tế", first_day=date(2024, 9, 9), last_day=date(2024, 9, 13),
                    starts=datetime(2024, 9, 9, 13, 30).time(),
                    directive={"number": "15/KH-UBND", "date": "2024-09-01", "issuer": "UBND quận Hai Bà Trưng"},
                    content_id="y-te-promo", bundle="12", target={"kinds": ["health", "ward"]}, quota=4,
                    min_gap_minutes=30, seek_peaks=False)
    store.campaigns.add(week, 45, T0)
    with pytest.raises(StoreError, match="already in the store"):
        store.campaigns.add(week, 45, T0)
    (kept,) = store.campaigns.all()
    assert kept.campaign == week and kept.play_seconds == 45 and kept.ended_at is None
    assert kept.created_at == T0
    stop = datetime(2024, 9, 11, 10, 15, 30, tzinfo=CAMPAIGN_TZ)
    ended = store.campaigns.end("tuan-le-y-te", stop, T0 + timedelta(days=7), CAMPAIGN_TZ)
    assert store.campaigns.get("tuan-le-y-te") == ended
    assert ended.campaign.window(CAMPAIGN_TZ)[1] == datetime(2024, 9, 11, 10, 15, tzinfo=CAMPAIGN_TZ)
    with pytest.raises(StoreError, match="not extended"):
        store.campaigns.end("tuan-le-y-te", stop + timedelta(days=1), T0, CAMPAIGN_TZ)
    with pytest.raises(StoreError, match="no campaign 'bau-cu'.*known: tuan-le-y-te"):
        store.campaigns.get("bau-cu")
    store.campaigns.record_announced("phuong-bach-mai", 1, "a" * 64, T0)
    store.campaigns.record_announced("phuong-bach-mai", 2, "b" * 64, T0)
    assert store.campaigns.announced() == {"phuong-bach-mai": (2, "b" * 64)}
    store.close()
