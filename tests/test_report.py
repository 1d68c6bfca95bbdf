"""The per-unit compliance report: who reached the quota on which open day, what is not counted
(closed days, days outside the campaign, plays outside opening hours), peaks learned from traffic,
and the renderings a district office opens (xlsx with real types, CSV, JSON, text)."""

from __future__ import annotations

import csv
import io
import json
import time as system_time
import uuid
from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest

from broker.cli import main as broker_main
from broker.report.build import report_from_store
from broker.report.compliance import PlayRow, ScreenTally, build_report, calendar_of, day_quota, screen_tallies
from broker.report.peaks import learn_peaks
from broker.report.render import formula_safe, render_csv, render_json, render_table, render_xlsx
from broker.store import open_store
from broker.store.rows import event_row, health_state_row
from ihanoi.contract import protocol
from ihanoi.contract.campaigns import Target, from_registry
from ihanoi.contract.clock import CAMPAIGN_TZ
from tests.postgres import db_url  # noqa: F401  (fixture)

DEVICE, UNIT = "hbt-bach-dang-01", "phuong-bach-dang"          # one-stop hours, quota 10
AFTER = datetime(2024, 10, 20, 12, 0, tzinfo=CAMPAIGN_TZ)        # report made after the campaign
NO_PEAKS = learn_peaks([], None)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), CAMPAIGN_TZ)


def plays_on(day: date, n: int, device: str = DEVICE, start_hour: int = 8, **over) -> list[PlayRow]:
    fields = dict(content_id="ihanoi-promo", completed=True, audience=3)
    fields.update(over)
    return [PlayRow(device, at(day, start_hour) + timedelta(minutes=15 * i), **fields) for i in range(n)]


def rows_by(report, unit=UNIT) -> dict[date, object]:
    return {d.day: d for d in report.days if d.unit == unit}


def test_a_day_under_quota_is_not_compliant_and_the_others_are(registry):
    plays = plays_on(date(2024, 9, 4), 10) + plays_on(date(2024, 9, 5), 9) + plays_on(date(2024, 9, 6), 12)
    report = build_report(registry, date(2024, 9, 4), date(2024, 9, 6), plays, set(), NO_PEAKS, {}, AFTER)
    days = rows_by(report)
    assert [days[d].compliant for d in sorted(days)] == [True, False, True]
    assert days[date(2024, 9, 5)].below_quota == [DEVICE] and days[date(2024, 9, 5)].plays == 9
    unit = next(u for u in report.units if u.unit == UNIT)
    assert (unit.open_days, unit.compliant_days, unit.plays) == (3, 2, 31)
    assert unit.meets_average is True and unit.compliant_every_day is False     # 31 / 3 ≥ 10 on average
    assert unit.name == "UBND phường Bạch Đằng"


def test_a_unit_complies_only_when_every_device_reaches_the_quota(registry):
    day = date(2024, 9, 4)
    plays = plays_on(day, 10, "hbt-bach-mai-01") + plays_on(day, 9, "hbt-bach-mai-02")
    report = build_report(registry, day, day, plays, set(), NO_PEAKS, {}, AFTER)
    mai = rows_by(report, "phuong-bach-mai")[day]
    assert mai.plays == 19 and mai.compliant is False and mai.below_quota == ["hbt-bach-mai-02"]


def test_closed_days_and_days_outside_the_campaign_are_not_counted_against_anyone(registry):
    # 2/9 and 3/9/2024 are the National Day holidays; 7-8/9 a weekend; 18/8 and 11/10 outside.
    plays = plays_on(date(2024, 9, 2), 3) + plays_on(date(2024, 9, 7), 4)
    report = build_report(registry, date(2024, 8, 17), date(2024, 10, 11), plays, set(), NO_PEAKS, {}, AFTER)
    days = rows_by(report)
    for closed in (date(2024, 8, 17), date(2024, 8, 18), date(2024, 9, 2), date(2024, 9, 3), date(2024, 9, 7),
                   date(2024, 9, 8), date(2024, 10, 11)):
        assert closed not in days, closed
    assert min(days) == date(2024, 8, 19) and max(days) == date(2024, 10, 10)
    assert sum(d.plays for d in days.values()) == 0         # plays on closed days count for nothing
    # a unit whose desk opens on Saturday mornings is counted on Saturdays
    saturday_units = [u.id for u in registry.units if registry.hours_of(u).is_open_weekday(5)]
    assert saturday_units and date(2024, 9, 7) in rows_by(report, saturday_units[0])
    assert report.district.closed_days_skipped > 0


def test_only_completed_campaign_plays_within_opening_hours_count(registry):
    day = date(2024, 9, 4)
    counted = plays_on(day, 8)                                             # 08:00 .. 09:45
    ignored = (plays_on(day, 2, start_hour=12)                             # lunch break 12:00-13:30
               + plays_on(day, 2, start_hour=18)                           # after hours
               + plays_on(day, 2, start_hour=14, completed=False)          # interrupted
               + plays_on(day, 2, start_hour=15, content_id="other-pack"))
    report = build_report(registry, day, day, counted + ignored, set(), NO_PEAKS, {}, AFTER)
    assert rows_by(report)[day].plays == 8 and rows_by(report)[day].audience == 24


def test_today_is_shown_in_progress_and_later_days_not_at_all(registry):
    now = at(date(2024, 9, 5), 10)
    report = build_report(registry, date(2024, 9, 4), date(2024, 9, 6), plays_on(date(2024, 9, 5), 2), set(),
                          NO_PEAKS, {}, now)
    days = rows_by(report)
    assert set(days) == {date(2024, 9, 4), date(2024, 9, 5)}
    assert days[date(2024, 9, 5)].compliant is None and days[date(2024, 9, 4)].compliant is False
    assert next(u for u in report.units if u.unit == UNIT).open_days == 1


def test_peaks_are_learned_from_traffic_and_the_share_of_plays_in_them_reported(registry):
    wednesday = date(2024, 9, 4)
    # a busy 09:00-09:30 every Wednesday, a trickle the rest of the morning
    profile = [(UNIT, 2, m, 1) for m in range(8 * 60, 12 * 60, 5)] + [(UNIT, 2, m, 30) for m in range(540, 570, 5)]
    peaks = learn_peaks(profile, registry.hours_of)
    assert peaks.slots(UNIT, 2) == ["09:00-09:30"]
    plays = plays_on(wednesday, 10)                                        # 08:00 .. 10:15, two in the peak
    report = build_report(registry, wednesday, wednesday, plays, set(), peaks, {}, AFTER)
    assert rows_by(report)[wednesday].peak_share == pytest.approx(0.2)
    other = rows_by(report, "phuong-bach-khoa")[wednesday]
    assert other.peak_share is None                                        # nothing learned there yet


def test_silent_devices_and_device_problems_are_footnoted(registry):
    day = date(2024, 9, 4)
    states = {DEVICE: {"last_seen": at(day, 9), "state": "online", "clock_synced": False, "outbox_depth": 40,
                       "content_version": 2},
              "hbt-bach-khoa-01": {"last_seen": AFTER - timedelta(minutes=1), "state": "online", "content_version": 3}}
    report = build_report(registry, day, day, plays_on(day, 10), {(DEVICE, day)}, NO_PEAKS, states, AFTER,
                          quarantine={"device-mismatch": 2})
    assert rows_by(report)[day].silent == []
    assert rows_by(report, "phuong-bach-khoa")[day].silent == ["hbt-bach-khoa-01"]
    notes = {n.device: n for n in report.devices}
    assert notes[DEVICE].state == "offline"
    assert any("đồng hồ" in p for p in notes[DEVICE].problems)
    assert any("40" in p for p in notes[DEVICE].problems)
    assert any("phiên bản 2" in p for p in notes[DEVICE].problems)
    assert notes["hbt-bach-khoa-01"].state == "online" and notes["hbt-bach-khoa-01"].problems == []
    assert notes["hbt-bach-mai-01"].state == "never seen"
    text = render_table(report)
    assert "device-mismatch: 2" in text and "UBND phường Bạch Đằng" in text


def test_the_latest_content_version_is_the_highest_by_number_not_by_text(registry):
    day = date(2024, 9, 4)
    seen = {"last_seen": AFTER - timedelta(minutes=1), "state": "online"}
    states = {DEVICE: {**seen, "content_version": "2024.08.9"},
              "hbt-bach-khoa-01": {**seen, "content_version": "2024.08.10"},
              "hbt-bach-mai-01": {**seen, "content_version": 3}}       # an old bundle number, sent as an integer
    report = build_report(registry, day, day, [], set(), NO_PEAKS, states, AFTER)
    notes = {n.device: n for n in report.devices}
    assert notes[DEVICE].problems == ["nội dung phiên bản 2024.08.9 (mới nhất: 2024.08.10)"]
    assert notes["hbt-bach-khoa-01"].problems == []
    assert notes["hbt-bach-mai-01"].problems == ["nội dung phiên bản 3 (mới nhất: 2024.08.10)"]
    assert notes["hbt-bach-mai-01"].content_version == "3"
    assert f"{DEVICE} ({UNIT}): nội dung phiên bản 2024.08.9 (mới nhất: 2024.08.10)" in render_table(report)


def test_led_boards_and_tvs_are_each_compared_with_the_newest_on_their_own_kind_of_screen(registry):
    # A TV plays the TV pack (its own versions): an LED board is not behind because of it, nor a TV
    # because of the LED pack.
    day, tv = date(2024, 9, 4), "hbt-ttyt-quan-01"
    seen = {"last_seen": AFTER - timedelta(minutes=1), "state": "online"}
    states = {DEVICE: {**seen, "content_version": "2024.08.1"},
              "hbt-bach-khoa-01": {**seen, "content_version": "2024.08.0"},
              tv: {**seen, "content_version": "demo-2024.08.1-tv"}}
    notes = {n.device: n for n in build_report(registry, day, day, [], set(), NO_PEAKS, states, AFTER).devices}
    assert notes[DEVICE].problems == [] and notes[tv].problems == []
    assert notes["hbt-bach-khoa-01"].problems == ["nội dung phiên bản 2024.08.0 (mới nhất: 2024.08.1)"]


def test_a_report_for_an_earlier_moment_does_not_take_a_later_state_for_a_problem_then(registry):
    # The demo reports its simulated day after its boards have stopped: what they said on the way
    # out (offline since, events waiting) is after the report's moment, not a problem at it.
    day = date(2024, 9, 4)
    then = datetime(2024, 9, 4, 18, 0, tzinfo=CAMPAIGN_TZ)
    later = {"last_seen": datetime(2026, 12, 1, 3, 47, tzinfo=CAMPAIGN_TZ), "state": "offline",
             "outbox_depth": 1, "clock_synced": True, "content_version": "2024.08.1"}
    before = {**later, "last_seen": then - timedelta(hours=2)}
    states = {DEVICE: later, "hbt-bach-khoa-01": before}
    notes = {n.device: n for n in build_report(registry, day, day, [], set(), NO_PEAKS, states, then).devices}
    assert notes[DEVICE].state == "online" and notes[DEVICE].problems == []
    assert notes["hbt-bach-khoa-01"].state == "offline"
    assert notes["hbt-bach-khoa-01"].problems == ["mất kết nối từ 04/09/2024 16:00", "1 sự kiện chờ gửi"]
    # made now, the same states are what they say
    now_notes = {n.device: n for n in build_report(registry, day, day, [], set(), NO_PEAKS, states,
                                                   datetime(2026, 12, 1, 9, 0, tzinfo=CAMPAIGN_TZ)).devices}
    assert now_notes[DEVICE].problems == ["mất kết nối từ 01/12/2026 03:47", "1 sự kiện chờ gửi"]


def test_the_district_summary_gives_the_directives_average(registry):
    first, last = date(2024, 9, 4), date(2024, 9, 6)
    everyone = [p for _, d in registry.devices() for day in (first, date(2024, 9, 5), last)
                for p in plays_on(day, 11, d.id)]
    report = build_report(registry, first, last, everyone, set(), NO_PEAKS, {}, AFTER)
    d = report.district
    assert d.units == len(registry.units)
    khoa_quota_12 = sum(1 for u in registry.units if registry.quota_of(u) > 11)
    assert d.units_compliant_every_day == d.units - khoa_quota_12
    assert d.average_per_device_day == pytest.approx(11.0)
    assert (d.unit_days, d.unit_days_compliant) == (3 * d.units, 3 * d.units_compliant_every_day)
    assert d.closed_days_skipped == 0                                    # Wednesday to Friday: every unit open
    sunday = build_report(registry, date(2024, 9, 8), date(2024, 9, 8), everyone, set(), NO_PEAKS, {}, AFTER)
    assert sunday.district.closed_days_skipped == len(registry.units) and sunday.days == []
    assert all(u.compliant_every_day is None and u.meets_average is None for u in sunday.units)
    # 3/9 a holiday, then an open day: skipped once per unit, and the next day reported.
    after = build_report(registry, date(2024, 9, 3), date(2024, 9, 4), everyone, set(), NO_PEAKS, {}, AFTER)
    assert after.district.closed_days_skipped == len(registry.units)
    assert {d.day for d in after.days} == {date(2024, 9, 4)} and len(after.days) == len(registry.units)


def test_a_unit_averaging_exactly_the_quota_meets_the_directives_average(registry):
    # 9 + 10 + 11 plays over three open days: 10 a day on average, the quota itself, while one
    # day fell short. The directive asks for "on average 10 times a day".
    first, last = date(2024, 9, 4), date(2024, 9, 6)
    plays = plays_on(first, 9) + plays_on(date(2024, 9, 5), 10) + plays_on(last, 11)
    almost = [p for day, n in ((first, 9), (date(2024, 9, 5), 10), (last, 10))
              for p in plays_on(day, n, "hbt-bach-mai-01") + plays_on(day, n, "hbt-bach-mai-02")]
    report = build_report(registry, first, last, plays + almost, set(), NO_PEAKS, {}, AFTER)
    units = {u.unit: u for u in report.units}
    exact = units[UNIT]
    assert exact.quota == 10 and exact.average_per_device_day == pytest.approx(10.0)
    assert exact.meets_average is True and exact.compliant_every_day is False
    short = units["phuong-bach-mai"]                                   # 29 / 3 per device: below
    assert short.average_per_device_day == pytest.approx(29 / 3) and short.meets_average is False
    assert report.district.units_meeting_average == 1
    assert report.district.units_compliant_every_day == 0
    assert "Đơn vị đạt bình quân" in render_table(report)


def test_a_day_the_campaign_covers_in_part_asks_its_share_of_the_quota_rounded_up(registry):
    begins = from_registry(registry).model_copy(update={"first_day": date(2024, 9, 4), "starts": time(13, 30)})
    hours = registry.hours_of(registry.unit(UNIT))
    first = hours.windows(date(2024, 9, 4), CAMPAIGN_TZ)             # 08:00-12:00, 13:30-17:00: 7.5 hours
    assert day_quota(15, begins, first) == 7                           # 3.5 of 7.5 hours: exactly 7
    assert day_quota(10, begins, first) == 5                           # 4.67, rounded up
    assert day_quota(10, begins, hours.windows(date(2024, 9, 5), CAMPAIGN_TZ)) == 10   # the next day: all of it
    assert day_quota(10, begins, []) == 10                             # no hours: nothing to share


def test_a_campaign_after_the_registrys_is_reported_on_its_own_days_for_its_own_units(registry):
    week = from_registry(registry).model_copy(update={
        "id": "tuan-le-y-te", "first_day": date(2024, 10, 14), "last_day": date(2024, 10, 18),
        "target": Target(units=("phuong-bach-dang", "phuong-bach-mai")), "quota": 8})
    monday = date(2024, 10, 14)
    plays = (plays_on(monday, 3, "hbt-bach-khoa-01", campaign="tuan-le-y-te")    # Bách Khoa is not targeted
             + plays_on(monday, 10, campaign="tuan-le-y-te") + plays_on(monday, 2, "hbt-bach-mai-01", campaign="tuan-le-y-te")
             + plays_on(monday, 4, "hbt-bach-mai-02"))                           # the registry's campaign's
    report = build_report(registry, monday, monday, plays, set(), NO_PEAKS, {}, AFTER, campaign=week)
    assert report.untargeted == {"phuong-bach-khoa": 3}
    assert [(d.unit, d.plays, d.quota, d.compliant) for d in report.days] == [
        ("phuong-bach-dang", 10, 8, True), ("phuong-bach-mai", 2, 8, False)]
    assert [(u.unit, u.devices, u.kind) for u in report.units] == [("phuong-bach-dang", 1, "Phường"),
                                                                   ("phuong-bach-mai", 2, "Phường")]
    assert (report.district.closed_days_skipped, report.district.district_quota) == (0, 8)


def test_a_period_from_before_the_campaign_is_reported_from_its_first_day_on(registry):
    report = build_report(registry, date(2024, 8, 18), date(2024, 8, 20), plays_on(date(2024, 8, 19), 10), set(),
                          NO_PEAKS, {}, AFTER)
    days = rows_by(report)
    assert sorted(days) == [date(2024, 8, 19), date(2024, 8, 20)]
    assert (days[date(2024, 8, 19)].compliant, days[date(2024, 8, 20)].compliant) == (True, False)


def test_today_is_judged_from_the_minute_the_unit_closes_even_after_a_morning_only_day(registry):
    friday, saturday = date(2024, 9, 6), date(2024, 9, 7)
    closing = build_report(registry, friday, friday, plays_on(friday, 2), set(), NO_PEAKS, {}, at(friday, 17))
    assert rows_by(closing)[friday].compliant is False                      # 17:00 sharp: closed, judged
    # Bạch Mai opens on Saturday morning only: one window, judged after it.
    for now, judged in ((at(saturday, 11), None), (at(saturday, 12), False)):
        report = build_report(registry, saturday, saturday, [], set(), NO_PEAKS, {}, now)
        assert rows_by(report, "phuong-bach-mai")[saturday].compliant is judged


def test_the_peak_share_of_a_unit_counts_every_board_even_one_without_a_play_in_the_peak(registry):
    wednesday, unit = date(2024, 9, 4), "phuong-bach-mai"
    profile = [(unit, 2, m, 1) for m in range(8 * 60, 12 * 60, 5)] + [(unit, 2, m, 30) for m in range(540, 570, 5)]
    peaks = learn_peaks(profile, registry.hours_of)
    plays = plays_on(wednesday, 2, "hbt-bach-mai-01", start_hour=9) + plays_on(wednesday, 2, "hbt-bach-mai-02",
                                                                                start_hour=14)
    report = build_report(registry, wednesday, wednesday, plays, set(), peaks, {}, AFTER)
    assert rows_by(report, unit)[wednesday].peak_share == pytest.approx(0.5)   # 2 of 4, all from one board


def test_a_units_open_days_are_its_hours_less_its_days_off_within_the_campaigns_days(registry):
    closed = registry.model_copy(update={"campaign": registry.campaign.model_copy(
        update={"days_off": (date(2024, 9, 4),)})})                              # a district-wide day off
    cal = calendar_of(closed, closed.unit(UNIT))
    days = (date(2024, 8, 16), date(2024, 8, 19), date(2024, 9, 4), date(2024, 9, 5), date(2024, 10, 10),
            date(2024, 10, 11))
    assert [cal.is_open(d) for d in days] == [False, True, False, True, True, False]
    assert rows_by(build_report(closed, date(2024, 9, 4), date(2024, 9, 4), plays_on(date(2024, 9, 4), 10), set(),
                                NO_PEAKS, {}, AFTER)) == {}
    week = from_registry(registry).model_copy(update={"first_day": date(2024, 10, 14), "last_day": date(2024, 10, 18)})
    cal = calendar_of(registry, registry.unit(UNIT), week)
    days = (date(2024, 10, 11), date(2024, 10, 14), date(2024, 10, 18), date(2024, 10, 21))
    assert [cal.is_open(d) for d in days] == [False, True, True, False]


def test_a_tvs_note_names_what_it_said_in_a_fixed_order_and_words_it_does_not_know_last():
    said = Counter({"other": 1, "zzz": 1, "standby": 2, "no-reply": 1, "aaa": 1, "to-on": 1})
    assert ScreenTally(not_shown=7, said=said, unmanaged=1).problems() == [
        "TV tắt hoặc không hiển thị khi phát: 7 lượt không được tính (chờ (standby) 2, đang bật 1, "
        "không trả lời qua HDMI-CEC 1, đang ở nguồn vào khác 1, aaa 1, zzz 1)",
        "màn hình không quản lý qua HDMI-CEC: lượt phát được tính nhưng không kiểm tra được TV có bật"]


def test_a_tv_is_judged_on_the_campaigns_completed_plays_within_opening_hours_only(registry, server_in_new_york):
    day, khoa = date(2024, 9, 4), "hbt-bach-khoa-01"
    hours_of = {d.id: registry.hours_of(u) for u, d in registry.devices()}.get
    tv = lambda device, hh, mm, content="ihanoi-promo", completed=True, **screen: PlayRow(  # noqa: E731
        device, at(day, hh, mm), content, completed, 0, **screen)
    plays = [tv(DEVICE, 7, 30, screen_power="standby"),                         # before the desk opens
             tv(DEVICE, 9, 0, "other-pack", screen_power="standby"),            # not the campaign's clip
             tv(DEVICE, 9, 15, completed=False, screen_power="standby"),        # interrupted
             tv("hbt-not-registered-01", 9, 0, screen_power="standby"),         # no such board
             tv(DEVICE, 9, 30),                                                 # an LED board says nothing
             tv(DEVICE, 9, 45, screen_power="on"),                              # shown
             tv(DEVICE, 10, 0, screen_power="standby"), tv(DEVICE, 11, 0, screen_power="standby"),
             tv(DEVICE, 10, 15, screen_power="on", screen_input="other"),
             tv(khoa, 10, 0, screen_power="unmanaged"), tv(khoa, 10, 15, screen_power="unmanaged")]
    assert screen_tallies(plays, "ihanoi-promo", hours_of, CAMPAIGN_TZ) == {
        DEVICE: ScreenTally(not_shown=3, said=Counter({"standby": 2, "other": 1})), khoa: ScreenTally(unmanaged=2)}


def test_each_boards_note_says_word_for_word_what_is_wrong_with_it(registry, server_in_new_york):
    day = date(2024, 9, 4)
    states = {DEVICE: {"last_seen": AFTER - timedelta(minutes=1), "state": "offline", "clock_synced": False,
                       "screen_fault": "không có tín hiệu HDMI", "outbox_depth": 40, "content_version": 2,
                       "software_version": "1.2"},
              "hbt-bach-khoa-01": {"last_seen": AFTER - timedelta(minutes=10), "state": "online", "clock_synced": True,
                                   "outbox_depth": 0, "content_version": "3"},
              "hbt-bach-mai-02": {"last_seen": AFTER - timedelta(minutes=3), "state": "online"}}   # 3 min: still online
    notes = {n.device: n for n in build_report(registry, day, day, [], set(), NO_PEAKS, states, AFTER).devices}
    dang = notes[DEVICE]
    assert dang.problems == ["mất kết nối từ 20/10/2024 11:59", "màn hình tối: không có tín hiệu HDMI",
                             "đồng hồ chưa đồng bộ", "40 sự kiện chờ gửi", "nội dung phiên bản 2 (mới nhất: 3)"]
    assert dang.last_seen == AFTER - timedelta(minutes=1)                     # said in Hà Nội's time
    assert (dang.state, dang.content_version, dang.software_version, dang.outbox_depth, dang.clock_synced,
            dang.screen_fault, dang.screen, dang.not_shown, dang.unmanaged) == (
        "offline", "2", "1.2", 40, False, "không có tín hiệu HDMI", "led", 0, False)
    assert (notes["hbt-bach-khoa-01"].state, notes["hbt-bach-khoa-01"].problems) == (
        "offline", ["mất kết nối từ 20/10/2024 11:50"])
    assert (notes["hbt-bach-mai-01"].state, notes["hbt-bach-mai-01"].problems) == ("never seen", ["chưa từng gửi dữ liệu"])
    assert (notes["hbt-bach-mai-02"].state, notes["hbt-bach-mai-02"].problems) == ("online", [])


def test_plays_a_tv_did_not_show_are_said_per_day_and_the_others_still_counted(registry, server_in_new_york):
    day = date(2024, 9, 4)
    plays = (plays_on(day, 2, start_hour=8, screen_power="standby") + plays_on(day, 10, start_hour=9)
             + plays_on(day, 1, "hbt-bach-mai-01", start_hour=9, screen_power="unmanaged"))
    report = build_report(registry, day, day, plays, set(), NO_PEAKS, {}, AFTER)
    unchecked = next(n for n in report.devices if n.device == "hbt-bach-mai-01")
    assert unchecked.unmanaged is True and unchecked.not_shown == 0 and unchecked.problems[-1].startswith(
        "màn hình không quản lý qua HDMI-CEC")
    note = next(n for n in report.devices if n.device == DEVICE)               # the period's first and last day
    assert note.not_shown == 2 and note.problems[-1] == (
        "TV tắt hoặc không hiển thị khi phát: 2 lượt không được tính (chờ (standby) 2)")
    row = rows_by(report)[day]
    assert (row.plays, row.not_shown, row.compliant, row.kind) == (10, 2, True, "Phường")
    khoa = rows_by(report, "phuong-bach-khoa")[day]                        # no play at all: nothing to say
    assert (khoa.plays, khoa.not_shown, khoa.audience) == (0, 0, 0)


@pytest.fixture
def server_in_new_york(monkeypatch):
    """The server's own zone far from the campaign's: 08:00 in Hà Nội is the evening before there."""
    monkeypatch.setenv("TZ", "America/New_York")
    system_time.tzset()
    yield
    monkeypatch.undo()
    system_time.tzset()


def test_today_is_the_campaigns_day_not_the_servers(registry, server_in_new_york):
    # 06:00 in Hà Nội on 5/9 is still 4/9 on the server: the 5th is today, in progress.
    now = at(date(2024, 9, 5), 6)
    report = build_report(registry, date(2024, 9, 4), date(2024, 9, 6), plays_on(date(2024, 9, 4), 10), set(),
                          NO_PEAKS, {}, now)
    days = rows_by(report)
    assert set(days) == {date(2024, 9, 4), date(2024, 9, 5)} and days[date(2024, 9, 5)].compliant is None


# --- renderings ------------------------------------------------------------------------------
@pytest.fixture
def small_report(registry):
    day = date(2024, 9, 4)
    return build_report(registry, day, date(2024, 9, 5), plays_on(day, 10) + plays_on(date(2024, 9, 5), 4),
                        {(DEVICE, day)}, NO_PEAKS, {}, AFTER)


def test_the_workbook_keeps_dates_numbers_and_booleans_and_vietnamese_names(small_report, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "report.xlsx"
    render_xlsx(small_report, path)
    wb = load_workbook(path)
    assert wb.sheetnames[:4] == ["Báo cáo", "Theo ngày", "Theo đơn vị", "Toàn quận"]
    assert wb["Báo cáo"]["A1"].value.startswith("BÁO CÁO KẾT QUẢ PHÁT: IHANOI")
    ws = wb["Theo ngày"]
    header = [c.value for c in ws[1]]
    assert header[0] == "Ngày" and "Đạt" in header
    rows = [dict(zip(header, (c.value for c in r))) for r in ws.iter_rows(min_row=2)]
    mine = [r for r in rows if r["Mã đơn vị"] == UNIT]
    assert [r["Ngày"].date() for r in mine] == [date(2024, 9, 4), date(2024, 9, 5)]
    assert ws.cell(2, 1).number_format == "dd/mm/yyyy"
    assert mine[0]["Đạt"] is True and mine[1]["Đạt"] is False
    assert mine[0]["Lượt phát trong giờ làm việc"] == 10 and isinstance(mine[0]["Định mức/thiết bị/ngày"], int)
    assert mine[0]["Đơn vị"] == "UBND phường Bạch Đằng"


def test_csv_opens_as_utf8_in_a_spreadsheet_and_json_carries_everything(small_report):
    data = render_csv(small_report)
    assert data.startswith("\ufeff".encode("utf-8"))
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("BÁO CÁO KẾT QUẢ PHÁT: IHANOI") and lines[2].startswith("Kỳ báo cáo: 04/09/2024")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[3:]))))              # after the title lines
    mine = [r for r in rows if r["Mã đơn vị"] == UNIT]
    assert mine[0]["Ngày"] == "2024-09-04" and mine[0]["Đạt"] == "1" and mine[1]["Đạt"] == "0"
    doc = json.loads(render_json(small_report))
    assert doc["district"]["units"] == len(doc["units"])
    assert {"day", "unit", "plays", "quota", "compliant", "peak_share", "audience", "silent"} <= set(doc["days"][0])


# --- from the store, through the command line --------------------------------------------------
def test_the_report_command_reads_the_store(db_url, registry, tmp_path):
    store = open_store(db_url)
    stream = uuid.uuid4()
    day = date(2024, 9, 4)
    msgs = [protocol.Play(device=DEVICE, stream=stream, seq=i + 1, content={"id": "ihanoi-promo", "version": 1,
                          "sha256": "0" * 64}, start=at(day, 8) + timedelta(minutes=20 * i),
                          end=at(day, 8) + timedelta(minutes=20 * i, seconds=40), completed=True, audience=1,
                          reason="peak", clock_synced=True) for i in range(10)]
    store.write_batch({"play": [event_row(m, UNIT, CAMPAIGN_TZ, AFTER) for m in msgs]})
    assert rows_by(report_from_store(store, registry, day, day, AFTER))[day].compliant is True
    store.close()
    out = tmp_path / "r.json"
    assert broker_main(["report", "--database", db_url, "--from", "2024-09-04", "--to", "2024-09-04",
                        "--format", "json", "--out", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    (row,) = [d for d in doc["days"] if d["unit"] == UNIT]
    assert row["plays"] == 10 and row["compliant"] is True
    assert broker_main(["report", "--database", db_url, "--from", "2024-09-04", "--to", "2024-09-04",
                        "--format", "xlsx", "--out", str(tmp_path / "r.xlsx")]) == 0
    assert broker_main(["report", "--database", db_url, "--from", "2024-09-05", "--to", "2024-09-04"]) == 2


def test_pack_versions_from_the_store_give_the_latest_and_a_text_column(db_url, registry, tmp_path, capsys):
    from openpyxl import load_workbook

    store = open_store(db_url)
    day = date(2024, 9, 4)
    unit_of = {d.id: u.id for u, d in registry.devices()}
    beats = [protocol.Health(device=device, time=AFTER - timedelta(minutes=1), uptime_s=60, outbox_depth=0,
                             outbox_dropped=0, software_version="1.2.0", content_id="ihanoi-promo",
                             content_version=version, clock_synced=True)
             for device, version in ((DEVICE, "2024.08.9"), ("hbt-bach-khoa-01", "2024.08.10"))]
    store.write_batch({"health": [event_row(h, unit_of[h.device], CAMPAIGN_TZ, AFTER) for h in beats]},
                      seen=[{"device": h.device, "unit": unit_of[h.device], "last_seen": h.time} for h in beats],
                      health_states=[health_state_row(h, unit_of[h.device]) for h in beats])
    report = report_from_store(store, registry, day, day, AFTER)
    store.close()
    notes = {n.device: n for n in report.devices}
    assert notes[DEVICE].problems == ["nội dung phiên bản 2024.08.9 (mới nhất: 2024.08.10)"]
    assert notes["hbt-bach-khoa-01"].problems == []
    render_xlsx(report, tmp_path / "r.xlsx")
    ws = load_workbook(tmp_path / "r.xlsx")["Thiết bị"]
    header = [c.value for c in ws[1]]
    versions = {r[0].value: r[header.index("Phiên bản nội dung")] for r in ws.iter_rows(min_row=2)}
    assert versions["hbt-bach-khoa-01"].value == "2024.08.10" and versions["hbt-bach-khoa-01"].data_type == "s"

    capsys.readouterr()
    assert broker_main(["devices", "--database", db_url, "--format", "json"]) == 0   # the same rule
    listed = {n["device"]: n for n in json.loads(capsys.readouterr().out)}
    assert "nội dung phiên bản 2024.08.9 (mới nhất: 2024.08.10)" in listed[DEVICE]["problems"]
    assert not any("phiên bản" in p for p in listed["hbt-bach-khoa-01"]["problems"])


# --- spreadsheets never run what a board sent -------------------------------------------------------
@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"), ("2024.08.1", "2024.08.1"), ("a=b", "a=b"), ("", ""), (-2, -2), (1.5, 1.5), (None, None),
])
def test_a_csv_cell_that_a_spreadsheet_would_run_is_written_as_text(value, cell):
    assert formula_safe(value) == cell


def test_a_boards_text_in_the_report_workbook_is_never_a_formula(registry, tmp_path):
    from openpyxl import load_workbook

    day = date(2024, 9, 4)
    seen = {"last_seen": AFTER - timedelta(minutes=1), "state": "online"}
    evil = '=HYPERLINK("http://evil.example/","mở")'
    states = {DEVICE: {**seen, "content_version": evil, "software_version": "@cmd"},
              "hbt-bach-khoa-01": {**seen, "content_version": "+1"}}
    report = build_report(registry, day, day, plays_on(day, 10), set(), NO_PEAKS, states, AFTER)
    render_xlsx(report, tmp_path / "r.xlsx")
    wb = load_workbook(tmp_path / "r.xlsx")
    assert [c.coordinate for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"] == []
    ws = wb["Thiết bị"]
    header = [c.value for c in ws[1]]
    cells = {r[0].value: r[header.index("Phiên bản nội dung")] for r in ws.iter_rows(min_row=2)}
    for device, text in ((DEVICE, evil), ("hbt-bach-khoa-01", "+1")):
        assert cells[device].value == text and cells[device].data_type == "s" and cells[device].quotePrefix
    notes = [c.value for c in wb["Ghi chú"]["A"]]
    assert any(evil in n for n in notes)


def test_today_is_judged_once_the_unit_has_closed(registry):
    today = date(2024, 9, 5)
    at_five_to, after_closing = at(today, 16, 55), at(today, 18)       # the ward closes at 17:00
    for now, judged in ((at_five_to, None), (after_closing, False)):
        report = build_report(registry, today, today, plays_on(today, 2), set(), NO_PEAKS, {}, now)
        assert rows_by(report)[today].compliant is judged
    full = build_report(registry, today, today, plays_on(today, 10), set(), NO_PEAKS, {}, after_closing)
    assert rows_by(full)[today].compliant is True
    assert next(u for u in full.units if u.unit == UNIT).open_days == 1
