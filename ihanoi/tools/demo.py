"""The main job on one PC: a simulated district.

Starts a local Mosquitto with the project's broker configuration, the collector, and one
agent per board of the selected units (every unit of the registry by default), each with
its own generated lobby traffic, all on one simulated clock. One board is shown in the
browser through the panel emulator. The registry's LCD/TV boards run as TV agents: mpv with no
video output (``hdmi.output = "null"``) plays a small copy of the TV promo made at start, and
the demo asks them for a snapshot as it goes (mpv's picture, shown on the fleet page). After the
simulated days it prints how each day's plays sit against the lobbies' traffic, hour by hour,
the per-unit compliance report and, with ``--serve``, serves the dashboard.

Every board starts from what it learned of its lobby over the ``--learned-weeks`` before the
first day (default 3: a board in service, which is what the district sees every day);
``--learned-weeks 0`` shows a board on its first day, with only its kind's prior.

    python -m ihanoi.tools.demo                 # a day of the whole district (about two minutes)
    python -m ihanoi.tools.demo --days 5 --units wards --serve
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

from broker.mosquitto import QUEUES_CONF
from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.registry import load_registry
from ihanoi.tools.net import free_port, wait_port
from ihanoi.tools.tracegen import LobbyProfile, generate_onsets, write_trace

DAY_START, DAY_END = 6, 18          # simulated hours of each day: the lobbies open 7:00-17:30
# The TV boards' clip on a PC: the shipped 1080p promo made small, so that mpv keeps up with the
# simulated clock (it plays at the clock's speed, at most 100x: docs/hdmi.md). A Pi plays the 1080p one.
DEMO_TV_SIZE = (480, 270)


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def select_units(registry, which: str):
    if which == "all":
        return list(registry.units)
    if which == "wards":
        return [u for u in registry.units if u.kind == "ward"]
    wanted = set(which.split(","))
    units = [u for u in registry.units if u.id in wanted or u.kind in wanted]
    if not units:
        raise SystemExit(f"--units {which!r} matches no unit; use all, wards, a kind or unit ids")
    return units


class District:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.workdir).resolve()
        self.procs: dict[str, subprocess.Popen] = {}
        self.registry = load_registry()
        self.units = select_units(self.registry, args.units)
        self.boards = [(u, d) for u in self.units for d in u.devices]
        self.first = args.first_day
        self.last = self.first + timedelta(days=args.days - 1)
        self.start = datetime(self.first.year, self.first.month, self.first.day, DAY_START, tzinfo=CAMPAIGN_TZ)
        self.until = datetime(self.last.year, self.last.month, self.last.day, DAY_END, tzinfo=CAMPAIGN_TZ)
        self.tv_boards = [d.id for _, d in self.boards if d.screen == "lcd"]
        self._mqtt = None                # the demo's own client, for the TV boards' snapshot commands

    # --- the parts ------------------------------------------------------------------------------
    def start_broker(self) -> None:
        store = self.work / "mosquitto"
        store.mkdir(parents=True)
        self.mqtt_port = self.args.mqtt_port or free_port()
        conf = self.work / "mosquitto.conf"
        conf.write_text(textwrap.dedent(f"""\
            listener {self.mqtt_port} 127.0.0.1
            allow_anonymous true
            persistence_location {store}/
            log_dest file {self.work}/mosquitto.log
            include_dir {QUEUES_CONF.parent}
            """))
        if os.geteuid() == 0:            # mosquitto drops root for its own user: let it write its store
            try:
                entry = pwd.getpwnam("mosquitto")
                os.chown(store, entry.pw_uid, entry.pw_gid)
                os.chown(self.work, entry.pw_uid, entry.pw_gid)
            except KeyError:
                pass
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.procs["mosquitto"] = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.STDOUT)
        wait_port("127.0.0.1", self.mqtt_port, timeout=15)
        say(f"Mosquitto on 127.0.0.1:{self.mqtt_port} with broker/mosquitto/conf.d/ (log: {self.work}/mosquitto.log)")

    def start_collector(self) -> None:
        self.db = self.work / "collector.sqlite3"
        self.collector_conf = self.work / "collector.toml"
        self.collector_conf.write_text(textwrap.dedent(f"""\
            [broker]
            host = "127.0.0.1"
            port = {self.mqtt_port}

            [collector]
            client_id = "demo-collector"
            offline_after_s = 86400

            [database]
            url = "sqlite:///{self.db}"
            """))
        self.procs["collector"] = self._python(["-m", "broker.cli", "collect", "--config", str(self.collector_conf)],
                                               self.work / "collector.log")
        deadline = time.monotonic() + 30
        while not self.db.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        say(f"collector storing into {self.db} (log: {self.work}/collector.log)")

    def tv_pack(self) -> Path:
        """The TV promo for the demo's LCD boards: the shipped pack's clip at ``DEMO_TV_SIZE`` (same id)."""
        import av

        from edge.content import builtin_pack

        source = builtin_pack(self.registry.campaign.content_id + "-tv")
        pack = self.work / "tv-pack"
        pack.mkdir()
        text = (source / "pack.toml").read_text(encoding="utf-8")
        (pack / "pack.toml").write_text(text.replace('version = "', 'version = "demo-', 1), encoding="utf-8")
        width, height = DEMO_TV_SIZE
        with av.open(str(source / "promo.mp4")) as src, \
                av.open(str(pack / "promo.mp4"), "w", options={"movflags": "faststart"}) as out:
            video_in, audio_in = src.streams.video[0], src.streams.audio[0]
            video = out.add_stream("libx264", rate=video_in.average_rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            audio = out.add_stream("aac", rate=audio_in.rate)
            audio.layout = "stereo"
            samples = 0
            for frame in src.decode(video_in, audio_in):
                if isinstance(frame, av.VideoFrame):       # a new frame: the encoder numbers them itself
                    picture = frame.to_ndarray(width=width, height=height, format="yuv420p")
                    packets = video.encode(av.VideoFrame.from_ndarray(picture, format="yuv420p"))
                else:
                    frame.pts, frame.time_base = samples, Fraction(1, audio_in.rate)
                    samples += frame.samples
                    packets = audio.encode(frame)
                for packet in packets:
                    out.mux(packet)
            for stream in (video, audio):
                for packet in stream.encode():
                    out.mux(packet)
        return pack

    def start_agents(self) -> None:
        shown = self.args.show or next((d.id for _, d in self.boards if d.screen == "led"), None)
        tv_pack = self.tv_pack() if self.tv_boards else None
        commands = []
        for n, (unit, device) in enumerate(self.boards):
            folder = self.work / "devices"
            folder.mkdir(exist_ok=True)
            # Every lobby its own crowd: busier or quieter, its surge earlier or later.
            crowd = LobbyProfile(base_rate=12 + 4 * (n % 5), surge_rate=40 + 10 * (n % 4),
                                 surge_hours_after_open=0.5 + 0.5 * (n % 3))
            weeks = self.args.learned_weeks
            onsets = generate_onsets(self.first - timedelta(days=7 * weeks), 7 * weeks + self.args.days,
                                     hours=self.registry.hours_of(unit), seed=n, profile=crowd)
            opening = datetime(self.first.year, self.first.month, self.first.day, tzinfo=CAMPAIGN_TZ)
            past = [t for t in onsets if t < opening]
            trace = write_trace(folder / f"{device.id}.csv", [t for t in onsets if t >= opening])
            if weeks:
                learn_lobby(past, unit, self.registry, folder / device.id / "traffic.json")
            output = "emulator" if device.id == shown and not self.args.no_emulator else "null"
            if device.screen == "lcd":       # a TV: mpv without a picture output, no HDMI-CEC on a PC
                screen = f'[hdmi]\noutput = "null"\n\n[hdmi.cec]\nenabled = false\n\n[content]\npack = "{tv_pack}"\n'
            else:
                screen = f'[panel]\nprofile = "p4-128x32"\noutput = "{output}"\n'
            config = folder / f"{device.id}.toml"
            config.write_text(textwrap.dedent(f"""\
                device = "{device.id}"
                unit = "{unit.id}"
                data_dir = "{device.id}"

                [broker]
                host = "127.0.0.1"
                port = {self.mqtt_port}

                [pir]
                pin = 5

                [health]
                interval_seconds = 60

                """) + screen)
            env_extra = {"IHANOI_EMULATOR_PORT": str(self.args.emulator_port)} if output == "emulator" else {}
            commands.append((device.id, config, trace, folder / f"{device.id}.log", env_extra))
        # One simulated clock for the whole district, whenever each agent gets to start: they all
        # count from this reading of the system-wide monotonic clock, taken once every board's
        # traffic is learned and its config written (that takes a while with learned weeks), and
        # far enough ahead for every agent to start (about two seconds of a core each: Python,
        # the pack compiled in a child process, mpv for a TV) before the first unit opens.
        warm_up = 2.0 + 2.0 * len(commands) / (os.cpu_count() or 1)
        self.epoch = time.monotonic() + warm_up
        say(f"starting {len(commands)} agents; the simulated day starts in {warm_up:.0f} s")
        for device_id, config, trace, log, env_extra in commands:
            self.procs[device_id] = self._python(
                ["-m", "edge.cli", "run", "--config", str(config), "--speed", str(self.args.speed),
                 "--start", self.start.isoformat(), "--sim-epoch", repr(self.epoch), "--until", self.until.isoformat(),
                 "--pir-trace", str(trace)],
                log, env_extra)
        if self.args.learned_weeks:
            say(f"every board starts from {self.args.learned_weeks} learned week(s) of its lobby's traffic "
                "(--learned-weeks 0: a board's first day)")
        say(f"{len(self.boards)} agents for {len(self.units)} units, simulated from {self.start:%d/%m/%Y %H:%M} "
            f"to {self.until:%d/%m/%Y %H:%M} at {self.args.speed:g}x (logs: {self.work}/devices/)")
        if self.tv_boards:
            say(f"{len(self.tv_boards)} LCD/TV board(s) play through mpv without a picture output: "
                f"{', '.join(self.tv_boards)}; their snapshots go to the fleet page")
        if shown is not None and not self.args.no_emulator:
            say(f"board {shown} is in the browser: http://127.0.0.1:{self.args.emulator_port}/ "
                "(at this speed a play lasts a moment; `ihanoi-edge preview` shows the promo itself)")

    def _python(self, argv, log: Path, env_extra: dict | None = None) -> subprocess.Popen:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
        env.pop("IHANOI_PANEL", None)
        return subprocess.Popen([sys.executable, *argv], stdout=log.open("w"), stderr=subprocess.STDOUT,
                                cwd=self.work, env=env, start_new_session=True)

    # --- watching -------------------------------------------------------------------------------
    def plays(self) -> int:
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1) as db:
                return db.execute("SELECT COUNT(*) FROM plays").fetchone()[0]
        except sqlite3.Error:
            return 0

    def ask_snapshots(self, devices: list[str]) -> None:
        """A snapshot command to each TV board: its picture is kept (retained) for the fleet page."""
        import uuid

        import paho.mqtt.client as mqtt

        from ihanoi.contract import protocol

        if not devices:
            return
        if self._mqtt is None:
            self._mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-snapshots")
            self._mqtt.connect("127.0.0.1", self.mqtt_port)
            self._mqtt.loop_start()
        topics = protocol.Topics()
        for device in devices:
            request = protocol.SnapshotRequest(id=uuid.uuid4().hex[:12])
            self._mqtt.publish(topics.cmd(device, "snapshot"), protocol.encode(request), qos=1)

    def watch(self) -> None:
        t0 = self.epoch
        agents = [name for name in self.procs if name not in ("mosquitto", "collector")]
        while True:
            alive = [a for a in agents if self.procs[a].poll() is None]
            self.ask_snapshots([a for a in alive if a in self.tv_boards])
            sim = min(self.start + timedelta(seconds=max(0.0, time.monotonic() - t0) * self.args.speed), self.until)
            say(f"simulated {sim:%d/%m %H:%M}: {len(alive)}/{len(agents)} agents running, "
                f"{self.plays()} plays stored by the collector")
            for name in ("mosquitto", "collector"):
                if self.procs[name].poll() is not None:
                    raise SystemExit(f"{name} stopped unexpectedly; see its log in {self.work}")
            if not alive:
                break
            time.sleep(self.args.progress)
        failed = [a for a in agents if self.procs[a].returncode != 0]
        if failed:
            say(f"{len(failed)} agent(s) ended with an error: {', '.join(failed[:5])} (see their logs)")
        # The agents flushed their outboxes on the way out; give the collector its last batch.
        last, stable = -1, 0
        while stable < 3:
            now = self.plays()
            stable = stable + 1 if now == last else 0
            last = now
            time.sleep(0.5)
        say(f"all agents stopped; the collector holds {last} plays")

    def plays_against_traffic(self) -> None:
        """Per simulated day and hour: the share of the day's onsets (all lobbies) and of its plays."""
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as db:
                plays = db.execute("SELECT start FROM plays").fetchall()
                bins = db.execute("SELECT bin_start, onsets FROM traffic").fetchall()
        except sqlite3.Error as exc:
            say(f"no plays-against-traffic table: {exc}")
            return
        for day, rows in hours_against_traffic(plays, bins).items():
            say(f"{day:%d/%m}: where the plays sat against the traffic (all boards, share of the day per hour)")
            for line in rows:
                print("    " + line)

    def report(self) -> None:
        fmt = ["--format", "table"]
        # The report is made at the end of the simulated days: its notes ("offline since ...")
        # speak of simulated time, like everything else in it.
        cmd = [sys.executable, "-m", "broker.cli", "report", "--config", str(self.collector_conf),
               "--from", self.first.isoformat(), "--to", self.last.isoformat(), "--now", self.until.isoformat(), *fmt]
        say("per-unit compliance report:")
        subprocess.run(cmd, cwd=self.work, check=False)
        xlsx = self.work / "report.xlsx"
        subprocess.run(cmd[:-2] + ["--format", "xlsx", "--out", str(xlsx)], cwd=self.work, check=False,
                       stdout=subprocess.DEVNULL)
        if xlsx.exists():
            say(f"the same report as a spreadsheet: {xlsx}")

    def serve(self) -> None:
        import secrets

        from broker.web.users import hash_password

        port = self.args.dashboard_port
        password = secrets.token_urlsafe(9)
        (self.work / "dashboard-secret").write_text(secrets.token_urlsafe(32))
        (self.work / "dashboard-users.toml").write_text(textwrap.dedent(f"""\
            [[user]]
            name = "demo"
            display_name = "Demo"
            role = "operator"
            password = "{hash_password(password)}"
            """))
        days = f"?from={self.first:%d/%m/%Y}&to={self.last:%d/%m/%Y}"
        say(f"dashboard: http://127.0.0.1:{port}/{days}  user demo, password {password}  (Ctrl-C to stop)")
        self.procs["dashboard"] = self._python(["-m", "broker.cli", "serve", "--config", str(self.collector_conf),
                                                "--port", str(port)], self.work / "dashboard.log")
        try:
            self.procs["dashboard"].wait()
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def learn_lobby(onsets, unit, registry, path: Path, hold_seconds: float = 8.0) -> None:
    """What a board of ``unit`` would have learned from ``onsets`` (its past weeks), saved at ``path``."""
    import numpy as np

    from edge.presence import apply_hold
    from edge.traffic import TrafficModel
    from ihanoi.contract.opendays import Calendar
    from ihanoi.contract.timeofday import bin_of_day

    hours = registry.hours_of(unit)
    calendar = Calendar(hours=hours, days_off=frozenset(registry.days_off_of(unit)))
    model = TrafficModel(hours, kind=unit.kind)
    by_day: dict[date, list[int]] = {}
    for t in apply_hold(onsets, hold_seconds):
        by_day.setdefault(t.date(), []).append(bin_of_day(t, model.bin_seconds))
    for day in sorted(by_day):
        if calendar.is_open(day):
            model.observe_day(day, np.bincount(by_day[day], minlength=model.bins_per_day).astype(float))
    model.save(path)


def hours_against_traffic(plays, bins) -> dict[date, list[str]]:
    """Three lines per day: the open hours, the share of the day's onsets and of its plays in each.

    ``plays``: rows (start,); ``bins``: rows (bin_start, onsets); times as the collector's SQLite
    keeps them (naive UTC)."""
    from collections import Counter

    def local(text):
        return datetime.fromisoformat(str(text)).replace(tzinfo=timezone.utc).astimezone(CAMPAIGN_TZ)

    onsets: dict[date, Counter] = {}
    for start, n in bins:
        t = local(start)
        onsets.setdefault(t.date(), Counter())[t.hour] += n
    made: dict[date, Counter] = {}
    for (start,) in plays:
        t = local(start)
        made.setdefault(t.date(), Counter())[t.hour] += 1
    out = {}
    for day in sorted(made):
        traffic, count = onsets.get(day, Counter()), made[day]
        t_total, p_total = max(sum(traffic.values()), 1), max(sum(count.values()), 1)
        # The hours that matter: a play in them or at least 1 % of the day's onsets (not the night guard).
        hours = sorted(h for h in set(count) | set(traffic) if count[h] or traffic[h] >= 0.01 * t_total)
        out[day] = ["hour    " + "".join(f"{h:>5d}" for h in hours),
                    "traffic " + "".join(f"{100 * traffic[h] / t_total:>4.0f}%" for h in hours),
                    "plays   " + "".join(f"{100 * count[h] / p_total:>4.0f}%" for h in hours)
                    + f"   ({p_total} plays; {sum(count[h] for h in hours if h < 12)} before noon)"]
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m ihanoi.tools.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--days", type=int, default=1, help="simulated days (default 1)")
    p.add_argument("--first-day", type=date.fromisoformat, default=date(2024, 9, 4),
                   help="first simulated day (default 2024-09-04, a Wednesday of the campaign)")
    p.add_argument("--learned-weeks", type=int, default=3, metavar="N",
                   help="weeks of each lobby's traffic learned before the first day (default 3: a board in "
                        "service; 0: a board's first day, on its kind's prior)")
    p.add_argument("--speed", type=float, default=360, help="simulated seconds per real second (default 360)")
    p.add_argument("--units", default="all", help="all (default), wards, a kind, or unit ids separated by commas")
    p.add_argument("--show", help="the board shown in the emulator (default: the first LED board)")
    p.add_argument("--no-emulator", action="store_true", help="no browser view")
    p.add_argument("--emulator-port", type=int, default=8888)
    p.add_argument("--mqtt-port", type=int, default=0, help="default: a free port")
    p.add_argument("--serve", action="store_true", help="serve the dashboard after the report")
    p.add_argument("--dashboard-port", type=int, default=8080)
    p.add_argument("--progress", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument("--workdir", default="var/demo", help="where everything is written (emptied first)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(args.workdir)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    district = District(args)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        district.start_broker()
        district.start_collector()
        district.start_agents()
        district.watch()
        district.plays_against_traffic()
        district.report()
        if args.serve:
            district.serve()
    except KeyboardInterrupt:
        say("interrupted; stopping everything")
    finally:
        district.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
