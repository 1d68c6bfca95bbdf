"""The agent on an LCD/TV board: the real agent, Debian's mpv (no video output) and generated clips.

The same planner, PlayMaker, outbox and report path as an LED board: every play reported once
with its audience and the length mpv's own positions measured; a play cut by a play-now, by
SIGTERM or by mpv dying is reported interrupted and caught up; a damaged clip is reported and
the agent goes on; the snapshot is mpv's picture. The TV's power over HDMI-CEC is in
tests/test_agent_tv_cec.py.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from edge.agent import Agent
from edge.config import check_config
from edge.localdb import open_local_db
from edge.playlog import PlayLog
from edge.updates.bundle import file_sha256
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from ihanoi.contract.registry import load_registry
from tests.agent_support import tv_device_config, unit_trace
from tests.hdmi_support import make_tv_pack, needs_mpv, short_dir
from tests.mqtt_helpers import Recorder
from tests.polling import eventually
from tests.test_agent import publish

pytestmark = needs_mpv

ROOT = Path(__file__).resolve().parents[1]
DEVICE = "hbt-ttyt-quan-01"          # the clinic's TV (tests/data/units.toml): open 7:00-11:30, 13:30-16:30
WED = date(2024, 9, 4)
CLIP_SECONDS = 2.0


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=CAMPAIGN_TZ)


@pytest.fixture
def folder():
    """A short path: mpv's IPC socket lives in the data dir and must fit a UNIX socket's 108 bytes."""
    path = short_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def tv_pack():
    path = short_dir()
    yield make_tv_pack(path / "pack", seconds=CLIP_SECONDS)
    shutil.rmtree(path, ignore_errors=True)


def tv_agent(folder: Path, broker, start: datetime, pack: Path, *, connect=True, extra="") -> Agent:
    config, registry, profile = check_config(tv_device_config(folder, DEVICE, broker.port, pack, extra=extra))
    assert profile is None and config.screen == "lcd"
    trace = unit_trace(folder, DEVICE, start.date(), 1)
    return Agent(config, registry, profile, SimClock(start), pir_trace=trace, step=15.0, connect=connect)


def journal(folder: Path) -> PlayLog:
    return PlayLog(open_local_db(folder / DEVICE), CAMPAIGN_TZ)


def in_thread(agent: Agent, until: datetime) -> threading.Thread:
    thread = threading.Thread(target=agent.run, kwargs={"until": until}, daemon=True)
    thread.start()
    return thread


def finished(agent: Agent, begun):
    """The record of the play that began as ``begun`` (its start is mpv's first frame, not the journal's)."""
    return next((r for r in agent.play_log.plays_on(WED) if r.start >= begun.start), None)


def play_in_progress(agent: Agent, manual: bool = False):
    """The play the agent has begun and not finished (its start is journaled before mpv loads it)."""
    current = agent.play_log.open_play()
    if current is None or (current.reason == "manual") != manual:
        return None
    return current


def test_a_tv_board_plays_at_the_planners_times_and_reports_each_play_with_its_measured_length(
        folder, tv_pack, mosquitto, caplog):
    caplog.set_level(logging.INFO, logger="ihanoi.screen")
    recorder = Recorder(mosquitto.host, mosquitto.port, "ihanoi/v1/dev/#")
    agent = tv_agent(folder, mosquitto, at(WED, 6, 30), tv_pack)
    assert agent.screen.kind == "lcd" and agent.promo.current.total_duration == pytest.approx(CLIP_SECONDS)
    agent.run(until=at(WED, 11, 45))
    records = journal(folder).plays_on(WED)
    assert len(records) >= 4 and all(r.completed and r.counted for r in records)
    hours = load_registry().hours_of("ttyt-quan")
    for r in records:
        assert any(a <= r.start and r.end <= b for a, b in hours.windows(WED, CAMPAIGN_TZ)), r.start
        # the length mpv's positions covered, from its first frame to the end of the file
        assert CLIP_SECONDS - 0.3 <= (r.end - r.start).total_seconds() <= CLIP_SECONDS + 0.5, r
    for a, b in zip(records, records[1:]):
        assert b.start - a.start >= timedelta(minutes=15)
    # each play says how long mpv took to show its first frame (what the agent benchmark reads)
    delays = [float(m.group(1)) for m in (re.search(r"first frame of promo\.mp4 (\d+) ms after the play began",
                                                    r.getMessage()) for r in caplog.records) if m]
    assert len(delays) == len(records) and all(0 <= d < 5000 for d in delays), delays
    assert recorder.wait_for(lambda r: len(r.events("play")) >= len(records), 20)
    sent = recorder.events("play")
    assert [(p["start"], p["end"], p["audience"]) for p in sent] == \
        [(r.start.isoformat(), r.end.isoformat(), r.audience) for r in records]
    assert sum(p["audience"] for p in sent) > 0
    clip = tv_pack / "promo.mp4"
    assert {json.dumps(p["content"], sort_keys=True) for p in sent} == {
        json.dumps({"id": "ihanoi-promo", "sha256": file_sha256(clip), "version": "tv-test"}, sort_keys=True)}
    # a screen configured without HDMI-CEC: counted, and said to be unmanaged
    assert all(p["screen"] == {"power": "unmanaged", "input": "unknown"} for p in sent)
    status = agent.status()
    assert status["screen_fault"] is None and status["details"]["screen"] == "lcd"
    assert status["details"]["screen_output"] == "mpv null" and status["details"]["screen_power"] == "unmanaged"
    recorder.close()


def test_a_play_cut_by_play_now_or_by_mpv_dying_is_interrupted_and_caught_up(folder, mosquitto):
    pack = make_tv_pack(folder / "pack", seconds=3.0)
    recorder = Recorder(mosquitto.host, mosquitto.port, f"ihanoi/v1/dev/{DEVICE}/#")
    agent = tv_agent(folder, mosquitto, at(WED, 6, 50), pack)
    thread = in_thread(agent, at(WED, 16, 45))
    cut_by, tries = {}, 0
    try:
        # A play-now while a planned play runs: the planned play ends, the manual one is played now.
        # (Should the command come too late for a play, the next planned play is tried.)
        while "play-now" not in cut_by and tries < 4:
            tries += 1
            assert eventually(lambda: play_in_progress(agent), 60), "no planned play began"
            planned = play_in_progress(agent)
            time.sleep(0.8)
            publish(mosquitto, f"ihanoi/v1/cmd/{DEVICE}/play-now", {"schema": "ihanoi.cmd.play-now/1",
                                                                     "id": f"cut-{tries}"})
            assert eventually(lambda: any(r.reason == "manual" for r in agent.play_log.plays_on(WED)
                                          if r.start > planned.start), 60)
            cut = finished(agent, planned)
            if not cut.completed:
                cut_by["play-now"] = cut
        # mpv killed while a planned play runs: detected, replaced, the play reported interrupted.
        tries = 0
        while "mpv" not in cut_by and tries < 4:
            tries += 1
            assert eventually(lambda: play_in_progress(agent), 60)
            planned = play_in_progress(agent)
            time.sleep(0.8)
            os.kill(agent.screen.hdmi.mpv.pid, signal.SIGKILL)
            assert eventually(lambda: play_in_progress(agent) is None or play_in_progress(agent).start != planned.start,
                              60)
            done = finished(agent, planned)
            if done is not None and not done.completed:
                cut_by["mpv"] = done
        # and a snapshot: mpv's picture of the screen, the filler still between plays
        publish(mosquitto, f"ihanoi/v1/cmd/{DEVICE}/snapshot", {"schema": "ihanoi.cmd.snapshot/1", "id": "s-1"})
        assert recorder.wait_for(lambda r: any(t.endswith("/snapshot") for t, _ in r.messages), 30)
    finally:
        thread.join(300)
    assert not thread.is_alive()
    assert set(cut_by) == {"play-now", "mpv"}, cut_by
    records = journal(folder).plays_on(WED)
    assert all(r.reason != "manual" for r in cut_by.values())
    assert agent.screen.hdmi.restarts >= 1
    manual = [r for r in records if r.reason == "manual"]
    assert manual and manual[0].start - cut_by["play-now"].end < timedelta(minutes=1) and manual[0].completed
    # the planner made up for both: the day's counted plays still reach the quota
    assert sum(r.counted for r in records) >= 10
    # every play reported once, the cut ones as not completed
    assert recorder.wait_for(lambda r: len(r.events("play")) >= len(records), 20)
    sent = recorder.events("play")
    assert sorted(p["start"] for p in sent) == sorted(r.start.isoformat() for r in records)
    assert {p["start"] for p in sent if not p["completed"]} >= {r.start.isoformat() for r in cut_by.values()}
    png = next(p for t, p in recorder.messages if t.endswith("/snapshot"))
    assert Image.open(io.BytesIO(png)).size in ((1920, 1080), (320, 180))    # the still, or the clip's frame
    answers = [e for e in recorder.events("cmd-result")]
    assert any(a["command"] == "snapshot" and a["ok"] for a in answers)
    recorder.close()


def test_a_damaged_clip_is_reported_and_the_agent_goes_on(folder, mosquitto):
    pack = make_tv_pack(folder / "pack", seconds=CLIP_SECONDS)
    clip = pack / "promo.mp4"
    good = clip.read_bytes()
    stat = clip.stat()
    agent = tv_agent(folder, mosquitto, at(WED, 6, 50), pack, connect=False)
    thread = in_thread(agent, at(WED, 16, 45))
    try:
        assert eventually(lambda: len(agent.play_log.plays_on(WED)) >= 1, 60)
        # The card rots: the same size and time stamp, other bytes (what no size check sees).
        clip.write_bytes(os.urandom(len(good)))
        os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert eventually(lambda: any(not r.completed for r in agent.play_log.plays_on(WED)), 120)
        assert eventually(lambda: agent.status()["screen_fault"] is not None, 10)
        fault = agent.status()["screen_fault"]
        assert "promo.mp4 could not be played" in fault and "error" in fault, fault
        assert thread.is_alive(), "the agent goes on"
        broken = len(agent.play_log.plays_on(WED))
        clip.write_bytes(good)                       # the file restored: plays count again
        os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert eventually(lambda: any(r.completed for r in agent.play_log.plays_on(WED)[broken:]), 120)
        assert eventually(lambda: agent.status()["screen_fault"] is None, 10)
    finally:
        agent.stop()
        thread.join(60)
    assert not thread.is_alive()


def _run_tv_agent(folder: Path, broker, pack: Path, start: str, until: str, speed: float) -> subprocess.Popen:
    path = tv_device_config(folder, DEVICE, broker.port, pack)
    trace = unit_trace(folder, DEVICE, WED, 1)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(path), "--speed", str(speed),
                             "--start", start, "--until", until, "--pir-trace", str(trace)],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=folder)


def test_sigterm_mid_play_is_reported_interrupted_and_the_day_caught_up_after_restart(folder, tv_pack, mosquitto):
    # On a simulated clock mpv plays at the clock's speed: this 40 s clip takes 2 s at 20x.
    long_pack = make_tv_pack(folder / "long", seconds=40.0, width=160, height=90)
    recorder = Recorder(mosquitto.host, mosquitto.port, f"ihanoi/v1/dev/{DEVICE}/#")
    agent = _run_tv_agent(folder, mosquitto, long_pack, "2024-09-04T07:00:00+07:00", "2024-09-04T17:00:00+07:00", 20)
    try:
        for line in agent.stderr:
            if "playing ihanoi-promo" in line:
                break
        time.sleep(0.5)
        agent.send_signal(signal.SIGTERM)
        rest = agent.stderr.read()
        assert agent.wait(60) == 0, rest
    finally:
        agent.kill()
    assert "stopped" in rest
    pid = int((folder / DEVICE / "hdmi" / "mpv.pid").read_text())
    assert eventually(lambda: not os.path.exists(f"/proc/{pid}"), 10), "mpv ends with the agent"
    assert recorder.wait_for(lambda r: r.events("play") and r.events("state")
                             and r.events("state")[-1]["state"] == "offline", 20)
    (cut,) = recorder.events("play")
    assert cut["completed"] is False and cut["screen"]["power"] == "unmanaged"
    assert 0 < (datetime.fromisoformat(cut["end"]) - datetime.fromisoformat(cut["start"])).total_seconds() < 40
    # Back after the restart, with the short clip: the cut play does not count, the planner makes up for it.
    again = tv_agent(folder, mosquitto, datetime.fromisoformat(cut["end"]) + timedelta(minutes=1), tv_pack)
    again.run(until=at(WED, 16, 45))
    records = journal(folder).plays_on(WED)
    assert [r.start.isoformat() for r in records if not r.completed] == [cut["start"]]
    assert sum(r.counted for r in records) >= 10
    assert recorder.wait_for(lambda r: len(r.events("play")) == len(records), 20)
    recorder.close()


def test_a_tv_board_given_an_led_pack_says_why_and_leaves_no_mpv_behind(folder, mosquitto):
    from edge.content import builtin_pack
    from ihanoi.contract.errors import PackError
    from tests.test_hdmi_player import _zombie

    with pytest.raises(PackError, match="a TV plays the pack's one video item"):
        tv_agent(folder, mosquitto, at(WED, 8), builtin_pack("ihanoi-promo"), connect=False)
    pid = int((folder / DEVICE / "hdmi" / "mpv.pid").read_text())
    assert eventually(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), 10)
