"""The campaign contract both sides share: a campaign's window and target, the signed set a board obeys."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ihanoi.contract import campaigns
from ihanoi.contract.campaigns import Campaign, CampaignSet, Target
from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.errors import ProtocolError
from ihanoi.contract.keys import generate, load_private, load_public

IHANOI = Campaign(id="ihanoi", title="iHanoi — Công dân Thủ đô số",
                  directive={"number": "2720/UBND-TTĐT", "date": "2024-08-17", "issuer": "UBND thành phố Hà Nội"},
                  first_day=date(2024, 8, 19), last_day=date(2024, 10, 10), content_id="ihanoi-promo",
                  target={"all": True})


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    generate(folder / "district.key", folder / "district.pub")
    generate(folder / "stranger.key", folder / "stranger.pub")
    return (load_private(folder / "district.key"), load_public(folder / "district.pub"),
            load_private(folder / "stranger.key"))


def a_set(version=1, unit="phuong-bach-mai", *found):
    return CampaignSet(version=version, issued=datetime(2024, 9, 1, 8, tzinfo=CAMPAIGN_TZ), unit=unit,
                       campaigns=found or (IHANOI,))


def test_a_window_is_whole_days_or_honoured_to_the_minute():
    assert IHANOI.window(CAMPAIGN_TZ) == (datetime(2024, 8, 19, tzinfo=CAMPAIGN_TZ),
                                          datetime(2024, 10, 11, tzinfo=CAMPAIGN_TZ))
    week = IHANOI.model_copy(update={"first_day": date(2024, 9, 9), "starts": time(13, 30),
                                     "last_day": date(2024, 9, 13), "ends": time(10, 15)})
    assert not week.active_at(datetime(2024, 9, 9, 13, 29, tzinfo=CAMPAIGN_TZ), CAMPAIGN_TZ)
    assert week.active_at(datetime(2024, 9, 9, 13, 30, tzinfo=CAMPAIGN_TZ), CAMPAIGN_TZ)
    assert week.active_at(datetime(2024, 9, 13, 10, 14, tzinfo=CAMPAIGN_TZ), CAMPAIGN_TZ)
    assert not week.active_at(datetime(2024, 9, 13, 10, 15, tzinfo=CAMPAIGN_TZ), CAMPAIGN_TZ)
    with pytest.raises(ValidationError, match="before first_day"):
        Campaign.model_validate({**IHANOI.model_dump(), "last_day": date(2024, 8, 1)})
    with pytest.raises(ValidationError, match="ends .* before it starts"):
        Campaign.model_validate({**IHANOI.model_dump(), "last_day": IHANOI.first_day, "starts": time(14),
                                 "ends": time(9)})


def test_a_target_is_exactly_one_form():
    assert Target(kinds=("health",)).includes("tyt-bach-mai", "health")
    assert not Target(units=("phuong-bach-mai",)).includes("phuong-vinh-tuy", "ward")
    for bad in ({}, {"all": True, "units": ["phuong-bach-mai"]}):
        with pytest.raises(ValidationError, match="exactly one of"):
            Target.model_validate(bad)


def test_a_signed_set_is_obeyed_and_anything_else_refused_with_its_reason(keys):
    private, public, stranger = keys
    payload = campaigns.sign(a_set(), private)
    assert campaigns.verify(payload, (public,), "phuong-bach-mai").campaigns == (IHANOI,)
    with pytest.raises(ProtocolError, match="bad-signature"):
        campaigns.verify(campaigns.sign(a_set(), stranger), (public,), "phuong-bach-mai")
    with pytest.raises(ProtocolError, match="unsigned"):
        campaigns.verify(payload, (), "phuong-bach-mai")
    with pytest.raises(ProtocolError, match="wrong-target"):
        campaigns.verify(payload, (public,), "phuong-vinh-tuy")
    altered = json.loads(payload)
    body = json.loads(base64.b64decode(altered["body"]))
    body["campaigns"][0]["quota"] = 1                                   # a lower quota, re-encoded
    altered["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    with pytest.raises(ProtocolError, match="bad-signature"):
        campaigns.verify(json.dumps(altered).encode(), (public,), "phuong-bach-mai")


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                                       lambda inner: st.lists(inner, max_size=4)
                                                       | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                                                       max_leaves=20).map(lambda v: json.dumps(v).encode())))
def test_whatever_arrives_on_the_topic_is_a_set_or_a_refusal(keys, payload):
    _private, public, _stranger = keys
    try:
        campaigns.verify(payload, (public,), "phuong-bach-mai")
    except ProtocolError as exc:
        assert exc.reason in ("invalid", "unsigned", "bad-signature", "wrong-target")


def test_the_registry_campaign_is_the_first_campaign_with_its_directive():
    from pathlib import Path

    import ihanoi.contract
    from ihanoi.contract.registry import load_registry
    registry = load_registry(Path(ihanoi.contract.__file__).with_name("units.toml"))     # the shipped one
    first = campaigns.from_registry(registry)
    assert (first.id, first.content_id, first.quota) == ("ihanoi", "ihanoi-promo", registry.campaign.district_quota)
    assert first.directive.number == "2720/UBND-TTĐT" and first.directive.issuer == "UBND Thành phố Hà Nội"
    assert first.target.includes("any-unit", "school") and first.window(CAMPAIGN_TZ)[1].date() == date(2024, 10, 11)
