"""Plays on TVs in the report, on SQLite and PostgreSQL: only the plays a screen showed count.

A TV board says before each play what its TV answered over HDMI-CEC (the play message's
``screen``); a play on a TV in standby, switching, silent or on another input is stored with it
and not counted, and the board's note says how many there were; a screen without CEC
(``unmanaged``) counts like an LED board and is marked so. Plays from LED boards and from
boards older than the field carry no screen and count as before. Migration 0004 adds the
columns and refuses to drop them while they hold a play that did not count.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import MetaData, Table

from broker import migrations
from broker.migrations import current
from broker.report.build import report_from_store
from broker.report.compliance import PlayRow, build_report
from broker.report.peaks import learn_peaks
from broker.report.render import render_table
from broker.store import open_store, schema
from broker.store.rows import event_row
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ
from tests.postgres import db_url  # noqa: F401  (fixture)

TV, TV_UNIT = "hbt-ttyt-quan-01", "ttyt-quan"           # clinic hours 7:00-11:30, 13:30-16:30; quota 10
LED, LED_UNIT = "hbt-bach-dang-01", "phuong-bach-dang"
WED = date(2024, 9, 4)
AFTER = datetime(2024, 10, 20, 12, 0, tzinfo=CAMPAIGN_TZ)
# (screen the TV said, counted?) -- the protocol's rule, as the report must apply it
SAID = [
    ({"power": "on", "input": "ours"}, True),
    ({"power": "on", "input": "unknown"}, True),
    ({"power": "unmanaged", "input": "unknown"}, True),
    ({"power": "standby", "input": "unknown"}, False),
    ({"power": "on", "input": "other"}, False),
    ({"power": "to-on", "input": "unknown"}, False),
    ({"power": "no-reply", "input": "unknown"}, False),
    ({"power": "not-acknowledged", "input": "unknown"}, False),
    ({"power": "error", "input": "unknown"}, False),
]


def at(hh: int, mm: int = 0) -> datetime:
    return datetime.combine(WED, time(hh, mm), CAMPAIGN_TZ)


def play(device: str, seq: int, start: datetime, stream, screen: dict | None = None, completed: bool = True):
    return protocol.Play(device=device, stream=stream, seq=seq,
                         content={"id": "ihanoi-promo", "version": "2024.08.1-tv", "sha256": "a" * 64},
                         start=start, end=start + timedelta(seconds=15), completed=completed, audience=4,
                         reason="peak", clock_synced=True, screen=screen)


def tv_day(stream) -> list[protocol.Play]:
    """Ten plays the TV showed, then one of each kind it did not (and a cut one, never counted)."""
    plays = [play(TV, i + 1, at(7, 10) + timedelta(minutes=20 * i), stream, SAID[i % 3][0]) for i in range(10)]
    hidden = [s for s, counted in SAID if not counted]
    plays += [play(TV, 11 + i, at(14, 0) + timedelta(minutes=15 * i), stream, s) for i, s in enumerate(hidden)]
    plays.append(play(TV, 30, at(16, 0), stream, {"power": "on", "input": "ours"}, completed=False))
    return plays


def test_only_the_plays_the_screen_showed_count_on_both_databases(db_url, registry):  # noqa: F811
    store = open_store(db_url)
    tv_stream, led_stream = uuid.uuid4(), uuid.uuid4()
    led = [play(LED, i + 1, at(8) + timedelta(minutes=20 * i), led_stream) for i in range(10)]   # no screen field
    rows = [event_row(p, TV_UNIT, CAMPAIGN_TZ, AFTER) for p in tv_day(tv_stream)]
    rows += [event_row(p, LED_UNIT, CAMPAIGN_TZ, AFTER) for p in led]
    assert store.write_batch({"play": rows}).stored == {"play": len(rows)}
    stored = {r.start: (r.screen_power, r.screen_input) for r in store.plays(WED, WED) if r.device == TV}
    assert stored[at(14, 0)] == ("standby", "unknown") and stored[at(14, 15)] == ("on", "other")
    assert all(r.screen_power is None for r in store.plays(WED, WED) if r.device == LED)

    report = report_from_store(store, registry, WED, WED, AFTER)
    (tv_row,) = [d for d in report.days if d.unit == TV_UNIT]
    (led_row,) = [d for d in report.days if d.unit == LED_UNIT]
    assert (tv_row.plays, tv_row.not_shown, tv_row.compliant) == (10, 6, True)
    assert (led_row.plays, led_row.not_shown, led_row.compliant) == (10, 0, True)
    tv_note = next(n for n in report.devices if n.device == TV)
    assert (tv_note.screen, tv_note.not_shown, tv_note.unmanaged) == ("lcd", 6, True)
    said = next(p for p in tv_note.problems if p.startswith("TV tắt"))
    assert said == ("TV tắt hoặc không hiển thị khi phát: 6 lượt không được tính (chờ (standby) 1, đang bật 1, "
                    "không trả lời qua HDMI-CEC 1, không có trên đường HDMI-CEC 1, không đọc được trạng thái 1, "
                    "đang ở nguồn vào khác 1)")
    assert any("không quản lý qua HDMI-CEC" in p for p in tv_note.problems)
    led_note = next(n for n in report.devices if n.device == LED)
    assert (led_note.screen, led_note.not_shown, led_note.unmanaged) == ("led", 0, False)
    assert not any("TV" in p for p in led_note.problems)
    table = render_table(report)
    assert "TV tắt hoặc không hiển thị khi phát: 6 lượt" in table and "Lượt phát khi TV tắt (không tính)" in table
    store.close()


def test_without_the_screens_that_did_not_show_a_unit_falls_below_quota(registry):
    stream = uuid.uuid4()
    plays = [PlayRow(TV, p.start, p.content.id, p.completed, p.audience, True,
                     p.screen.power if p.screen else None, p.screen.input if p.screen else None)
             for p in tv_day(stream)]
    # the ten that counted, three of them now said "standby": the day is short by three
    plays = [PlayRow(**{**p.__dict__, "screen_power": "standby"}) if i < 3 else p for i, p in enumerate(plays)]
    report = build_report(registry, WED, WED, plays, set(), learn_peaks([], None), {}, AFTER)
    (day,) = [d for d in report.days if d.unit == TV_UNIT]
    assert (day.plays, day.not_shown, day.compliant, day.below_quota) == (7, 9, False, [TV])


@pytest.mark.parametrize("screen, counted", SAID)
def test_the_counting_rule_is_the_protocols(screen, counted, registry):
    row = PlayRow(TV, at(9), "ihanoi-promo", True, 3, True, screen["power"], screen["input"])
    assert row.showed is counted is protocol.PlayScreen(**screen).showed
    report = build_report(registry, WED, WED, [row], set(), learn_peaks([], None), {}, AFTER)
    (day,) = [d for d in report.days if d.unit == TV_UNIT]
    assert (day.plays, day.not_shown) == ((1, 0) if counted else (0, 1))


def _as_stored(value):
    """Times as the store keeps them (naive UTC): the reflected table has no UTCDateTime to convert them."""
    return value.astimezone(timezone.utc).replace(tzinfo=None) if isinstance(value, datetime) else value


def test_upgrading_to_0004_keeps_every_play_and_counts_them_as_before(db_url, registry):  # noqa: F811
    store = open_store(db_url, migrate=False)
    migrations.upgrade(store.engine, "0003")
    stream = uuid.uuid4()
    old = [{k: _as_stored(v) for k, v in event_row(play(LED, i + 1, at(8) + timedelta(minutes=20 * i), stream),
                                                   LED_UNIT, CAMPAIGN_TZ, AFTER).items() if not k.startswith("screen_")}
           for i in range(10)]
    with store.engine.begin() as conn:
        conn.execute(Table("plays", MetaData(), autoload_with=conn).insert(), old)     # 0003's columns
    store.close()
    store = open_store(db_url)                                          # the collector's start: to head
    assert current(store.engine) == migrations.head()
    assert [(r.screen_power, r.screen_input) for r in store.plays(WED, WED)] == [(None, None)] * 10
    (day,) = [d for d in report_from_store(store, registry, WED, WED, AFTER).days if d.unit == LED_UNIT]
    assert day.plays == 10 and day.compliant
    store.close()


def test_downgrading_below_0004_refuses_while_a_play_did_not_count(db_url):  # noqa: F811
    store = open_store(db_url)
    stream = uuid.uuid4()
    shown = play(TV, 1, at(8), stream, {"power": "on", "input": "ours"})
    hidden = play(TV, 2, at(9), stream, {"power": "standby", "input": "unknown"})
    store.write_batch({"play": [event_row(p, TV_UNIT, CAMPAIGN_TZ, AFTER) for p in (shown, hidden)]})
    with pytest.raises(RuntimeError, match=r"cannot downgrade below 0004: 1 stored play\(s\)"):
        migrations.downgrade(store.engine, "0003")
    assert current(store.engine) == migrations.head() and store.count("play") == 2
    with store.engine.begin() as conn:
        conn.execute(schema.plays.delete().where(schema.plays.c.seq == 2))
    migrations.downgrade(store.engine, "0003")
    with store.engine.connect() as conn:
        assert "screen_power" not in Table("plays", MetaData(), autoload_with=conn).c
    assert current(store.engine) == "0003"
    store.close()


def test_the_units_hourly_chart_counts_the_plays_the_report_counts(db_url, registry):  # noqa: F811
    from broker.web.queries import hour_profile

    store = open_store(db_url)
    store.write_batch({"play": [event_row(p, TV_UNIT, CAMPAIGN_TZ, AFTER) for p in tv_day(uuid.uuid4())]})
    report = report_from_store(store, registry, WED, WED, AFTER)
    profile = hour_profile(store, registry, report, TV_UNIT)
    assert profile.plays == 10 == next(d.plays for d in report.days if d.unit == TV_UNIT)
    assert profile.plays_per_day[profile.hours.index(14)] == 0, "the plays at 14:00 were on a TV that was off"
    store.close()
