"""``ihanoi-broker campaign``: a campaign file goes into the store when it fits in every unit's hours,
is refused with the arithmetic when it does not, is listed, shown and ended; a wrong file is one
message naming the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker import cli
from broker.store import open_store
from ihanoi.contract.clock import CAMPAIGN_TZ

NOW = "2024-09-02T08:00:00+07:00"
HEALTH_WEEK = """\
id = "tuan-le-y-te"
title = "Tuần lễ y tế"
first_day = 2024-09-09
last_day = 2024-09-13
starts = "13:30"
content_id = "y-te-promo"
quota = {quota}
min_gap_minutes = 15
play_seconds = 60

[directive]
number = "15/KH-UBND"
date = 2024-09-01
issuer = "UBND quận Hai Bà Trưng"

[target]
{target}
"""


@pytest.fixture
def server(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    open_store(url).close()
    (tmp_path / "server.toml").write_text(f'[database]\nurl = "{url}"\n')
    return tmp_path


def campaign_file(folder: Path, quota=4, target='units = ["phuong-bach-mai", "phuong-bach-khoa"]', **over) -> Path:
    text = HEALTH_WEEK.format(quota=quota, target=target)
    for key, value in over.items():
        text = text.replace(f"{key} = ", f"{key} = {value}\n# was: ", 1)
    path = folder / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def broker(server, capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["campaign", *argv, "--config", str(server / "server.toml"), "--now", NOW])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_campaign_that_cannot_fit_is_refused_with_its_arithmetic(server, capsys):
    code, _, err = broker(server, capsys, "add", str(campaign_file(server, quota=19)), "--no-announce")
    assert code == 2
    # Bách Khoa raised iHanoi to 12: 12 × 16 + 19 × 16 = 496 > 450 open minutes (08–12, 13:30–17);
    # Bách Mai keeps 10: 10 × 16 + 19 × 16 = 464 > 450 as well. Five open days each.
    assert "campaign 'tuan-le-y-te' does not fit: on 10 unit-day(s) of 2 unit(s)" in err
    assert ("phuong-bach-khoa on Mon 2024-09-09: ihanoi 12 × (1 + 15) = 192 + tuan-le-y-te 19 × (1 + 15) = 304 "
            "= 496 minutes needed, 450 minutes open") in err
    assert ("phuong-bach-mai on Fri 2024-09-13: ihanoi 10 × (1 + 15) = 160 + tuan-le-y-te 19 × (1 + 15) = 304 "
            "= 464 minutes needed, 450 minutes open") in err
    code, out, _ = broker(server, capsys, "list")
    assert "tuan-le-y-te" not in out                          # nothing was stored

    code, _, err = broker(server, capsys, "add", str(campaign_file(server, quota=18)), "--no-announce")
    assert code == 2 and "on 5 unit-day(s) of 1 unit(s)" in err and "phuong-bach-mai" not in err   # 448 ≤ 450


def test_a_campaign_is_added_listed_shown_and_ended(server, capsys):
    code, out, _ = broker(server, capsys, "add", str(campaign_file(server)), "--no-announce")
    assert code == 0 and "added tuan-le-y-te: 2024-09-09 13:30 – 2024-09-13" in out
    code, out, _ = broker(server, capsys, "list")
    ihanoi, week = out.splitlines()
    assert ihanoi.startswith("ihanoi ") and "active" in ihanoi and "19/08/2024" in ihanoi   # no directive: its name
    assert week.startswith("tuan-le-y-te") and "planned" in week and "units: phuong-bach-mai, phuong-bach-khoa" in week
    code, out, _ = broker(server, capsys, "show", "tuan-le-y-te")
    assert "directive: số 15/KH-UBND, ngày 01/09/2024, UBND quận Hai Bà Trưng" in out
    assert "2 unit(s): phuong-bach-khoa, phuong-bach-mai" in out

    code, out, _ = broker(server, capsys, "end", "tuan-le-y-te", "--on", "2024-09-11", "--no-announce")
    assert code == 0 and "now 2024-09-09 13:30 – 2024-09-11" in out
    code, _, err = broker(server, capsys, "end", "tuan-le-y-te", "--on", "2024-09-12", "--no-announce")
    assert code == 2 and "can be ended early, not extended" in err
    store = open_store(f"sqlite:///{server / 'store.sqlite'}")
    (week,) = [s for s in store.campaigns.all() if s.id == "tuan-le-y-te"]
    assert week.campaign.last_day.isoformat() == "2024-09-11" and week.ended_at is not None
    store.close()

    code, out, _ = broker(server, capsys, "end", "ihanoi", "--no-announce")      # now: ended to the minute
    assert code == 0 and "now 2024-08-19 – 2024-09-02 08:00" in out
    code, out, _ = broker(server, capsys, "list")
    assert "ended early" in out.splitlines()[0]


def test_a_campaign_ended_before_it_starts_is_withdrawn(server, capsys):
    broker(server, capsys, "add", str(campaign_file(server)), "--no-announce")
    code, out, _ = broker(server, capsys, "end", "tuan-le-y-te", "--no-announce")
    assert code == 0 and "withdrawn" in out
    code, out, _ = broker(server, capsys, "list")
    assert "withdrawn" in out.splitlines()[1]


@pytest.mark.parametrize("change, key, allowed", [
    ({"quota": 0}, "quota: = 0 is not allowed", "greater than or equal to 1"),
    ({"first_day": "2024-09-20"}, "last_day 2024-09-13 is before first_day 2024-09-20", None),
    ({"starts": '"25:00"'}, "starts: = '25:00' is not allowed", "valid time"),
])
def test_a_wrong_campaign_file_names_the_file_the_key_and_what_is_allowed(server, capsys, change, key, allowed):
    path = campaign_file(server, **change)
    code, _, err = broker(server, capsys, "add", str(path), "--no-announce")
    assert code == 2 and f"{path}: " in err and key in err
    assert allowed is None or allowed in err


def test_a_target_names_only_units_and_kinds_that_exist(server, capsys):
    path = campaign_file(server, target='units = ["phuong-atlantis"]')
    code, _, err = broker(server, capsys, "add", str(path), "--no-announce")
    assert code == 2 and "target.units: = ['phuong-atlantis'] is not allowed: not in the units registry" in err
    assert "phuong-bach-mai" in err                                        # the known units are listed
    path = campaign_file(server, target='kinds = ["hospital"]')
    code, _, err = broker(server, capsys, "add", str(path), "--no-announce")
    assert code == 2 and "target.kinds[0]: = 'hospital' is not allowed" in err and "'ward'" in err
    path = campaign_file(server, target="all = true\nunits = [\"phuong-bach-mai\"]")
    code, _, err = broker(server, capsys, "add", str(path), "--no-announce")
    assert code == 2 and "exactly one of" in err


def test_announcing_needs_a_signing_key_and_says_where_to_give_it(server, capsys):
    code, _, err = broker(server, capsys, "announce")
    assert code == 2 and "campaigns.signing_key: is required to announce campaigns" in err
    assert str(server / "server.toml") in err


def test_the_quotas_fit_rule_counts_only_open_days(server, capsys):
    # 2024-09-02 is National Day: the one-stop desks are closed, nothing is needed of them
    path = campaign_file(server, quota=19, first_day="2024-09-02", last_day="2024-09-02", starts='"08:00"')
    code, out, err = broker(server, capsys, "add", str(path), "--no-announce")
    assert code == 0, err


_ = CAMPAIGN_TZ
