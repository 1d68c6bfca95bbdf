"""The agent: what runs on every lobby Pi, wiring presence, planner, player, outbox and link.

One loop on the injected clock (real, or simulated with ``--speed``): feed presence, close
traffic bins into the outbox, ask the planner whether to play, play the promo (the start is
journaled before the first frame), show the filler between plays (the unit's name, the
time and date), handle commands from the broker, learn the day's traffic at midnight, and
ping the systemd watchdog. Nothing in here does arithmetic of its own: each part lives in
its module and is tested there.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import queue
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from edge.config import DeviceConfig
from edge.content import PackError, builtin_pack, compile_pack, render_text_frame
from edge.journal import Journal, PlayRecord
from edge.link import Link
from edge.outbox import Outbox
from edge.panel import open_panel
from edge.panel.profile import PanelProfile
from edge.planner import Planner, PlanRules
from edge.player import Player
from edge.presence import PirSource, Presence, TraceSource
from edge.service import Service
from edge.traffic import TrafficModel, TrafficModelError
from edge.updates.installer import Installer
from edge.updates.service import UpdateService, command_result
from ihanoi.contract import protocol
from ihanoi.contract.clock import Clock
from ihanoi.contract.errors import ProtocolError
from ihanoi.contract.registry import Registry

log = logging.getLogger("ihanoi.agent")

PROGRESS_EVERY = timedelta(seconds=5)     # how often a play in progress is journaled
FILLER_MIN_REAL_SECONDS = 1.0             # a simulated clock must not make the filler a CPU hog
FILLER_TEXT_SECONDS = 10                  # the filler shows the unit's name and the time in turn
TEXT_FONTS = ("auto", "fixed-8x13", "fixed-6x13")   # the first that fits the board's width
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


class Agent:
    def __init__(self, config: DeviceConfig, registry: Registry, profile: PanelProfile, clock: Clock, *,
                 pir_trace: Path | None = None, service: Service | None = None, step: float = 1.0,
                 password: str | None = None, connect: bool = True):
        self.config = config
        self.registry = registry
        self.profile = profile
        self.clock = clock
        self.tz = registry.campaign.tz
        self.unit = registry.unit(config.unit)
        self.service = service or Service()
        self.step = step
        self.stop_event = threading.Event()
        self.commands: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        data = config.data_dir
        data.mkdir(parents=True, exist_ok=True)

        self.journal = Journal(data / "agent.db", self.tz)
        self.outbox = Outbox(data / "outbox.db", config.device, max_events=config.outbox.max_events, clock=clock)
        self.panel = open_panel(config.panel_output, profile, data, brightness=self._brightness_setting())
        self.installer = self._make_installer()
        self.promo = self._compile_promo()
        self.filler_packs = self._compile_fillers()
        self._next_filler_pack = 0
        self._filler_pack_due: datetime | None = None
        self._new_pack: Path | None = None
        base_rules = PlanRules.from_config(config, registry, play_seconds=self.promo.total_duration)
        self.base_quota = base_rules.quota
        self.rules = dataclasses.replace(base_rules, quota=max(self.base_quota, self.journal.get("quota_override") or 0))
        self.model_path = data / "traffic.json"
        self.model = self._load_model()
        self.planner = Planner(self.rules, self.model)
        self.presence = Presence(clock, hold_seconds=config.pir.hold_seconds, bin_seconds=config.planner.bin_seconds,
                                 on_bin=self._on_bin)
        self.pir_trace = pir_trace
        self.player = Player(self.panel, clock, on_frame=lambda _n: self.service.ping())
        self._day: date | None = None
        self._filler_key = None
        self._filler_drawn = 0.0
        self._plays_today = 0
        self._manual: list[str] = []
        self._last_play: dict | None = None
        self.frames_late = 0
        self.frames_dropped = 0
        self.updates = UpdateService(self.installer, on_result=self._update_result, on_installed=self._update_installed,
                                     topics=protocol.Topics(config.broker.topic_prefix)) if self.installer else None
        self.link = Link(config.device, config.broker, self.outbox, clock=clock, password=password,
                         window=config.outbox.window, health_interval=config.health.interval_seconds,
                         status=self._status, on_command=self._queue_command, unit=config.unit) if connect else None

    # --- set-up ---------------------------------------------------------------------------------
    def _brightness_setting(self) -> int:
        return int(self.journal.get("brightness", self.config.panel.brightness))

    def _configured_pack(self) -> Path:
        return self.config.resolve(self.config.content.pack) or builtin_pack(self.registry.campaign.content_id)

    def _compile(self, pack: Path):
        return compile_pack(pack, self.profile, self.config.data_dir / "frames")

    def _make_installer(self) -> Installer | None:
        keys = [self.config.resolve(k) for k in self.config.content.trusted_keys]
        if not keys:
            log.info("no content.trusted_keys: signed content updates are off on this device")
            return None
        return Installer(self.config.data_dir, self.config.device, self.config.unit, keys,
                         compile_fn=self._compile, clock=self.clock, fallback=self._configured_pack())

    def _compile_promo(self):
        pack = self.installer.current_pack() if self.installer else self._configured_pack()
        log.info("compiling %s for %s (%dx%d); reused while unchanged", pack, self.profile.name,
                 self.profile.width, self.profile.height)
        try:
            return self._compile(pack)
        except PackError as exc:
            if pack == self._configured_pack():
                raise
            log.error("the installed bundle cannot be played (%s); playing the configured pack", exc)
            return self._compile(self._configured_pack())

    def _compile_fillers(self) -> list:
        packs = []
        for ref in self.config.content.filler:
            path = self.config.resolve(ref)
            try:
                packs.append(self._compile(path))
            except PackError as exc:
                log.error("filler pack %s left out: %s", path, exc)
        return packs

    def _load_model(self) -> TrafficModel:
        try:
            return TrafficModel.load(self.model_path, self.rules.hours)
        except TrafficModelError as exc:
            if self.model_path.exists():
                log.warning("%s; starting from the opening-hours prior", exc)
            return TrafficModel(self.rules.hours, bin_seconds=self.config.planner.bin_seconds)

    def _recover(self) -> None:
        """A play cut by a crash or power cut: report it as interrupted, then let the planner know
        what today already holds (it catches up on the rest)."""
        cut = self.journal.open_play()
        if cut is not None:
            log.warning("the play started at %s was interrupted (agent stopped during it); reporting it",
                        cut.start.isoformat())
            self._report(cut)
        today = self.clock.now().astimezone(self.tz).date()
        for record in self.journal.plays_on(today):
            if record.completed:
                self.planner.record_play(record.start, record.end, record.reason)

    # --- the loop -------------------------------------------------------------------------------
    def run(self, until: datetime | None = None) -> None:
        """Until ``stop()`` (SIGTERM) or, on a simulated clock, until ``until``."""
        self._recover()
        if self.pir_trace is not None:
            self.presence.attach(TraceSource(self.pir_trace))
        elif self.config.pir.enabled:
            self.presence.attach(PirSource(self.config.pir.pin, pull_up=self.config.pir.pull_up))
        if self.link:
            self.link.start()
        if self.updates:
            self.updates.start()
        self.service.ready(f"{self.config.device}: showing {self.promo.id} {self.promo.version}")
        log.info("agent %s of %s running (quota %d/day, promo %.0f s)", self.config.device, self.unit.name,
                 self.rules.quota, self.promo.total_duration)
        next_plan = self.clock.monotonic()
        try:
            while not self.stop_event.is_set():
                now = self.clock.now()
                if until is not None and now >= until:
                    log.info("reached %s: stopping", until.isoformat())
                    break
                self.presence.tick(now)
                self._roll_day(now)
                self._handle_commands(now)
                self._switch_pack()
                if self._manual and self._can_play(now, manual=True):
                    self._play(now, "manual", self._manual.pop(0))
                    continue
                if self.clock.monotonic() >= next_plan:
                    next_plan = self.clock.monotonic() + self.rules.slot_seconds / 2
                    if self._can_play(now):
                        planned = self.planner.next_play(now, self.presence.onsets_since(now - self.planner.lookback))
                        if planned is not None:
                            self._play(now, planned.reason)
                            continue
                if self._filler_pack_time(now):
                    continue
                self._show_filler(now)
                self.service.ping()
                self.clock.sleep(self.step)
        finally:
            self._shutdown()

    def stop(self) -> None:
        self.stop_event.set()

    def _can_play(self, now: datetime, manual: bool = False) -> bool:
        if not self.clock.synced():
            return False          # a Pi without RTC before NTP: the hours would be wrong
        if manual:
            return True
        return self.rules.calendar.is_open(now.astimezone(self.tz).date()) and self.rules.hours.contains(now)

    def _play(self, now: datetime, reason: str, command_id: str | None = None) -> None:
        promo = self.promo
        self.journal.begin(now, reason, promo.content)
        log.info("playing %s %s (%s)", promo.id, promo.version, reason)
        self._filler_key = None
        self.panel.set_brightness(self._brightness_setting())
        last_progress = [now]

        def on_frame(_n):
            self.service.ping()
            t = self.clock.now()
            if t - last_progress[0] >= PROGRESS_EVERY:
                last_progress[0] = t
                self.journal.progress(t, self.presence.audience(now, t))

        self.player.on_frame = on_frame
        result = self.player.play(promo, self.stop_event)
        self.frames_late += result.late
        self.frames_dropped += result.dropped
        self.presence.tick(result.ended)
        record = PlayRecord(result.started, result.ended, reason, result.completed,
                            self.presence.audience(result.started, result.ended), promo.content)
        self._report(record)
        if record.completed:
            self.planner.record_play(record.start, record.end, reason)
            self._plays_today = self.planner.plays_today()
        log.info("played %s (%s%s), audience %d", promo.id, reason, "" if record.completed else ", interrupted",
                 record.audience, extra={"ev_reason": reason, "ev_audience": record.audience,
                                         "ev_completed": record.completed, "ev_command": command_id})

    def _report(self, record: PlayRecord) -> None:
        seq = self.outbox.commit("play", content=record.content, start=record.start, end=record.end,
                                 completed=record.completed, audience=record.audience, reason=record.reason,
                                 clock_synced=self.clock.synced())
        self.journal.finish(record, seq)
        self._last_play = {"start": record.start.isoformat(), "reason": record.reason}

    def _on_bin(self, bin_start: datetime, bin_seconds: int, onsets: int) -> None:
        self.outbox.commit("traffic", bin_start=bin_start, bin_seconds=bin_seconds, onsets=onsets)

    def _roll_day(self, now: datetime) -> None:
        today = now.astimezone(self.tz).date()
        if self._day is None:
            self._watching_since = now          # bins before this were not seen (agent not running)
        elif today != self._day:
            previous = self._day
            if self.rules.calendar.is_open(previous) and self.clock.synced():
                bins = self.presence.day_bins(previous).astype(float)
                since = self._watching_since.astimezone(self.tz)
                if since.date() == previous:
                    seconds = since.hour * 3600 + since.minute * 60 + since.second
                    bins[:seconds // self.presence.bin_seconds] = float("nan")
                self.model.observe_day(previous, bins)
                self.model.save(self.model_path)
                log.info("learned the traffic of %s", previous.isoformat())
            self._plays_today = 0
            self._watching_since = now
        self._day = today

    # --- between plays --------------------------------------------------------------------------
    def _filler_pack_time(self, now: datetime) -> bool:
        """Show the next filler pack of the playlist when it is due (open hours only)."""
        if not self.filler_packs or not self.rules.hours.contains(now):
            return False
        every = timedelta(minutes=self.config.content.filler_every_minutes)
        if self._filler_pack_due is None:
            self._filler_pack_due = now + every
        if now < self._filler_pack_due:
            return False
        pack = self.filler_packs[self._next_filler_pack % len(self.filler_packs)]
        self._next_filler_pack += 1
        self._filler_key = None
        self.panel.set_brightness(self._brightness_setting())
        self.player.on_frame = lambda _n: self.service.ping()
        self.player.play(pack, self.stop_event)
        self._filler_pack_due = self.clock.now() + every
        return True

    def _filler_text(self, text: str):
        for font in TEXT_FONTS:
            frame = render_text_frame(text, self.profile, font=font)
            edge_cols = frame[:, [0, -1]].any()
            if not edge_cols or font == TEXT_FONTS[-1]:
                return frame
        return frame

    def _show_filler(self, now: datetime) -> None:
        local = now.astimezone(self.tz)
        is_open = self.rules.hours.contains(now)
        mode = self.config.panel.off_hours
        if not is_open and mode == "off":
            key = "off"
        elif not self.clock.synced() or int(now.timestamp()) // FILLER_TEXT_SECONDS % 2:
            key = ("name",)
        else:
            key = (local.strftime("%H:%M"), local.date())
        if key == self._filler_key:
            return
        real = time.monotonic()
        text_only = isinstance(key, tuple) and isinstance(self._filler_key, tuple)
        if text_only and real - self._filler_drawn < FILLER_MIN_REAL_SECONDS:
            return
        self._filler_drawn = real
        self._filler_key = key
        if key == "off":
            self.panel.set_brightness(0)
            self.panel.clear()
            return
        self.panel.set_brightness(self._brightness_setting() if is_open or mode == "on"
                                  else self.config.panel.off_hours_brightness)
        if key == ("name",):
            text = self.unit.name
        else:
            text = f"{local:%H:%M}  {WEEKDAYS_VI[local.weekday()]} {local:%d/%m/%Y}" if self.profile.width >= 192 \
                else f"{local:%H:%M} {local:%d/%m}"
        try:
            self.panel.show(self._filler_text(text))
        except PackError as exc:
            log.error("filler text cannot be drawn: %s", exc)

    # --- commands -------------------------------------------------------------------------------
    def _queue_command(self, topic: str, payload: bytes, retained: bool) -> None:
        """Called on the network thread: only queue; the loop acts on it."""
        self.commands.put((topic, payload, retained))

    def _handle_commands(self, now: datetime) -> None:
        while True:
            try:
                topic, payload, retained = self.commands.get_nowait()
            except queue.Empty:
                return
            try:
                scope, verb, command = protocol.decode_command(self.link.topics, topic, payload)
            except ProtocolError as exc:
                log.warning("refused command on %s: %s", topic, exc)
                self._answer(topic.rsplit("/", 1)[-1], None, False, f"{exc.reason}: {exc.detail}")
                continue
            if verb in protocol.ONE_SHOT and retained:
                log.warning("ignored a retained %s command on %s: one-shot commands must not be retained", verb, topic)
                continue
            self._apply(verb, command, now, scope)

    def _apply(self, verb: str, command, now: datetime, scope: str = "device") -> None:
        if verb == "play-now":
            if self.journal.seen_command(command.id):
                return
            self._manual.append(command.id)
            self._answer(verb, command.id, True, "queued")
        elif verb == "quota":
            wanted = command.quota or 0
            if command.quota is not None and command.quota < self.base_quota:
                self._answer(verb, None, False, f"quota {command.quota} is below {self.base_quota}, the unit's "
                                                "quota; it may be raised, never lowered")
                return
            self.journal.put("quota_override", wanted or None)
            self.rules = dataclasses.replace(self.rules, quota=max(self.base_quota, wanted))
            self.planner.rules = self.rules
            log.info("quota is now %d plays per open day", self.rules.quota)
            self._answer(verb, None, True, f"quota {self.rules.quota}")
        elif verb == "brightness":
            self.journal.put("brightness", command.percent)
            self._filler_key = None
            self.panel.set_brightness(command.percent)
            self._answer(verb, None, True, f"brightness {command.percent}%")
        elif verb == "snapshot":
            self._publish_snapshot(command.id)
        elif verb == "content":
            if self.updates is None:
                self._answer(verb, None, False, "content updates are off: no content.trusted_keys in the device config")
            else:
                self.updates.submit(command, scope)

    def _publish_snapshot(self, command_id: str) -> None:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(self.panel.snapshot()).save(buf, format="PNG")
        self.link.publish_direct("snapshot", buf.getvalue(), qos=1, retain=True)
        self._answer("snapshot", command_id, True, f"{len(buf.getvalue())} bytes")

    def _answer(self, verb: str, command_id: str | None, ok: bool, reason: str) -> None:
        if self.link is None:
            return
        result = protocol.CommandResult(device=self.config.device, command=verb, id=command_id, ok=ok,
                                        reason=reason, time=self.clock.now())
        self.link.publish_direct("cmd-result", protocol.encode(result), qos=1)

    # --- content updates (the installer works on its own thread) ---------------------------------
    def _update_result(self, result) -> None:
        if self.link is not None:
            self.link.publish_direct("cmd-result", protocol.encode(command_result(self.config.device, result,
                                                                                  self.clock)), qos=1)

    def _update_installed(self, pack: Path) -> None:
        self._new_pack = pack              # picked up by the loop between two plays

    def _switch_pack(self) -> None:
        pack, self._new_pack = self._new_pack, None
        if pack is None:
            return
        try:
            self.promo = self._compile(pack)
        except PackError as exc:
            log.error("the new bundle cannot be played (%s); keeping %s %s", exc, self.promo.id, self.promo.version)
            return
        self.rules = dataclasses.replace(self.rules, play_seconds=self.promo.total_duration)
        self.planner.rules = self.rules
        log.info("now playing %s %s", self.promo.id, self.promo.version)
        if self.link is not None:
            self.link.publish_state()

    # --- status and shutdown --------------------------------------------------------------------
    def _status(self) -> dict:
        status = {"content_id": self.promo.id, "content_version": self.promo.version,
                  "details": {"plays_today": self._plays_today, "quota": self.rules.quota,
                              "frames_late": self.frames_late, "frames_dropped": self.frames_dropped,
                              "last_play": self._last_play, "unit": self.unit.id}}
        if self.updates is not None:
            update = self.updates.status()
            if update.get("content_version") is not None:
                status["content_id"], status["content_version"] = update["content_id"], update["content_version"]
            status["details"].update(update["details"])
        return status

    def _shutdown(self) -> None:
        self.service.stopping()
        if self.updates:
            self.updates.stop()
        self.presence.close()
        if self.link:
            self.link.stop(flush_timeout=10)
        self.panel.close()
        self.outbox.close()
        self.journal.close()
        log.info("agent %s stopped", self.config.device)
