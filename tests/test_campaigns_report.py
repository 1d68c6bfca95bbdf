"""Reports per campaign: each campaign counted by the report's rules over the units it targets, equal
to what was stored; a play naming a campaign its unit is not targeted by is kept and said, not
counted; a day the campaign covers only in part asks its share; the exports carry the directive's
reference; the summary across campaigns says which units comply with all their directives."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta

import pytest

from broker import cli
from broker.report.build import campaign_reports, report_from_store
from broker.report.render import footnotes
from broker.store import open_store
from ihanoi.contract.campaigns import Campaign
from tests.campaign_support import Boards
from ihanoi.contract.clock import CAMPAIGN_TZ
from tests.postgres import db_url  # noqa: F401  (fixture)

MON, FRI = date(2024, 9, 9), date(2024, 9, 13)
AFTER = datetime(2024, 9, 14, 12, 0, tzinfo=CAMPAIGN_TZ)
WEEK = Campaign(id="tuan-le-y-te", title="Tuần lễ y tế", first_day=MON, last_day=FRI,
                directive={"number": "15/KH-UBND", "date": "2024-09-01", "issuer": "UBND quận Hai Bà Trưng"},
                content_id="y-te-promo", target={"units": ["phuong-bach-mai", "phuong-bach-khoa"]}, quota=4,
                min_gap_minutes=30)
UNIT_OF = {"hbt-bach-mai-01": "phuong-bach-mai", "hbt-bach-mai-02": "phuong-bach-mai",
           "hbt-bach-khoa-01": "phuong-bach-khoa", "hbt-bach-dang-01": "phuong-bach-dang"}


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), CAMPAIGN_TZ)


@pytest.fixture
def stored(db_url):
    store = open_store(db_url)
    store.campaigns.add(WEEK, 45, AFTER)
    boards = Boards(UNIT_OF, AFTER)
    for n, day in enumerate((MON, MON + timedelta(days=1), MON + timedelta(days=2), MON + timedelta(days=3), FRI)):
        for device in UNIT_OF:
            for i in range(10 + (device == "hbt-bach-khoa-01") * 2 - (n == 2 and device == "hbt-bach-mai-02")):
                # the older board at Bạch Đằng names no campaign: its plays are iHanoi's
                boards.play(device, at(day, 8) + timedelta(minutes=20 * i),
                            None if device == "hbt-bach-dang-01" else "ihanoi")
            if device != "hbt-bach-dang-01":
                for i in range(4 - (n == 4 and device == "hbt-bach-khoa-01")):
                    boards.play(device, at(day, 14) + timedelta(minutes=35 * i), "tuan-le-y-te", "y-te-promo")
    boards.play("hbt-bach-dang-01", at(MON, 15), "tuan-le-y-te", "y-te-promo")   # not targeted: kept, said
    boards.play("hbt-bach-dang-01", at(MON, 16), "bau-cu-2026", "bau-cu")          # unknown campaign: kept, said
    store.write_batch({"play": boards.rows})
    yield store, boards
    store.close()


def test_each_campaigns_report_equals_what_the_boards_recorded(stored, registry):
    store, boards = stored
    reports, summary = campaign_reports(store, registry, ["ihanoi", "tuan-le-y-te"], MON, FRI, AFTER)
    for report in reports:
        counted = {(report.campaign.id, dev, d.day): n for d in report.days for dev, n in d.plays_by_device.items()}
        recorded = {k: n for k, n in boards.records.items() if k[0] == report.campaign.id and k[1] in UNIT_OF
                    and (report.campaign.id == "ihanoi" or UNIT_OF[k[1]] != "phuong-bach-dang")}
        assert {k: n for k, n in counted.items() if n or k in recorded} == recorded
    ihanoi, week = reports
    assert {u.unit for u in week.units} == {"phuong-bach-mai", "phuong-bach-khoa"}
    assert week.untargeted == {"phuong-bach-dang": 1}
    assert any("phuong-bach-dang: 1 lượt phát ghi chiến dịch tuan-le-y-te" in n for n in footnotes(week))
    khoa = {d.day: d for d in week.days if d.unit == "phuong-bach-khoa"}
    assert khoa[FRI].compliant is False and khoa[MON].compliant is True and khoa[MON].quota == 4
    mai = {d.day: d for d in ihanoi.days if d.unit == "phuong-bach-mai"}
    assert mai[MON + timedelta(days=2)].compliant is False and mai[MON + timedelta(days=2)].below_quota == \
        ["hbt-bach-mai-02"]
    bach_dang = {d.day: d for d in ihanoi.days if d.unit == "phuong-bach-dang"}
    assert all(d.plays == 10 and d.compliant for d in bach_dang.values())            # an old board counts
    across = {u.unit: u for u in summary.units}
    # The directive's measure, per campaign: Bách Khoa played 19 of the week's 20 (3.8 < 4 a day); Bạch Mai's
    # two boards 99 of iHanoi's 100 (9.9 < 10); Bạch Đằng, targeted by iHanoi alone, played all of them.
    assert across["phuong-bach-khoa"].verdicts == {"ihanoi": True, "tuan-le-y-te": False}
    assert across["phuong-bach-mai"].verdicts == {"ihanoi": False, "tuan-le-y-te": True}
    assert across["phuong-bach-dang"].verdicts == {"ihanoi": True} and across["phuong-bach-dang"].complies_with_all
    assert summary.unknown == {"bau-cu-2026": 1}
    assert not across["phuong-bach-khoa"].complies_with_all and not across["phuong-bach-mai"].complies_with_all


def test_a_day_the_campaign_covers_in_part_asks_its_share_of_the_quota(stored, registry):
    store, _ = stored
    half = WEEK.model_copy(update={"starts": time(13, 30)})          # Monday from 13:30: 210 of 450 open minutes
    report = report_from_store(store, registry, MON, FRI, AFTER, campaign=half)
    mon = {d.unit: d for d in report.days if d.day == MON}
    assert mon["phuong-bach-mai"].quota == 2 and mon["phuong-bach-mai"].plays == 8   # ceil(4 × 210/450)
    early = [d for d in report_from_store(store, registry, MON, MON, AFTER,
                                          campaign=WEEK.model_copy(update={"starts": time(15)})).days]
    assert all(d.plays == 8 - 2 * 2 for d in early if d.unit == "phuong-bach-mai")   # 14:00 and 14:35 are before


def test_the_command_reports_the_campaign_asked_with_its_directive_in_the_title(stored, db_url, capsys):
    assert cli.main(["report", "--database", db_url, "--campaign", "tuan-le-y-te", "--from", "2024-09-09", "--to",
                     "2024-09-13", "--format", "csv"]) == 0
    text = capsys.readouterr().out
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == "BÁO CÁO KẾT QUẢ PHÁT: TUẦN LỄ Y TẾ (mã chiến dịch tuan-le-y-te)"
    assert lines[1] == "Thực hiện văn bản số 15/KH-UBND ngày 01/09/2024 của UBND quận Hai Bà Trưng"
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[3:]))))
    assert {r["Mã đơn vị"] for r in rows} == {"phuong-bach-mai", "phuong-bach-khoa"}
    assert cli.main(["report", "--database", db_url, "--campaign", "bau-cu"]) == 2
    assert "no campaign 'bau-cu' in the store (known: ihanoi, tuan-le-y-te)" in capsys.readouterr().err


def test_by_default_the_active_campaigns_and_the_summary_across_them(stored, db_url, capsys, tmp_path):
    from openpyxl import load_workbook

    now = ["--now", "2024-09-11T10:00:00+07:00"]
    assert cli.main(["report", "--database", db_url, "--format", "json", *now]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["campaign"]["id"] for c in doc["campaigns"]] == ["ihanoi", "tuan-le-y-te"]
    assert doc["unknown_campaigns"] == {"bau-cu-2026": 1}      # active then
    assert doc["campaigns"][0]["district"]["first"] == "2024-08-19"                          # each its own window
    assert cli.main(["report", "--database", db_url, "--format", "json", "--from", "2024-09-09", "--to",
                     "2024-09-13", "--now", AFTER.isoformat()]) == 0                        # those of the period
    doc = json.loads(capsys.readouterr().out)
    assert [c["campaign"]["id"] for c in doc["campaigns"]] == ["ihanoi", "tuan-le-y-te"]
    assert {r["unit"]: r["all"] for r in doc["across"]}["phuong-bach-dang"] is True
    out = tmp_path / "r.xlsx"
    assert cli.main(["report", "--database", db_url, "--format", "xlsx", "--out", str(out), *now]) == 0
    wb = load_workbook(out)
    assert wb.sheetnames[:2] == ["Báo cáo", "Theo ngày"] and "Theo ngày (2)" in wb.sheetnames
    cover = [r[0] for r in wb["Báo cáo"].iter_rows(values_only=True) if r and r[0]]
    assert "Thực hiện văn bản số 15/KH-UBND ngày 01/09/2024 của UBND quận Hai Bà Trưng" in cover
    assert any(str(line).startswith("TỔNG HỢP CÁC CHIẾN DỊCH (ihanoi, tuan-le-y-te)") for line in cover)
    assert cli.main(["report", "--database", db_url, "--format", "table", "--now", "2024-09-20T10:00:00+07:00"]) == 0
    assert "mã chiến dịch tuan-le-y-te" not in capsys.readouterr().out          # over by then: only iHanoi
