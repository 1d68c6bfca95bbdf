"""Campaigns on one board: the signed set it obeys, and the screen shared between campaigns.

The set: only a set signed with a trusted content key, for this unit, newer than the board's is
applied; it is kept in the board's file and obeyed offline. The sharing: every campaign's quota
is met, no two plays overlap or come closer than ``between``, each campaign keeps its gap, every
campaign gets plays at the busy hours, and a board with only the registry's campaign plays
exactly as the single planner did.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.campaign_plan import CampaignPlanner, EvenPlanner, capacity, day_rules
from edge.campaign_sim import campaign_rules, simulate_campaigns
from edge.campaigns import CampaignBook
from edge.localdb import open_local_db
from edge.planner import PlanRules
from edge.simulation import simulate
from edge.traffic import TrafficModel
from ihanoi.contract import campaigns
from ihanoi.contract.campaigns import Campaign, CampaignSet
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from ihanoi.contract.errors import ProtocolError
from ihanoi.contract.opendays import Calendar
from ihanoi.contract.registry import load_registry
from ihanoi.tools.tracegen import DEFAULT_HOURS, generate_onsets
from tests.test_campaign_contract import keys  # noqa: F401  (the district's and a stranger's keys)

UNIT = "phuong-bach-dang"
MON = date(2024, 9, 9)                       # a week with no holiday
DIRECTIVE = {"number": "15/KH-UBND", "date": "2024-09-01", "issuer": "UBND quận Hai Bà Trưng"}
IHANOI = campaigns.from_registry(load_registry())
VNEID = Campaign(id="vneid", title="Tuần lễ VNeID", directive=DIRECTIVE, first_day=MON, last_day=date(2024, 9, 20),
                 content_id="vneid-promo", target={"kinds": ["ward"]}, quota=6, min_gap_minutes=30)
BASE = PlanRules(calendar=Calendar(DEFAULT_HOURS, first_day=IHANOI.first_day, last_day=IHANOI.last_day), quota=10)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=CAMPAIGN_TZ)


def announcement(key, version: int, *found: Campaign, unit: str = UNIT) -> bytes:
    return campaigns.sign(CampaignSet(version=version, issued=at(MON, 7), unit=unit, campaigns=found), key)


def book(folder, trusted, clock=None) -> CampaignBook:
    clock = clock or SimClock(at(MON, 7))
    return CampaignBook(open_local_db(folder, clock), trusted, UNIT, IHANOI, CAMPAIGN_TZ, clock)


# --- the set the board obeys ------------------------------------------------------------------
def test_before_any_set_the_board_plays_the_registrys_campaign(tmp_path, keys):
    b = book(tmp_path, (keys[1],))
    assert b.version is None and b.campaigns == (IHANOI,)
    assert b.active_at(at(MON, 9)) == [IHANOI] and b.active_at(at(date(2024, 10, 11), 9)) == []


def test_a_signed_set_is_applied_kept_across_restarts_and_never_replaced_by_an_older_one(tmp_path, keys):
    district, trusted, _ = keys
    b = book(tmp_path, (trusted,))
    applied = b.offer(announcement(district, 3, IHANOI, VNEID))
    assert applied.version == 3 and [c.id for c in b.campaigns] == ["ihanoi", "vneid"]
    assert b.offer(announcement(district, 3, IHANOI, VNEID)) is None          # re-delivered: not news
    for version in (3, 2):                                                     # equal but different, older
        with pytest.raises(ProtocolError) as refused:
            b.offer(announcement(district, version, IHANOI))
        assert refused.value.reason == "stale"
    assert b.offer(b"") is None                                                # the retained copy withdrawn
    b.db.close()
    again = book(tmp_path, (trusted,))                                         # a restart without network
    assert again.version == 3 and [c.id for c in again.campaigns] == ["ihanoi", "vneid"]
    assert again.offer(announcement(district, 4, VNEID)).version == 4
    assert [c.id for c in again.campaigns] == ["vneid"]
    assert b.refused == Counter({"stale": 2}) and again.refused == Counter()


@pytest.mark.parametrize("case, reason", [
    ("stranger", "bad-signature"),
    ("no keys", "unsigned"),
    ("other unit", "wrong-target"),
    ("tampered", "bad-signature"),
    ("not json", "bad-json"),
    ("not an announcement", "invalid"),
])
def test_a_set_the_district_did_not_sign_for_this_unit_is_refused_counted_and_changes_nothing(tmp_path, keys, case,
                                                                                                reason):
    district, trusted, stranger = keys
    b = book(tmp_path, () if case == "no keys" else (trusted,))
    payload = {
        "stranger": announcement(stranger, 9, VNEID),
        "no keys": announcement(district, 9, VNEID),
        "other unit": announcement(district, 9, VNEID, unit="phuong-bach-mai"),
        "tampered": announcement(district, 9, VNEID).replace(b'"signature":"', b'"signature":"AAAA'),
        "not json": b"\xff{",
        "not an announcement": b'{"schema": "ihanoi.campaign-announcement/1"}',
    }[case]
    with pytest.raises(ProtocolError) as refused:
        b.offer(payload)
    assert refused.value.reason in (reason, "invalid")
    assert b.campaigns == (IHANOI,) and sum(b.refused.values()) == 1 and b.last_refusal
    assert b.figures()["campaign_set_refused"] == dict(b.refused)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300),
                 st.builds(lambda d: __import__("json").dumps(d).encode(),
                           st.dictionaries(st.sampled_from(["schema", "key_id", "body", "signature", "x"]),
                                           st.one_of(st.text(max_size=40), st.integers(), st.none()), max_size=5))))
def test_any_bytes_on_the_campaigns_topic_are_refused_with_a_reason_never_a_crash(tmp_path, keys, payload):
    b = book(tmp_path / "fuzz", (keys[1],))
    try:
        assert b.offer(payload) is None and payload == b""
    except ProtocolError as exc:
        assert exc.reason in ("bad-json", "invalid", "bad-signature", "too-deep", "oversize")
    assert b.campaigns == (IHANOI,)
    b.db.close()


# --- a campaign's day -----------------------------------------------------------------------
def test_a_campaign_starting_or_ending_mid_day_is_clipped_to_the_minute_with_its_quota_in_proportion():
    week = VNEID.model_copy(update={"starts": time(13, 30), "last_day": date(2024, 9, 13), "ends": time(10, 15)})
    rules = campaign_rules(BASE)(week)
    first, middle, last = (day_rules(week, rules, d) for d in (MON, date(2024, 9, 11), date(2024, 9, 13)))
    assert middle == rules
    assert first.hours.intervals(0) == [(time(13, 30), time(17, 0))]
    assert first.quota == 3                                   # 210 of 450 open minutes: 6 * 210 / 450 = 2.8
    assert last.hours.intervals(4) == [(time(8, 0), time(10, 15))] and last.quota == 2
    assert capacity(last, date(2024, 9, 13), 10 * 3600, None) == 1          # 10:00-10:15 holds one 45 s play
    assert capacity(last, date(2024, 9, 13), 10 * 3600 + 14 * 60 + 30, None) == 0
    late = VNEID.model_copy(update={"first_day": MON, "starts": time(17, 30)})
    assert not day_rules(late, rules, MON).calendar.is_open(MON)


# --- sharing the screen -------------------------------------------------------------------------
def test_the_registrys_campaign_alone_plays_exactly_as_the_single_planner_did():
    first = date(2024, 9, 2)
    onsets = generate_onsets(first, 14, seed=5)
    rules = PlanRules(calendar=Calendar(DEFAULT_HOURS, first_day=IHANOI.first_day, last_day=IHANOI.last_day), quota=10)
    single = simulate(onsets, rules, first, first + timedelta(days=13))
    shared = simulate_campaigns(onsets, rules, [IHANOI], first, first + timedelta(days=13))
    assert [(p.start, p.reason, p.audience) for p in shared.plays] == [(p.start, p.reason, p.audience)
                                                                      for p in single.plays]
    assert len(single.plays) == 80                 # 8 open days (2 and 3 September are holidays)


def busy_bins(onsets, day: date, share: float = 0.25) -> set[int]:
    """The day's busiest 5-minute bins (the top quarter of the bins that saw anyone): its peaks."""
    counts = Counter(int((t - at(day, 0)).total_seconds() // 300) for t in onsets if t.date() == day)
    ranked = sorted(counts, key=counts.get, reverse=True)
    return set(ranked[:max(1, int(len(ranked) * share))])


def test_two_overlapping_campaigns_on_a_simulated_week_meet_every_quota_on_every_board_and_share_the_peaks():
    """iHanoi targets every unit, VNeID the wards: a ward's board plays both, a clinic's board iHanoi only."""
    registry = load_registry()
    boards = {"phuong-bach-dang": 11, "ttyt-quan": 12}
    learn = MON - timedelta(days=7)
    for unit_id, seed in boards.items():
        unit = registry.unit(unit_id)
        hours = registry.hours_of(unit)
        rules = PlanRules(calendar=Calendar(hours), quota=registry.quota_of(unit))
        mine = [c for c in (IHANOI, VNEID) if c.target.includes(unit.id, unit.kind)]
        onsets = generate_onsets(learn, 12, hours=hours, seed=seed)
        result = simulate_campaigns(onsets, rules, mine, learn, MON + timedelta(days=4),
                                    play_seconds={"vneid": 75.0})
        assert result.violations == [] and result.short() == []
        week = [p for p in result.plays if p.start.date() >= MON]
        assert {p.campaign for p in week} == {c.id for c in mine}
        days = [d for d in result.days if d.day >= MON]
        assert len(days) == 5 and all(d.plays == d.quota for d in days)
        assert all(d.quota == {c.id: c.quota if c is VNEID else rules.quota for c in mine} for d in days)
        for c in mine:     # each campaign gets a fair part of its plays at the peaks (chance: a quarter)
            own = [p for p in week if p.campaign == c.id]
            at_peak = sum(int((p.start - at(p.start.date(), 0)).total_seconds() // 300)
                          in busy_bins(onsets, p.start.date()) for p in own)
            assert at_peak >= 0.4 * len(own), (unit_id, c.id, at_peak, len(own))
        assert sum(d.audience for d in days) > sum(d.even_audience for d in days)
        assert sum(d.audience for d in days) <= sum(d.hindsight_bound for d in days)


def test_a_campaign_that_does_not_seek_peaks_is_spread_evenly_and_still_shares_the_screen():
    even = VNEID.model_copy(update={"id": "notice", "seek_peaks": False, "quota": 5, "min_gap_minutes": 20})
    onsets = generate_onsets(MON - timedelta(days=7), 12, seed=4)
    result = simulate_campaigns(onsets, BASE, [IHANOI, even], MON - timedelta(days=7), MON + timedelta(days=4))
    assert result.violations == [] and result.short() == []
    for day in (MON + timedelta(days=i) for i in range(5)):
        starts = [p.start for p in result.plays if p.campaign == "notice" and p.start.date() == day]
        assert len(starts) == 5
        # 450 open minutes / 5: one play every 90 minutes of open time, give or take a held screen.
        open_minutes = [(s - at(day, 8)).total_seconds() / 60 if s.hour < 12 else
                        (s - at(day, 13, 30)).total_seconds() / 60 + 240 for s in starts]
        expected = [45 + 90 * i for i in range(5)]
        assert max(abs(a - b) for a, b in zip(open_minutes, expected)) <= 5, open_minutes


def test_a_campaign_ending_mid_day_stops_at_its_minute_and_one_starting_mid_day_begins_at_its_minute():
    ends = VNEID.model_copy(update={"first_day": MON, "starts": time(9, 40), "last_day": date(2024, 9, 11),
                                    "ends": time(10, 15)})
    onsets = generate_onsets(MON - timedelta(days=7), 10, seed=2)
    result = simulate_campaigns(onsets, BASE, [IHANOI, ends], MON - timedelta(days=7), date(2024, 9, 12))
    assert result.violations == [] and result.short() == []
    own = [p for p in result.plays if p.campaign == "vneid"]
    assert min(p.start for p in own) >= at(MON, 9, 40)          # 350 of 450 open minutes on Monday: 5 plays
    assert max(p.end for p in own) <= at(date(2024, 9, 11), 10, 15)
    assert not [p for p in own if p.start.date() == date(2024, 9, 12)]
    assert Counter(p.start.date() for p in own) == {MON: 5, date(2024, 9, 10): 6, date(2024, 9, 11): 2}


def test_a_new_set_ending_a_campaign_today_stops_it_at_once_and_the_others_carry_on():
    model = TrafficModel(DEFAULT_HOURS)
    planner = CampaignPlanner(model, campaign_rules(BASE), [IHANOI, VNEID])
    onsets = generate_onsets(MON, 1, seed=9)
    made = Counter()
    now = at(MON, 7, 40)
    while now < at(MON, 17):
        if now == at(MON, 12):
            planner.set_campaigns([IHANOI, VNEID.model_copy(update={"last_day": MON, "ends": time(12)})])
        chosen = planner.next_play(now, [t for t in onsets if now - timedelta(minutes=20) <= t <= now])
        if chosen:
            planner.record_play(chosen.campaign, chosen.start, chosen.start + timedelta(seconds=45), chosen.reason)
            made[(chosen.campaign, chosen.start < at(MON, 12))] += 1
        now += timedelta(minutes=1)
    assert made[("vneid", False)] == 0 and made[("vneid", True)] >= 1
    assert made[("ihanoi", True)] + made[("ihanoi", False)] == 10


# --- the coordinator's rules, for any campaigns that fit ---------------------------------------------
campaign_specs = st.lists(st.tuples(st.integers(1, 12), st.sampled_from([10, 15, 20, 30, 45]), st.booleans(),
                                    st.sampled_from([20.0, 45.0, 90.0])), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None)
@given(specs=campaign_specs, seed=st.integers(0, 10_000), between=st.sampled_from([1, 2, 5]))
def test_any_campaigns_that_fit_meet_every_quota_and_never_share_the_screen(specs, seed, between):
    """"Fit": each campaign's plays with its gap, and all plays one after the other with ``between``,
    take at most half the open time (the rest is the planner's room to choose and to catch up)."""
    open_seconds = DEFAULT_HOURS.open_seconds(0)
    gap = timedelta(minutes=between)
    if sum(q * (play + gap.total_seconds()) for q, _, _, play in specs) > open_seconds / 2:
        return
    if any(q * g * 60 > open_seconds / 2 for q, g, _, _ in specs):
        return
    found = [VNEID.model_copy(update={"id": f"c{i}", "quota": q, "min_gap_minutes": g, "seek_peaks": peaks})
             for i, (q, g, peaks, _) in enumerate(specs)]
    onsets = generate_onsets(MON - timedelta(days=1), 2, seed=seed)
    result = simulate_campaigns(onsets, BASE, found, MON - timedelta(days=1), MON, between=gap,
                                play_seconds={f"c{i}": play for i, (_, _, _, play) in enumerate(specs)})
    assert result.violations == []
    assert result.short() == []
    plays = sorted(result.plays, key=lambda p: p.start)
    assert all(b.start >= a.end + gap for a, b in itertools.pairwise(plays))


def test_the_even_planner_makes_a_missed_play_as_soon_as_its_gap_allows():
    even = EvenPlanner(dataclasses.replace(campaign_rules(BASE)(VNEID), quota=3, min_gap=timedelta(minutes=20)))
    assert even.next_play(at(MON, 7)) is None                     # closed yet
    due = even.upcoming()
    assert [t.strftime("%H:%M") for t in due] == ["09:14", "11:44", "15:44"]
    assert even.next_play(due[0] - timedelta(minutes=1)) is None
    assert even.next_play(due[0]).reason == "peak"
    late = even.next_play(due[0] + timedelta(minutes=60))         # the screen was busy: made late
    assert late.reason == "catch-up"
    even.record_play(late.start, late.start + timedelta(seconds=45), late.reason)
    assert even.next_play(late.start + timedelta(minutes=30)) is None      # the next one is not due yet
    assert even.next_play(due[1] + timedelta(minutes=5)).reason == "peak"
    assert even.remaining(due[1]) == 2 and even.plays_today() == 1
