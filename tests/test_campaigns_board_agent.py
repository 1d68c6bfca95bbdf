"""The agent and the district's campaign set, through a real Mosquitto.

A board that finds a signed set retained on its unit's topic plays both campaigns of it, each
with its own pack and quota, every play message naming its campaign; a set signed by a stranger
is refused (answered on ``cmd-result``) and the board keeps the set it has; a board with no
network at all stops a campaign at its last minute by itself; a campaign whose pack is not on
the board is named in health and does not play until the pack is there, in its folder or in a
signed bundle installed beside the promo while the board runs; a board that connects after two
bundles were announced to its unit, each on its own retained topic, installs both.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import date, datetime

from edge.agent import Agent
from edge.config import check_config
from ihanoi.contract import campaigns
from ihanoi.contract.campaigns import Campaign, CampaignSet
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from ihanoi.contract.keys import generate, load_private
from ihanoi.contract.registry import load_registry
from tests.agent_support import device_config, unit_trace
from tests.mqtt_helpers import Recorder
from tests.test_agent import play_log, publish
from edge.updates import bundle as bundles
from edge.updates.manifest import Targets
from tests.polling import eventually
from tests.updates_kit import CREATED, desired_for, make_pack

DEVICE = "hbt-bach-dang-01"
UNIT = "phuong-bach-dang"
WED, THU = date(2024, 9, 4), date(2024, 9, 5)
IHANOI = campaigns.from_registry(load_registry())
VNEID = Campaign(id="vneid", title="Tuần lễ VNeID", first_day=WED, last_day=THU, ends="10:00",
                 directive={"number": "15/KH-UBND", "date": "2024-09-01", "issuer": "UBND quận Hai Bà Trưng"},
                 content_id="vneid-promo", target={"kinds": ["ward"]}, quota=4, min_gap_minutes=30)
TOPIC = f"ihanoi/v1/unit/{UNIT}/campaigns"


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=CAMPAIGN_TZ)


def board(tmp_path, broker, start: datetime, *, connect: bool = True, campaign_key: str | None = None) -> Agent:
    """``campaign_key``: the key named in the config's ``[campaigns] trusted_keys`` (none: the content key's)."""
    keys = tmp_path / "keys"
    if not (keys / "district.pub").exists():
        generate(keys / "district.key", keys / "district.pub")
        generate(keys / "stranger.key", keys / "stranger.pub")
        generate(keys / "server.key", keys / "server.pub")
        pack = make_pack(tmp_path / DEVICE / "packs" / "vneid-promo", "vneid-1", color=(0, 200, 0))
        manifest = pack / "pack.toml"
        manifest.write_text(manifest.read_text("utf-8").replace('id = "ihanoi-promo"', 'id = "vneid-promo"'), "utf-8")
    extra = f'\n[content]\ntrusted_keys = ["{keys}/district.pub"]\n'
    if campaign_key:
        extra += f'\n[campaigns]\ntrusted_keys = ["{keys}/{campaign_key}.pub"]\n'
    path = device_config(tmp_path, DEVICE, broker.port, extra=extra)
    config, registry, profile = check_config(path)
    trace = unit_trace(tmp_path, DEVICE, WED, 2)
    return Agent(config, registry, profile, SimClock(start), pir_trace=trace, step=15.0, connect=connect)


def announce(tmp_path, broker, key: str, version: int, *found: Campaign) -> None:
    signed = campaigns.sign(CampaignSet(version=version, issued=at(WED, 6), unit=UNIT, campaigns=found),
                            load_private(tmp_path / "keys" / f"{key}.key"))
    publish(broker, TOPIC, signed, retain=True)


def receive(agent: Agent) -> None:
    """Let the agent hear what is retained for it before its simulated day starts running."""
    agent.link.start()
    assert agent.link.subscribed.wait(10)
    deadline = time.monotonic() + 10
    while not agent.inbox.waiting() and time.monotonic() < deadline:
        time.sleep(0.05)
    agent.inbox.handle()
    agent.link.stop(flush_timeout=5)
    agent.link = type(agent.link)(agent.config.device, agent.config.broker, agent.outbox, clock=agent.clock,
                                  status=agent._announced, on_command=agent.inbox.put, unit=agent.config.unit)


def test_a_board_given_a_campaign_key_obeys_the_sets_it_signs_and_not_those_of_the_content_key(tmp_path, mosquitto):
    """As ansible provisions it: ``[campaigns] trusted_keys`` names the server's signing key, which
    alone signs campaign sets; the technician's content key still signs bundles, not sets."""
    agent = board(tmp_path, mosquitto, at(WED, 6), campaign_key="server")
    announce(tmp_path, mosquitto, "district", 1, IHANOI, VNEID)
    receive(agent)
    assert agent.book.version is None and agent.book.refused == Counter({"bad-signature": 1})
    announce(tmp_path, mosquitto, "server", 2, IHANOI, VNEID)
    receive(agent)
    assert agent.book.version == 2
    assert {c.id for c in agent.book.active_on(WED)} == {"ihanoi", "vneid"}


def test_a_board_plays_every_campaign_of_its_signed_set_refuses_a_strangers_and_stops_one_offline(tmp_path, mosquitto):
    recorder = Recorder(mosquitto.host, mosquitto.port, f"ihanoi/v1/dev/{DEVICE}/#")
    first = board(tmp_path, mosquitto, at(WED, 6))
    announce(tmp_path, mosquitto, "district", 1, IHANOI, VNEID)
    receive(first)
    assert first.book.version == 1
    first.run(until=at(WED, 12))

    # A set signed by someone else replaces the retained one: refused, and the board keeps its set.
    announce(tmp_path, mosquitto, "stranger", 2, IHANOI)
    second = board(tmp_path, mosquitto, at(WED, 12, 30))
    receive(second)
    assert second.book.version == 1 and second.book.refused == Counter({"bad-signature": 1})
    second.run(until=at(WED, 18))
    status = second.status()["details"]
    assert status["campaign_set"] == 1 and status["campaign_plays_today"] == {"ihanoi": 10, "vneid": 4}
    assert status["campaign_set_refused"] == {"bad-signature": 1} and status["campaigns_without_pack"] == {}

    # No network at all on Thursday: VNeID's last minute is 10:00, and the board knows it.
    third = board(tmp_path, mosquitto, at(THU, 6), connect=False)
    third.run(until=at(THU, 18))

    assert recorder.wait_for(lambda r: len(r.events("play")) >= 14, 20)
    plays = recorder.events("play")
    assert all(p["campaign"] in ("ihanoi", "vneid") for p in plays)
    wednesday = Counter(p["campaign"] for p in plays if p["completed"] and p["start"].startswith("2024-09-04"))
    assert wednesday == {"ihanoi": 10, "vneid": 4}
    assert {p["content"]["id"] for p in plays if p["campaign"] == "vneid"} == {"vneid-promo"}
    answers = [(a["command"], a["ok"], a["reason"]) for a in recorder.events("cmd-result")]
    assert ("campaigns", True, "campaign set version 1: ihanoi, vneid") in answers
    assert any(c == "campaigns" and not ok and r.startswith("bad-signature") for c, ok, r in answers)

    for day in (WED, THU):
        records = play_log(tmp_path / DEVICE).plays_on(day)
        assert all(b.start >= a.end for a, b in itertools.pairwise(records)), "two plays at once"
    thursday = play_log(tmp_path / DEVICE).plays_on(THU)
    by_content = Counter(r.content["id"] for r in thursday if r.completed)
    assert by_content == {"ihanoi-promo": 10, "vneid-promo": 2}          # 120 of 450 open minutes: 2 of 4
    assert all(r.end <= at(THU, 10) for r in thursday if r.content["id"] == "vneid-promo")
    recorder.close()


def test_a_campaign_whose_pack_is_not_on_the_board_is_reported_and_plays_once_its_pack_is_there(tmp_path, mosquitto):
    election = VNEID.model_copy(update={"id": "bau-cu", "content_id": "bau-cu-promo", "last_day": WED, "ends": None})
    agent = board(tmp_path, mosquitto, at(WED, 7), connect=False)
    the_set = CampaignSet(version=1, issued=at(WED, 6), unit=UNIT, campaigns=(IHANOI, election))
    agent._on_campaigns(campaigns.sign(the_set, load_private(tmp_path / "keys" / "district.key")))
    assert agent.status()["details"]["campaigns_without_pack"] == {"bau-cu": "no pack of this content on the board"}
    agent.run(until=at(WED, 10))
    made = {r.content["id"] for r in play_log(tmp_path / DEVICE).plays_on(WED)}
    assert made == {"ihanoi-promo"}

    pack = make_pack(tmp_path / DEVICE / "packs" / "bau-cu-promo", "bau-cu-1", color=(200, 200, 0))
    manifest = pack / "pack.toml"
    manifest.write_text(manifest.read_text("utf-8").replace('id = "ihanoi-promo"', 'id = "bau-cu-promo"'), "utf-8")
    again = board(tmp_path, mosquitto, at(WED, 10), connect=False)      # the set is kept; its packs looked for again
    assert again.book.version == 1 and again.status()["details"]["campaigns_without_pack"] == {}
    again.run(until=at(WED, 18))
    made = Counter(r.content["id"] for r in play_log(tmp_path / DEVICE).plays_on(WED) if r.completed)
    assert made == {"ihanoi-promo": 10, "bau-cu-promo": 4}      # its whole quota, from 10:00


def test_a_campaign_plays_once_its_bundle_is_installed_beside_the_promo_while_the_board_runs(tmp_path, mosquitto):
    election = VNEID.model_copy(update={"id": "bau-cu", "content_id": "bau-cu-promo", "bundle": "bau-cu",
                                        "last_day": WED, "ends": None})
    agent = board(tmp_path, mosquitto, at(WED, 7), connect=False)
    district = load_private(tmp_path / "keys" / "district.key")
    the_set = CampaignSet(version=1, issued=at(WED, 6), unit=UNIT, campaigns=(IHANOI, election))
    agent._on_campaigns(campaigns.sign(the_set, district))
    pack = make_pack(tmp_path / "bau-cu-pack", "bau-cu-1", color=(200, 200, 0), pack_id="bau-cu-promo")
    signed = bundles.build(pack, tmp_path / "bau-cu-v1.tar", district, 1, Targets(units=[UNIT]), CREATED,
                           bundle="bau-cu")
    assert (signed.bundle, signed.pack) == ("bau-cu", "bau-cu-promo")
    desired = desired_for(tmp_path / "bau-cu-v1.tar", (tmp_path / "bau-cu-v1.tar").as_uri(), 1, "bau-cu")
    waiting = {}
    sleep = agent.clock.sleep

    def arrives_at_ten(seconds):
        """At 10:00 the bundle's announcement comes in; the loop waits until it is installed."""
        if not waiting and agent.clock.now() >= at(WED, 10):
            waiting.update(agent.status()["details"]["campaigns_without_pack"])
            agent.updates.submit(desired, "unit")
            assert eventually(agent._bundle_installed.is_set, timeout=20.0)
        sleep(seconds)
    agent.clock.sleep = arrives_at_ten
    agent.run(until=at(WED, 18))

    assert waiting == {"bau-cu": "no pack of this content on the board"}
    records = [r for r in play_log(tmp_path / DEVICE).plays_on(WED) if r.completed]
    assert Counter(r.content["id"] for r in records) == {"ihanoi-promo": 10, "bau-cu-promo": 4}
    assert all(r.start >= at(WED, 10) for r in records if r.content["id"] == "bau-cu-promo")
    assert {r.content["version"] for r in records if r.content["id"] == "bau-cu-promo"} == {"bau-cu-1"}
    details = agent.status()["details"]
    assert details["campaigns_without_pack"] == {} and set(details["bundles"]) == {"bau-cu"}
    assert details["campaign_plays_today"] == {"ihanoi": 10, "bau-cu": 4}
    assert agent.status()["content_id"] == "ihanoi-promo"                  # the promo is still the configured pack


def test_a_board_that_connects_after_two_bundles_were_announced_to_its_unit_installs_both(tmp_path, mosquitto):
    """Through the agent's own inbox: the promo's and a campaign's bundle, each retained on its own
    topic of the unit (one topic would have kept only the last), both installed side by side."""
    from ihanoi.contract.protocol import Topics

    agent = board(tmp_path, mosquitto, at(WED, 7))
    district = load_private(tmp_path / "keys" / "district.key")
    for name, pack_id, version in (("ihanoi-promo", "ihanoi-promo", 3), ("bau-cu", "bau-cu-promo", 1)):
        pack = make_pack(tmp_path / f"{name}-pack", f"{name}-{version}", color=(200, 200, 0), pack_id=pack_id)
        tar = tmp_path / f"{name}-v{version}.tar"
        bundles.build(pack, tar, district, version, Targets(units=[UNIT]), CREATED, bundle=name)
        publish(mosquitto, Topics().unit_content(UNIT, name), desired_for(tar, tar.as_uri(), version, name).to_bytes(),
                retain=True)
    agent.updates.start()
    agent.link.start()
    try:
        assert agent.link.subscribed.wait(10)

        def both_installed() -> bool:
            agent.inbox.handle()
            return (agent.installer.version_of("ihanoi-promo"), agent.installer.version_of("bau-cu")) == (3, 1)
        assert eventually(both_installed, timeout=30.0)
    finally:
        agent.link.stop(flush_timeout=2)
        agent.updates.stop()
    assert set(agent.status()["details"]["bundles"]) == {"ihanoi-promo", "bau-cu"}
