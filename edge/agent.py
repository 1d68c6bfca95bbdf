"""The agent: what runs on every lobby Pi. It wires the board's parts and turns the run loop.

One loop on the injected clock (real, or simulated with ``--speed``): feed presence (motion
onsets, traffic bins into the outbox), learn the day's traffic when a day ends, apply the
district's commands, switch to a newly installed bundle, ask the planner whether to play,
play the promo, show the filler between plays, and ping the systemd watchdog. Each of those
is a part with its own module and tests; nothing in here does arithmetic of its own:

    presence (edge.presence)   planner (edge.planner)   PlayMaker (edge.plays)
    DayLearner (edge.learning) Filler (edge.filler)     Inbox/BoardCommands (edge.inbox)
    Promo (edge.promo)         Health (edge.health)     Link (edge.link) -> MQTT

The outbox and the play log share one SQLite file (``edge.localdb``), so a play is reported
and recorded in one transaction.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path

from edge.config import DeviceConfig
from edge.content import builtin_pack, compile_pack
from edge.filler import Filler
from edge.health import Health
from edge.inbox import BoardCommands, Inbox
from edge.learning import DayLearner
from edge.link import Link
from edge.localdb import open_local_db
from edge.outbox import Outbox
from edge.panel import open_panel_or_dark
from edge.panel.profile import PanelProfile
from edge.player import Player
from edge.playlog import PlayLog
from edge.planner import Planner, PlanRules
from edge.plays import PlayMaker
from edge.presence import PirSource, Presence, TraceSource
from edge.promo import Promo
from edge.service import Service
from edge.traffic import TrafficModel
from edge.updates.installer import Installer
from edge.updates.service import UpdateService, command_result
from ihanoi.contract import protocol
from ihanoi.contract.clock import Clock
from ihanoi.contract.errors import TrafficModelError
from ihanoi.contract.registry import Registry

log = logging.getLogger("ihanoi.agent")


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
        self.pir_trace = pir_trace
        self.stop_event = threading.Event()
        data = config.data_dir
        data.mkdir(parents=True, exist_ok=True)

        db = open_local_db(data, clock)
        self.outbox = Outbox(db, config.device, max_events=config.outbox.max_events, clock=clock)
        self.play_log = PlayLog(db, self.tz)
        # A board that cannot be driven (library missing, not a Pi, wrong mode...) stays dark with the
        # reason in ``panel.fault``: the agent keeps reporting, and makes no plays on it.
        self.panel = open_panel_or_dark(config.panel_output, profile, data, brightness=self.brightness(),
                                        gpio_access=config.panel.gpio_access)
        self.installer = self._make_installer()
        self.promo = Promo(self._compile, config.resolve(config.content.pack), registry.campaign.content_id,
                           installed=self.installer.current_pack if self.installer else lambda: None)
        self.player = Player(self.panel, clock, on_frame=lambda _n: self.service.ping())
        self.filler = Filler(self.panel, profile, self.unit.name, self.tz, config.panel, self.brightness,
                             packs=self.promo.compile_fillers([config.resolve(p) for p in config.content.filler]),
                             pack_every=timedelta(minutes=config.content.filler_every_minutes))

        self.base_rules = PlanRules.from_config(config, registry, play_seconds=self.promo.current.total_duration)
        self.updates = UpdateService(self.installer, on_result=self._update_result, on_installed=self.promo.offer,
                                     topics=protocol.Topics(config.broker.topic_prefix)) if self.installer else None
        self.commands = BoardCommands(self.play_log, self._answer, base_quota=self.base_rules.quota,
                                      set_quota=self._set_quota, set_brightness=self._set_brightness,
                                      snapshot=self.panel.snapshot, publish=self._publish_retained,
                                      updates=self.updates)
        self.rules = dataclasses.replace(self.base_rules, quota=self.commands.quota_override())
        self.model_path = data / "traffic.json"
        self.model = self._load_model()
        self.planner = Planner(self.rules, self.model)
        self.presence = Presence(clock, hold_seconds=config.pir.hold_seconds, bin_seconds=config.planner.bin_seconds,
                                 on_bin=self._on_bin)
        self.plays = PlayMaker(self.player, self.presence, self.play_log, self.outbox, clock, ping=self.service.ping)
        self.learner = DayLearner(self.model, self.model_path, self.presence, self.rules.calendar, self.tz)
        self.inbox = Inbox(protocol.Topics(config.broker.topic_prefix), self.commands, self._answer)
        self.link = Link(config.device, config.broker, self.outbox, clock=clock, password=password,
                         window=config.outbox.window, status=self._announced, on_command=self.inbox.put,
                         unit=config.unit, receipts=config.outbox.receipts,
                         receipt_timeout=config.outbox.receipt_timeout_s) if connect else None
        self.health = Health(self.outbox, clock, [self.status] + ([self.link.figures] if self.link else []),
                             interval=config.health.interval_seconds)

    # --- set-up ---------------------------------------------------------------------------------
    def brightness(self) -> int:
        """The board's brightness: the last command's, else the device config's."""
        return int(self.play_log.get("brightness", self.config.panel.brightness))

    def _compile(self, pack: Path):
        return compile_pack(pack, self.profile, self.config.data_dir / "frames")

    def _make_installer(self) -> Installer | None:
        keys = [self.config.resolve(k) for k in self.config.content.trusted_keys]
        if not keys:
            log.info("no content.trusted_keys: signed content updates are off on this device")
            return None
        configured = self.config.resolve(self.config.content.pack)
        # The district's bundle server is signed by the broker's CA (docs/updates.md): downloads
        # trust it as well as the system's CAs.
        return Installer(self.config.data_dir, self.config.device, self.config.unit, keys,
                         compile_fn=self._compile, clock=self.clock,
                         fallback=configured or builtin_pack(self.registry.campaign.content_id),
                         ca_file=self.config.resolve(self.config.broker.ca_file))

    def _load_model(self) -> TrafficModel:
        try:
            return TrafficModel.load(self.model_path, self.rules.hours)
        except TrafficModelError as exc:
            if self.model_path.exists():
                log.warning("%s; starting from the opening-hours prior", exc)
            return TrafficModel(self.rules.hours, bin_seconds=self.config.planner.bin_seconds)

    def _recover(self) -> None:
        """Report a play cut by a crash or power cut, then tell the planner what today already holds."""
        self.plays.recover()
        today = self.clock.now().astimezone(self.tz).date()
        for record in self.play_log.plays_on(today):
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
            self.health.start()
        if self.updates:
            self.updates.start()
        promo = self.promo.current
        self.service.ready(f"{self.config.device}: showing {promo.id} {promo.version}")
        log.info("agent %s of %s running (quota %d/day, promo %.0f s)", self.config.device, self.unit.name,
                 self.rules.quota, promo.total_duration)
        next_plan = self.clock.monotonic()
        synced = self.clock.synced()
        try:
            while not self.stop_event.is_set():
                now = self.clock.now()
                if until is not None and now >= until:
                    log.info("reached %s: stopping", until.isoformat())
                    break
                if not synced and self.clock.synced():
                    # The state said "online since" a time from before NTP (1970 on a Pi without RTC),
                    # which the collector refuses: say it again with the right time.
                    synced = True
                    if self.link is not None:
                        self.link.publish_state()
                self.presence.tick(now)
                self.learner.roll(now, self.clock.synced())
                self.inbox.handle()
                self._switch_promo()
                if self.commands.manual and self._can_play(now, manual=True):
                    self._play("manual", self.commands.manual.pop(0))
                    continue
                if self.clock.monotonic() >= next_plan:
                    next_plan = self.clock.monotonic() + self.rules.slot_seconds / 2
                    if self._can_play(now):
                        planned = self.planner.next_play(now, self.presence.onsets_since(now - self.planner.lookback))
                        if planned is not None:
                            self._play(planned.reason)
                            continue
                is_open = self.rules.hours.contains(now)
                pack = self.filler.pack_due(now, is_open)
                if pack is not None:
                    self.panel.set_brightness(self.brightness())
                    self.player.on_frame = lambda _n: self.service.ping()
                    self.player.play(pack, self.stop_event)
                    self.filler.pack_shown(self.clock.now())
                    continue
                self.filler.show(now, is_open, self.clock.synced())
                self.service.ping()
                self.clock.sleep(self.step)
        finally:
            self._shutdown()

    def stop(self) -> None:
        self.stop_event.set()

    def _can_play(self, now: datetime, manual: bool = False) -> bool:
        if self.panel.fault:
            return False          # nobody would see it: the planner catches up once the board is back
        if not self.clock.synced():
            return False          # a Pi without RTC before NTP: the hours would be wrong
        if manual:
            return True
        return self.rules.calendar.is_open(now.astimezone(self.tz).date()) and self.rules.hours.contains(now)

    def _play(self, reason: str, command_id: str | None = None) -> None:
        promo = self.promo.current
        log.info("playing %s %s (%s)", promo.id, promo.version, reason)
        self.filler.invalidate()
        self.panel.set_brightness(self.brightness())
        record = self.plays.play(promo, reason, self.stop_event)
        if record.completed:
            self.planner.record_play(record.start, record.end, reason)
        log.info("played %s (%s%s), audience %d", promo.id, reason, "" if record.completed else ", interrupted",
                 record.audience, extra={"ev_reason": reason, "ev_audience": record.audience,
                                         "ev_completed": record.completed, "ev_command": command_id})

    def _on_bin(self, bin_start: datetime, bin_seconds: int, onsets: int) -> None:
        self.outbox.commit("traffic", bin_start=bin_start, bin_seconds=bin_seconds, onsets=onsets)

    # --- what commands change -------------------------------------------------------------------
    def _set_quota(self, quota: int) -> None:
        self.rules = dataclasses.replace(self.rules, quota=quota)
        self.planner.rules = self.rules

    def _set_brightness(self, percent: int) -> None:
        self.filler.invalidate()
        self.panel.set_brightness(percent)

    def _publish_retained(self, kind: str, payload: bytes) -> None:
        if self.link is not None:
            self.link.publish_direct(kind, payload, qos=1, retain=True)

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

    def _switch_promo(self) -> None:
        if not self.promo.switch_if_offered():
            return
        self.rules = dataclasses.replace(self.rules, play_seconds=self.promo.current.total_duration)
        self.planner.rules = self.rules
        if self.link is not None:
            self.link.publish_state()

    # --- status and shutdown --------------------------------------------------------------------
    def _content(self) -> dict:
        """The content this board plays, as the state and health messages name it."""
        if self.updates is not None:
            update = self.updates.status()
            if update.get("content_version") is not None:
                return {"content_id": update["content_id"], "content_version": update["content_version"]}
        return {"content_id": self.promo.current.id, "content_version": self.promo.current.version}

    def _announced(self) -> dict:
        """What the retained state message says besides online/offline: the content, a dark screen."""
        return {**self._content(), "screen_fault": self.panel.fault}

    def status(self) -> dict:
        """What health reports about the board itself (the link and the outbox add their own)."""
        details = {"plays_today": self.planner.plays_today(), "quota": self.rules.quota, "unit": self.unit.id,
                   "panel_output": self.panel.output, **self.plays.figures()}
        if self.updates is not None:
            details.update(self.updates.status()["details"])
        return {**self._announced(), "details": details}

    def _shutdown(self) -> None:
        self.service.stopping()
        if self.updates:
            self.updates.stop()
        self.presence.close()
        self.health.stop()
        if self.link:
            self.link.stop(flush_timeout=10)
        self.panel.close()
        self.outbox.close()
        log.info("agent %s stopped", self.config.device)
