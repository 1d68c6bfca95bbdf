"""The TV's power on an LCD board, through the recorded stand-in for cec-ctl on PATH (tests/cec_standin/).

The real agent, Debian's mpv and a generated clip on a simulated day: the TV is switched on
before the clinic opens and to standby after it closes; someone switches it off in the morning,
and the next play is made (and wakes it) but reported as made on a TV in standby and not
counted; the planner makes up for it. The plays go into a store as the collector writes them:
the report counts only the plays the TV showed and its notes, like the fleet page, say that
the board's TV was off.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from broker.report.build import report_from_store
from broker.store import open_store
from broker.store.rows import event_row, state_row
from broker.web import queries
from edge.agent import Agent
from edge.config import check_config
from edge.localdb import open_local_db
from edge.playlog import PlayLog
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from tests.agent_support import tv_device_config, unit_trace
from tests.hdmi_support import make_tv_pack, needs_mpv, short_dir
from tests.mqtt_helpers import Recorder
from tests.test_dashboard_support import log_in, make_app, users  # noqa: F401  (fixture)
from tests.test_hdmi_cec import STANDIN, Tv

pytestmark = needs_mpv

DEVICE, UNIT = "hbt-ttyt-quan-01", "ttyt-quan"       # the clinic: open 7:00-11:30 and 13:30-16:30
WED = date(2024, 9, 4)


def at(hh: int, mm: int = 0) -> datetime:
    return datetime(WED.year, WED.month, WED.day, hh, mm, tzinfo=CAMPAIGN_TZ)


@pytest.fixture
def folder():
    path = short_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tv(folder, monkeypatch):
    monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
    tv = Tv(folder)                                      # in standby, nobody else on the line
    monkeypatch.setenv("IHANOI_CEC_STATE", str(tv.state_file))
    monkeypatch.setenv("IHANOI_CEC_LOG", str(tv.log_file))
    return tv


def test_the_tv_follows_the_hours_and_a_play_on_a_tv_switched_off_is_reported_but_not_counted(
        folder, tv, mosquitto, registry, users, tmp_path):  # noqa: F811
    pack = make_tv_pack(folder / "pack", seconds=1.5)
    config, registry, profile = check_config(tv_device_config(folder, DEVICE, mosquitto.port, pack, cec=True))
    assert config.hdmi.cec.enabled and config.hdmi.cec.warmup_minutes == 10
    recorder = Recorder(mosquitto.host, mosquitto.port, f"ihanoi/v1/dev/{DEVICE}/#")
    agent = Agent(config, registry, profile, SimClock(at(6, 0)), pir_trace=unit_trace(folder, DEVICE, WED, 1),
                  step=15.0)
    # Someone switches the TV off by hand before the third play of the day.
    hdmi, plays = agent.screen.hdmi, []

    def play(clip, stop=None, planned=None):
        plays.append(agent.clock.now())
        if len(plays) == 3:
            tv.set(power="standby")
        return real_play(clip, stop, planned)

    real_play, hdmi.play = hdmi.play, play
    agent.run(until=at(17, 0))

    # The TV's power: standby at 6:00, on at 6:50 (10 minutes before opening), standby over lunch
    # (from 5 minutes after 11:30 to 10 minutes before 13:30) and after closing. Only changes are sent.
    switched = [m for m in tv.sent() if m in ("--standby", "--image-view-on")]
    assert tv.sent()[:2] == ["--playback", "--standby"]
    assert switched == ["--standby", "--image-view-on",
                        "--image-view-on",               # the play on the TV switched off by hand woke it
                        "--standby", "--image-view-on", "--standby"]
    assert all(tv.sent()[i + 1] == "--active-source" for i, m in enumerate(tv.sent()) if m == "--image-view-on")
    assert tv.state["power"] == "standby"
    assert tv.sent().count("--give-device-power-status") >= len(plays)       # asked before every play

    records = PlayLog(open_local_db(folder / DEVICE), CAMPAIGN_TZ).plays_on(WED)
    off = [r for r in records if not r.counted]
    assert len(off) == 1 and off[0].completed and off[0].screen == {"power": "standby", "input": "unknown"}
    assert off[0].start >= plays[2]
    assert all(r.screen == {"power": "on", "input": "unknown"} for r in records if r is not off[0])
    assert sum(r.counted for r in records) >= 10, "the planner makes up for the play nobody saw"

    # The district hears of it: the play with its screen, and the board's fault while the TV was off.
    assert recorder.wait_for(lambda r: len(r.events("play")) == len(records), 20)
    messages = recorder.events("play")
    assert [m.get("screen", {}).get("power") for m in messages].count("standby") == 1
    faults = [s.get("screen_fault") or "" for s in recorder.events("state")]
    assert any("screen in standby during opening hours" in f for f in faults), faults
    recorder.close()

    # Stored as the collector stores them, the report counts only what the TV showed ...
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = open_store(url)
    rows = [event_row(protocol.decode("play", json.dumps(m).encode()), UNIT, CAMPAIGN_TZ, at(17)) for m in messages]
    states = [state_row(protocol.decode("state", json.dumps(s).encode()), UNIT) for s in recorder.events("state")]
    store.write_batch({"play": rows}, seen=[{"device": DEVICE, "unit": UNIT, "last_seen": at(16, 59)}],
                      states=states)
    report = report_from_store(store, registry, WED, WED, at(17, 30))
    (day,) = [d for d in report.days if d.unit == UNIT]
    counted_in_hours = sum(r.counted for r in records)
    assert day.plays == counted_in_hours and day.not_shown == 1
    note = next(n for n in report.devices if n.device == DEVICE)
    assert note.screen == "lcd" and note.not_shown == 1 and not note.unmanaged
    assert any(p.startswith("TV tắt hoặc không hiển thị khi phát: 1 lượt không được tính (chờ (standby) 1)")
               for p in note.problems), note.problems
    # ... and the fleet page says which board's TV was off.
    (row,) = [r for r in queries.fleet(store, registry, at(17, 30), timedelta(days=1)) if r.note.device == DEVICE]
    assert row.note.not_shown == 1
    store.close()
    app = make_app(tmp_path, url, registry, users, now=at(17, 30))
    with TestClient(app) as client:
        log_in(client, "vanhoa")
        page = client.get("/fleet").text
    cell = re.search(rf'<tr id="{DEVICE}".*?</tr>', page, re.S).group(0)
    assert "TV tắt khi phát" in cell and "1 lượt không được tính" in cell and "Màn hình LCD/TV" in cell
