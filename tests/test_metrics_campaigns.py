"""/metrics and the fleet's TV tallies per campaign: every campaign active today is its own series
(label ``campaign``), counted by its own report, and a TV that was off during a second campaign's
plays is told on the fleet page as it is for the iHanoi promo's."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from broker.store import open_store
from broker.web import queries
from ihanoi.contract.campaigns import Campaign
from tests.campaign_support import Boards
from ihanoi.contract.clock import CAMPAIGN_TZ
from tests.test_dashboard_support import make_app, users  # noqa: F401  (fixture)

MON, FRI = date(2024, 9, 9), date(2024, 9, 13)
NOW = datetime(2024, 9, 13, 15, 0, tzinfo=CAMPAIGN_TZ)        # Friday afternoon: today is in progress
TV = "hbt-ttyt-quan-01"                                        # the health centre's TV (screen = "lcd")
HEALTH_WEEK = Campaign(id="tuan-le-y-te", title="Tuần lễ y tế", first_day=MON, last_day=FRI,
                       directive={"number": "15/KH-UBND", "date": "2024-09-01", "issuer": "UBND quận Hai Bà Trưng"},
                       content_id="y-te-promo", target={"units": ["phuong-bach-mai", "ttyt-quan"]}, quota=4,
                       min_gap_minutes=30)
# Planned for next week: not active today, so no series of its own.
ELECTION = HEALTH_WEEK.model_copy(update={"id": "bau-cu", "title": "Bầu cử", "content_id": "bau-cu",
                                          "first_day": date(2024, 9, 16), "last_day": date(2024, 9, 20)})
UNIT_OF = {"hbt-bach-mai-01": "phuong-bach-mai", "hbt-bach-mai-02": "phuong-bach-mai",
           "hbt-bach-dang-01": "phuong-bach-dang", TV: "ttyt-quan"}


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), CAMPAIGN_TZ)


@pytest.fixture
def app(tmp_path, registry, users):  # noqa: F811
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = open_store(url)
    store.campaigns.add(HEALTH_WEEK, 45, at(MON, 6))
    store.campaigns.add(ELECTION, 45, at(MON, 6))
    boards = Boards(UNIT_OF, NOW)
    # Friday so far: the Bạch Mai boards made 6 and 10 plays of iHanoi, the older Bạch Đằng board 10
    # (naming no campaign), and 4 and 2 of the health week; the health centre's TV made 3 of the
    # health week of which the TV showed 1 (standby, then another input), and 2 of iHanoi, 1 in standby.
    for i in range(6):
        boards.play("hbt-bach-mai-01", at(FRI, 8) + timedelta(minutes=20 * i), "ihanoi")
    for i in range(10):
        boards.play("hbt-bach-mai-02", at(FRI, 8) + timedelta(minutes=20 * i), "ihanoi")
        boards.play("hbt-bach-dang-01", at(FRI, 8) + timedelta(minutes=20 * i))
    for i in range(4):
        boards.play("hbt-bach-mai-01", at(FRI, 13, 30) + timedelta(minutes=30 * i), "tuan-le-y-te", "y-te-promo")
    for i in range(2):
        boards.play("hbt-bach-mai-02", at(FRI, 13, 30) + timedelta(minutes=30 * i), "tuan-le-y-te", "y-te-promo")
    for i, (power, source) in enumerate((("on", "ours"), ("standby", "unknown"), ("on", "other"))):
        boards.play(TV, at(FRI, 9) + timedelta(minutes=40 * i), "tuan-le-y-te", "y-te-promo",
                    {"power": power, "input": source})
    boards.play(TV, at(FRI, 14), "ihanoi", screen={"power": "on", "input": "ours"})
    boards.play(TV, at(FRI, 14, 30), "ihanoi", screen={"power": "standby"})
    boards.play(TV, at(MON, 9), "tuan-le-y-te", "y-te-promo", {"power": "standby"})    # Monday: the fleet's week
    store.write_batch({"play": boards.rows})
    store.close()
    return make_app(tmp_path, url, registry, users, now=NOW)


def scrape(app) -> dict:
    with TestClient(app) as client:
        text = client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_count_every_campaign_active_today_by_its_own_report(app, registry):
    metrics = scrape(app)
    web = app.state.web

    def series(name):
        return {dict(labels)["campaign"]: value for (n, labels), value in metrics.items() if n == name}

    assert series("ihanoi_plays_today") == {"ihanoi": 6 + 10 + 10 + 1, "tuan-le-y-te": 4 + 2 + 1}
    assert series("ihanoi_plays_not_shown_today") == {"ihanoi": 1, "tuan-le-y-te": 2}
    # the health week targets two units, both open on Friday; iHanoi every unit open on Friday
    assert series("ihanoi_units_open_today")["tuan-le-y-te"] == 2
    week = queries.compliance(web.store, registry, FRI, FRI, NOW, web.offline_after, campaign=HEALTH_WEEK)
    everyone = queries.compliance(web.store, registry, FRI, FRI, NOW, web.offline_after)
    assert series("ihanoi_units_open_today")["ihanoi"] == len(everyone.days) > 2
    # behind so far: Bạch Mai's second board has 2 of 4, the TV 1 of 4; for iHanoi, 6 of 10 at Bạch Mai
    assert series("ihanoi_units_behind_quota")["tuan-le-y-te"] == sum(bool(d.below_quota) for d in week.days) == 2
    assert series("ihanoi_units_behind_quota")["ihanoi"] == sum(bool(d.below_quota) for d in everyone.days)
    assert {d.unit: d.below_quota for d in week.days} == {"phuong-bach-mai": ["hbt-bach-mai-02"], "ttyt-quan": [TV]}
    # the fleet page's tally of the week, per campaign: Monday's standby play counts too
    assert series("ihanoi_plays_not_shown_recent") == {"ihanoi": 1, "tuan-le-y-te": 3}


def test_the_fleet_tells_of_a_tv_off_during_any_active_campaigns_plays(app, registry):
    web = app.state.web
    rows = {r.note.device: r.note for r in queries.fleet(web.store, registry, NOW, web.offline_after)}
    assert rows[TV].not_shown == 4                      # 3 of the health week, 1 of iHanoi
    problem = next(p for p in rows[TV].problems if p.startswith("TV tắt"))
    assert "4 lượt không được tính" in problem
    per_campaign = queries.recent_screens_per_campaign(web.store, registry, NOW)
    assert {c: t[TV].not_shown for c, t in per_campaign.items() if TV in t} == {"ihanoi": 1, "tuan-le-y-te": 3}
    assert per_campaign[HEALTH_WEEK.id][TV].said == Counter({"standby": 2, "other": 1})
