"""The agent's parts on their own: commands, health, day-end learning and the promo switch.

The whole agent runs in tests/test_agent.py; here each rule is checked where it lives.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from edge.health import Health
from edge.inbox import BoardCommands, Inbox
from edge.learning import DayLearner
from edge.localdb import open_local_db
from edge.outbox import Outbox
from edge.playlog import PlayLog
from edge.presence import Presence
from edge.promo import Promo
from edge.traffic import TrafficModel
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from ihanoi.contract.errors import PackError
from ihanoi.contract.hours import OpeningHours
from ihanoi.contract.opendays import Calendar

WED = date(2024, 9, 4)
HOURS = OpeningHours.model_validate({d: ["08:00-12:00", "13:30-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")})
DEVICE = "hbt-bach-mai-01"


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=CAMPAIGN_TZ)


# --- commands -----------------------------------------------------------------------------------
class Board:
    """What BoardCommands acts on, recorded."""

    def __init__(self, tmp_path, updates=None):
        self.settings = PlayLog(open_local_db(tmp_path), CAMPAIGN_TZ)
        self.answers, self.quota, self.brightness, self.published = [], [], [], []
        self.commands = BoardCommands(self.settings, lambda *a: self.answers.append(a), base_quota=10,
                                      set_quota=self.quota.append, set_brightness=self.brightness.append,
                                      snapshot=lambda: np.full((32, 128, 3), 200, np.uint8),
                                      publish=lambda kind, payload: self.published.append((kind, payload)),
                                      updates=updates)
        self.inbox = Inbox(protocol.Topics(), self.commands, lambda *a: self.answers.append(a))

    def send(self, verb: str, payload, retained: bool = False, scope: str = "cmd"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        where = DEVICE if scope == "cmd" else "phuong-bach-mai"
        self.inbox.put(f"ihanoi/v1/{scope}/{where}/{verb}", data, retained)
        return self.inbox.handle()


def test_a_quota_may_be_raised_never_lowered_and_is_kept_for_a_boot_without_network(tmp_path):
    board = Board(tmp_path)
    board.send("quota", {"schema": "ihanoi.cmd.quota/1", "quota": 8})
    assert board.quota == [] and "below 10" in board.answers[-1][3] and board.answers[-1][2] is False
    board.send("quota", {"schema": "ihanoi.cmd.quota/1", "quota": 12})
    assert board.quota == [12] and board.answers[-1][2:] == (True, "quota 12")
    again = Board(tmp_path)                                  # after a restart, from the board's own file
    assert again.commands.quota_override() == 12


def test_brightness_is_applied_and_kept(tmp_path):
    board = Board(tmp_path)
    board.send("brightness", {"schema": "ihanoi.cmd.brightness/1", "percent": 35})
    assert board.brightness == [35] and board.settings.get("brightness") == 35


def test_play_now_is_queued_once_per_id_and_a_retained_copy_is_ignored(tmp_path):
    board = Board(tmp_path)
    board.send("play-now", {"schema": "ihanoi.cmd.play-now/1", "id": "old"}, retained=True)
    board.send("play-now", {"schema": "ihanoi.cmd.play-now/1", "id": "t-1"})
    board.send("play-now", {"schema": "ihanoi.cmd.play-now/1", "id": "t-1"})
    assert board.commands.manual == ["t-1"]
    assert Board(tmp_path).settings.seen_command("t-1"), "ids are remembered across restarts"


def test_malformed_and_unknown_commands_are_answered_not_fatal(tmp_path):
    board = Board(tmp_path)
    board.send("brightness", b"{bad json")
    board.send("reboot", {"now": True})
    board.send("brightness", {"schema": "ihanoi.cmd.brightness/1", "percent": 140})
    reasons = [(verb, ok, reason.split(":")[0]) for verb, _id, ok, reason in board.answers]
    assert reasons == [("brightness", False, "bad-json"), ("reboot", False, "bad-command"),
                       ("brightness", False, "invalid")]
    assert board.brightness == []


def test_a_snapshot_is_published_as_png(tmp_path):
    board = Board(tmp_path)
    board.send("snapshot", {"schema": "ihanoi.cmd.snapshot/1", "id": "s-1"})
    kind, png = board.published[0]
    assert kind == "snapshot" and png.startswith(b"\x89PNG")


def test_content_commands_go_to_the_update_service_or_are_refused(tmp_path):
    refused = Board(tmp_path / "a")
    refused.send("content", {"bundle": "x"})
    assert refused.answers[-1][2] is False and "content updates are off" in refused.answers[-1][3]

    class Updates:
        got = []

        def submit(self, command, scope, bundle):
            self.got.append((scope, bundle, command))

    taken = Board(tmp_path / "b", updates=Updates())
    taken.send("content", {"bundle": "x"}, scope="unit")
    taken.send("content/vneid", {"bundle": "vneid"})                 # the bundle's own retained topic
    taken.send("content/vneid", b"", retained=True)                    # its announcement withdrawn
    assert Updates.got == [("unit", None, {"bundle": "x"}), ("device", "vneid", {"bundle": "vneid"}),
                           ("device", "vneid", None)]
    taken.send("content/vneid", {"bundle": "ihanoi-promo"}, scope="unit")
    taken.send("content/Bad+Name", {"bundle": "x"})
    reasons = [(verb, ok, reason.split(":")[0]) for verb, _id, ok, reason in taken.answers]
    assert reasons == [("content", False, "bundle-mismatch"), ("content", False, "bad-topic")]
    assert len(Updates.got) == 3


# --- health -------------------------------------------------------------------------------------
def test_health_puts_the_content_on_top_and_every_other_figure_in_details(tmp_path):
    clock = SimClock(at(WED, 9))
    outbox = Outbox(tmp_path / "agent.db", DEVICE, clock=clock)
    health = Health(outbox, clock, [lambda: {"content_id": "ihanoi-promo", "content_version": "2024.08.1",
                                             "details": {"plays_today": 3}},
                                    lambda: {"link_sent": 7, "link_error": "cannot reach the broker"}])
    health.commit()
    message = json.loads(outbox.pending()[-1].payload)
    assert (message["content_id"], message["content_version"]) == ("ihanoi-promo", "2024.08.1")
    assert message["details"] == {"plays_today": 3, "link_sent": 7, "link_error": "cannot reach the broker",
                                  "rejected": 0}
    assert message["outbox_depth"] == 0 and message["time"].startswith("2024-09-04T09:00")


# --- learning -----------------------------------------------------------------------------------
def learner_for(tmp_path, synced_day: date):
    clock = SimClock(at(synced_day, 10))
    presence = Presence(clock)
    model = TrafficModel(HOURS)
    return DayLearner(model, tmp_path / "traffic.json", presence, Calendar(HOURS), CAMPAIGN_TZ), presence, model


def test_a_day_is_learned_at_midnight_without_the_hours_nobody_watched(tmp_path):
    learner, presence, model = learner_for(tmp_path, WED)
    prior = model.expected(WED).copy()
    assert learner.roll(at(WED, 10), synced=True) is False
    for half_minute in range(0, 240):                   # a busy lobby: 10 onsets in every 5-minute bin
        presence.motion(at(WED, 10) + timedelta(seconds=30 * half_minute))
    assert learner.roll(at(WED + timedelta(days=1), 0, 1), synced=True) is True
    learned = TrafficModel.load(tmp_path / "traffic.json", HOURS)
    assert learned.days_observed[WED.weekday()] == 1
    row = learned.expected(WED)
    assert np.allclose(row[:10 * 12], prior[:10 * 12], atol=1e-3)              # before 10:00: not seen
    assert row[10 * 12:12 * 12].sum() > prior[10 * 12:12 * 12].sum()


@pytest.mark.parametrize("day, synced", [(date(2024, 9, 7), True), (WED, False)])
def test_closed_days_and_unsynchronised_clocks_teach_nothing(tmp_path, day, synced):
    learner, presence, model = learner_for(tmp_path, day)
    learner.roll(at(day, 10), synced=synced)
    presence.motion(at(day, 10, 5))
    learner.roll(at(day + timedelta(days=1), 0, 1), synced=synced)
    assert not (tmp_path / "traffic.json").exists() and model.days_observed.sum() == 0


# --- the promo ----------------------------------------------------------------------------------
class Pack:
    def __init__(self, version):
        self.id, self.version = "ihanoi-promo", version


def test_a_new_bundle_is_switched_to_between_plays_and_a_broken_one_refused(tmp_path):
    def compile_pack(path):
        if path.name == "broken":
            raise PackError(path, "items[0]", "not an image")
        return Pack(path.name)

    promo = Promo(compile_pack, tmp_path / "configured", "ihanoi-promo")
    assert promo.current.version == "configured" and promo.switch_if_offered() is False
    promo.offer(tmp_path / "v2")
    assert promo.switch_if_offered() is True and promo.current.version == "v2"
    promo.offer(tmp_path / "broken")
    assert promo.switch_if_offered() is False and promo.current.version == "v2"
    with_bundle = Promo(compile_pack, tmp_path / "configured", "ihanoi-promo", installed=lambda: tmp_path / "broken")
    assert with_bundle.current.version == "configured", "an installed bundle that cannot play falls back"
    assert [p.version for p in promo.compile_fillers([tmp_path / "news", tmp_path / "broken"])] == ["news"]


# --- a board that cannot be driven --------------------------------------------------------------
def test_an_agent_whose_board_cannot_be_driven_keeps_running_reports_why_and_makes_no_plays(tmp_path, monkeypatch):
    from edge.agent import Agent
    from edge.config import check_config
    from tests.agent_support import device_config, unit_trace

    monkeypatch.delenv("IHANOI_PANEL", raising=False)
    path = device_config(tmp_path, "hbt-bach-dang-01", 1883, output="rgbmatrix")
    config, registry, profile = check_config(path)
    trace = unit_trace(tmp_path, "hbt-bach-dang-01", WED, 1)
    agent = Agent(config, registry, profile, SimClock(at(WED, 7, 30)), pir_trace=trace, step=15.0, connect=False)
    assert agent.panel.output == "dark" and "rgbmatrix" in agent.panel.fault
    status = agent.status()
    assert status["screen_fault"] == agent.panel.fault and status["details"]["panel_output"] == "dark"
    agent.run(until=at(WED, 12, 0))
    db = open_local_db(tmp_path / "hbt-bach-dang-01")
    assert PlayLog(db, CAMPAIGN_TZ).plays_on(WED) == []
    events = [json.loads(p.payload) for p in Outbox(db, "hbt-bach-dang-01").pending(limit=1000)]
    assert not [e for e in events if e.get("schema") == "ihanoi.play/1"]
    assert any(e.get("schema") == "ihanoi.traffic/1" for e in events), "it keeps reporting the lobby"


def test_a_play_on_a_board_that_fails_during_it_is_not_counted(tmp_path):
    from edge.content import compile_pack
    from edge.panel import open_panel
    from edge.panel.profile import load_profile
    from edge.player import Player
    from edge.plays import PlayMaker
    from tests.updates_kit import make_pack

    clock = SimClock(at(WED, 9))
    db = open_local_db(tmp_path)
    profile = load_profile("p4-128x32")
    panel = open_panel("recorder", profile)
    pack = compile_pack(make_pack(tmp_path / "pack", "v1"), profile, tmp_path / "frames")
    maker = PlayMaker(Player(panel, clock), Presence(clock), PlayLog(db, CAMPAIGN_TZ), Outbox(db, DEVICE, clock=clock),
                      clock)
    import threading

    assert maker.play(pack, "peak", threading.Event()).completed is True

    def broken(frame):
        raise OSError("the refresh thread is gone")

    panel._present = broken
    record = maker.play(pack, "peak", threading.Event())
    assert record.completed is False and panel.fault and "refresh thread is gone" in panel.fault
    panel.fault, panel._present = None, lambda frame: None
    panel.set_brightness(0)
    assert maker.play(pack, "peak", threading.Event()).completed is False, "a play at 0 % is not seen"
