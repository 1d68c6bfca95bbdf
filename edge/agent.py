"""The agent: what runs on every lobby Pi. It wires the board's parts and turns the run loop.

One loop on the injected clock (real, or simulated with ``--speed``): feed presence (motion
onsets, traffic bins into the outbox), learn the day's traffic when a day ends, apply the
district's commands, switch to a newly installed bundle, ask the planner whether to play,
play the chosen campaign's content, let the screen show its filler between plays, and ping the
systemd watchdog.
Each of those is a part with its own module and tests; nothing in here does arithmetic of its own:

    presence (edge.presence)   planner (edge.campaign_plan)   PlayMaker (edge.plays)
    DayLearner (edge.learning) screen (edge.screen)           Inbox/BoardCommands (edge.inbox)
    Promo (edge.promo)         Health (edge.health)           Link (edge.link) -> MQTT
    CampaignBook (edge.campaigns)

The board plays every campaign of the district's signed set (``edge.campaigns``; the registry's
campaign until one arrives): one planner per campaign, a coordinator sharing the screen between
them (``edge.campaign_plan``). The registry's campaign is the board's own: it plays the promo
(``Promo.current``) with the board's quota and gap, as a board did before campaigns; another
campaign plays the pack of its content id, once that pack is on the board.

The screen is an LED board (panel, frame player, LED filler) or a TV (mpv, the TV filler, its
power over HDMI-CEC), as the device config says; the loop does not ask which. A ``play-now``
arriving during a play cuts it (reported as interrupted; the planner catches up).

The outbox and the play log share one SQLite file (``edge.localdb``), so a play is reported
and recorded in one transaction.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path

from edge.campaign_plan import CampaignPlanner
from edge.campaigns import CampaignBook
from edge.config import DeviceConfig
from edge.health import Health
from edge.inbox import BoardCommands, Inbox
from edge.learning import DayLearner
from edge.link import Link
from edge.localdb import open_local_db
from edge.outbox import Outbox
from edge.panel.profile import PanelProfile
from edge.playlog import PlayLog
from edge.planner import PlanRules
from edge.plays import PlayMaker
from edge.presence import PirSource, Presence, TraceSource
from edge.promo import Promo
from edge.screen import screen_for
from edge.service import Service
from edge.traffic import TrafficModel
from edge.updates.installer import Installer
from edge.updates.service import UpdateService, command_result
from ihanoi.contract import protocol
from ihanoi.contract.campaigns import Campaign, from_registry
from ihanoi.contract.clock import Clock
from ihanoi.contract.errors import ProtocolError, TrafficModelError
from ihanoi.contract.keys import load_trusted
from ihanoi.contract.registry import Registry

log = logging.getLogger("ihanoi.agent")


class _Either:
    """Set when either event is: the play's stop (shutdown, or a play-now that cuts it)."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class Agent:
    def __init__(self, config: DeviceConfig, registry: Registry, profile: PanelProfile | None, clock: Clock, *,
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
        self.cut_event = threading.Event()              # a play-now arrived: the play in progress ends
        self.play_stop = _Either(self.stop_event, self.cut_event)
        data = config.data_dir
        data.mkdir(parents=True, exist_ok=True)

        db = open_local_db(data, clock)
        self.outbox = Outbox(db, config.device, max_events=config.outbox.max_events, clock=clock)
        self.play_log = PlayLog(db, self.tz)
        # A screen that cannot be driven (LED library missing, not a Pi, mpv missing...) says why in
        # ``screen.fault``: the agent keeps reporting, and makes no plays on it.
        self.screen = screen_for(config, clock=clock, unit_name=self.unit.name, tz=self.tz, profile=profile,
                                 brightness=self.brightness, is_open=self._is_open, ping=lambda: self.service.ping())
        try:
            content_id = registry.campaign.content_id
            self.configured_pack = config.resolve(config.content.pack) or self.screen.default_pack(content_id)
            self.installer = self._make_installer()
            self.promo = Promo(self.screen.load, self.configured_pack, content_id,
                               installed=self.installer.current_pack if self.installer else lambda: None,
                               locate=lambda cid: [*self._installed_pack(cid), data / "packs" / cid,
                                                   self.screen.default_pack(cid)])
            self.screen.use_fillers([config.resolve(p) for p in config.content.filler])
        except BaseException:
            self.screen.close()           # a TV's mpv is a process of its own: never left behind
            raise

        self.base_rules = PlanRules.from_config(config, registry, play_seconds=self.promo.current.total_duration)
        self._bundle_installed = threading.Event()   # set on the update thread, handled by the loop
        self.updates = UpdateService(self.installer, on_result=self._update_result, on_installed=self._installed,
                                     topics=protocol.Topics(config.broker.topic_prefix)) if self.installer else None
        self.commands = BoardCommands(self.play_log, self._answer, base_quota=self.base_rules.quota,
                                      set_quota=self._set_quota, set_brightness=self.screen.set_brightness,
                                      snapshot=self.screen.snapshot, publish=self._publish_retained,
                                      updates=self.updates)
        self.rules = dataclasses.replace(self.base_rules, quota=self.commands.quota_override())
        self.model_path = data / "traffic.json"
        self.model = self._load_model()
        self.own_campaign = from_registry(registry)
        self.unit_calendar = dataclasses.replace(self.rules.calendar, first_day=None, last_day=None)
        self.book = CampaignBook(db, load_trusted(config.campaign_keys()),
                                 config.unit, self.own_campaign, self.tz, clock)
        self.planner = CampaignPlanner(self.model, self._rules_for)
        self._plan_campaigns()
        self.presence = Presence(clock, hold_seconds=config.pir.hold_seconds, bin_seconds=config.planner.bin_seconds,
                                 on_bin=self._on_bin)
        self.plays = PlayMaker(self.screen.player, self.presence, self.play_log, self.outbox, clock,
                               ping=self.service.ping, campaign_of=self._campaign_of)
        # The lobby's traffic is learned on every open day of the unit, whichever campaigns run.
        self.learner = DayLearner(self.model, self.model_path, self.presence, self.unit_calendar, self.tz)
        self.inbox = Inbox(protocol.Topics(config.broker.topic_prefix), self.commands, self._answer,
                           on_play_now=self.cut_event.set, on_campaigns=self._on_campaigns)
        self.link = Link(config.device, config.broker, self.outbox, clock=clock, password=password,
                         window=config.outbox.window, status=self._announced, on_command=self.inbox.put,
                         unit=config.unit, receipts=config.outbox.receipts,
                         receipt_timeout=config.outbox.receipt_timeout_s) if connect else None
        self.health = Health(self.outbox, clock, [self.status] + ([self.link.figures] if self.link else []),
                             interval=config.health.interval_seconds)

    # --- the LED board's parts (tests and tools look at them) ------------------------------------
    @property
    def panel(self):
        return self.screen.panel

    @property
    def filler(self):
        return self.screen.filler

    # --- set-up ---------------------------------------------------------------------------------
    def brightness(self) -> int:
        """An LED board's brightness: the last command's, else the device config's."""
        configured = self.config.panel.brightness if self.config.panel is not None else 100
        return int(self.play_log.get("brightness", configured))

    def _is_open(self, t: datetime) -> bool:
        """The unit's open days and opening hours on a day some campaign runs (the TV's power follows them)."""
        day = t.astimezone(self.tz).date()
        return self.unit_calendar.is_open(day) and self.rules.hours.contains(t) and bool(self.book.active_on(day))

    def _make_installer(self) -> Installer | None:
        keys = [self.config.resolve(k) for k in self.config.content.trusted_keys]
        if not keys:
            log.info("no content.trusted_keys: signed content updates are off on this device")
            return None
        # A bundle is checked the way this screen plays it: compiled for the panel, or the clip decoded whole.
        # The district's bundle server is signed by the broker's CA (docs/updates.md): downloads
        # trust it as well as the system's CAs.
        # The promo is the installed bundle of the registry campaign's pack; other campaigns' bundles sit beside it.
        return Installer(self.config.data_dir, self.config.device, self.config.unit, keys,
                         compile_fn=self.screen.verify, clock=self.clock, fallback=self.configured_pack,
                         ca_file=self.config.resolve(self.config.broker.ca_file),
                         promo=self.registry.campaign.content_id)

    def _load_model(self) -> TrafficModel:
        try:
            return TrafficModel.load(self.model_path, self.rules.hours)
        except TrafficModelError as exc:
            if self.model_path.exists():
                log.warning("%s; starting from the opening-hours prior", exc)
            return TrafficModel(self.rules.hours, bin_seconds=self.config.planner.bin_seconds, kind=self.unit.kind)

    def _recover(self) -> None:
        """Report a play cut by a crash or power cut, then tell the planner what today already holds."""
        self.plays.recover()
        today = self.clock.now().astimezone(self.tz).date()
        for record in self.play_log.plays_on(today):
            if record.counted:
                self.planner.record_play(self._campaign_of(record.content), record.start, record.end, record.reason)

    # --- the loop -------------------------------------------------------------------------------
    def run(self, until: datetime | None = None) -> None:
        """Until ``stop()`` (SIGTERM) or, on a simulated clock, until ``until``."""
        try:                            # whatever fails from here, the screen (mpv) and the link are closed
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
            announced_fault = self.screen.fault
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
                if self.screen.fault != announced_fault:
                    announced_fault = self.screen.fault          # the fleet page hears it now, not in a minute
                    if self.link is not None:
                        self.link.publish_state()
                self.presence.tick(now)
                self.learner.roll(now, self.clock.synced())
                self.inbox.handle()
                self.cut_event.clear()          # every play-now that asked for a cut is in the queue now
                self._switch_promo()
                if self.commands.manual and self._can_play(now, manual=True):
                    self._play("manual", self._manual_campaign(now), self.commands.manual.pop(0))
                    continue
                if self.clock.monotonic() >= next_plan:
                    next_plan = self.clock.monotonic() + self.rules.slot_seconds / 2
                    if self._can_play(now):
                        planned = self.planner.next_play(now, self.presence.onsets_since(now - self.planner.lookback))
                        if planned is not None:
                            self._play(planned.reason, planned.campaign)
                            continue
                if self.screen.between_plays(now, self.rules.hours.contains(now), self.clock.synced(),
                                             self.play_stop):
                    continue                    # a filler clip took its time
                self.service.ping()
                self.clock.sleep(self.step)
        finally:
            self._shutdown()

    def stop(self) -> None:
        self.stop_event.set()

    def _can_play(self, now: datetime, manual: bool = False) -> bool:
        if not self.screen.can_play:
            return False          # nobody would see it: the planner catches up once the screen is back
        if not self.clock.synced():
            return False          # a Pi without RTC before NTP: the hours would be wrong
        if manual:
            return True
        # Each campaign's planner keeps to its own window; the board to the unit's days and hours.
        return self.unit_calendar.is_open(now.astimezone(self.tz).date()) and self.rules.hours.contains(now)

    def _play(self, reason: str, campaign: str, command_id: str | None = None) -> None:
        promo = self._pack_of(campaign)
        log.info("playing %s %s for %s (%s)", promo.id, promo.version, campaign, reason)
        self.screen.before_play()
        record = self.plays.play(promo, reason, self.play_stop, campaign)
        if record.counted:              # an interrupted play, or one the screen did not show, is caught up
            self.planner.record_play(campaign, record.start, record.end, reason)
        how = "" if record.counted else ", interrupted" if not record.completed else ", not counted: screen off"
        log.info("played %s (%s%s), audience %d", promo.id, reason, how, record.audience,
                 extra={"ev_reason": reason, "ev_campaign": campaign, "ev_audience": record.audience,
                        "ev_completed": record.completed,
                        "ev_command": command_id, "ev_screen": record.screen})

    def _on_bin(self, bin_start: datetime, bin_seconds: int, onsets: int) -> None:
        self.outbox.commit("traffic", bin_start=bin_start, bin_seconds=bin_seconds, onsets=onsets)

    # --- the campaigns -----------------------------------------------------------------------------
    def _rules_for(self, campaign: Campaign) -> PlanRules:
        """A campaign's rules on this board: its window, quota, gap and clip. The registry's campaign
        keeps the board's quota (a unit's or a command's raise) and the config's gap."""
        calendar = dataclasses.replace(self.rules.calendar, first_day=campaign.first_day, last_day=campaign.last_day)
        if campaign.id == self.own_campaign.id:
            gap = self.config.planner.min_gap_minutes or campaign.min_gap_minutes
            return dataclasses.replace(self.rules, calendar=calendar, quota=max(self.rules.quota, campaign.quota),
                                       min_gap=timedelta(minutes=gap))
        return dataclasses.replace(self.rules, calendar=calendar, quota=campaign.quota,
                                   min_gap=timedelta(minutes=campaign.min_gap_minutes),
                                   play_seconds=self._pack_of(campaign.id, campaign).total_duration)

    def _pack_of(self, campaign_id: str, campaign: Campaign | None = None):
        if campaign_id == self.own_campaign.id:
            return self.promo.current
        campaign = campaign or next(c for c in self.book.campaigns if c.id == campaign_id)
        return self.promo.pack_for(campaign.content_id)

    def _plan_campaigns(self) -> None:
        """Plan the campaigns of the set whose content is on the board (the others wait, said in health)."""
        self.promo.forget_missing()
        playable = [c for c in self.book.campaigns
                    if c.id == self.own_campaign.id or self.promo.pack_for(c.content_id) is not None]
        self.planner.set_campaigns(playable)

    def _campaign_of(self, content: dict) -> str | None:
        """The campaign a play of ``content`` was for (a play found in the log after a restart)."""
        for campaign in self.planner.campaigns:
            if campaign.content_id == content.get("id") and campaign.id != self.own_campaign.id:
                return campaign.id
        return self.own_campaign.id if content.get("id") == self.promo.current.id else None

    def _manual_campaign(self, now: datetime) -> str:
        """A play-now plays the first campaign of the set active now (the registry's, when none is)."""
        active = self.planner.active(now)
        return active[0].campaign.id if active else self.own_campaign.id

    def _on_campaigns(self, payload: bytes) -> None:
        try:
            applied = self.book.offer(payload)
        except ProtocolError as exc:
            self._answer("campaigns", None, False, f"{exc.reason}: {exc.detail}")
            return
        if applied is None:
            return
        self._plan_campaigns()
        self._answer("campaigns", None, True, f"campaign set version {applied.version}: "
                                              f"{', '.join(c.id for c in applied.campaigns) or 'no campaigns'}")

    # --- what commands change -------------------------------------------------------------------
    def _set_quota(self, quota: int) -> None:
        self.rules = dataclasses.replace(self.rules, quota=quota)
        self.planner.refresh()

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

    def _installed(self, bundle: str) -> None:
        """A bundle was installed (update thread): the promo's is offered, any other re-plans the campaigns."""
        pack = self.installer.current_pack()
        if pack is not None and self.installer.pack_of(bundle, "") == pack:
            self.promo.offer(pack)
        self._bundle_installed.set()

    def _installed_pack(self, content_id: str) -> list[Path]:
        """The installed bundle carrying a campaign's pack: the one its ``bundle`` names, else by the pack id."""
        if self.installer is None:
            return []
        bundle = next((c.bundle for c in self.book.campaigns if c.content_id == content_id and c.bundle), None)
        found = self.installer.pack_of(bundle, content_id)
        return [found] if found else []

    def _switch_promo(self) -> None:
        switched = self.promo.switch_if_offered()
        if self._bundle_installed.is_set():
            self._bundle_installed.clear()
            self.promo.renew()                       # a campaign's pack may have come, or a newer one
            self._plan_campaigns()
        if not switched:
            return
        self.rules = dataclasses.replace(self.rules, play_seconds=self.promo.current.total_duration)
        self._plan_campaigns()
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
        return {**self._content(), "screen_fault": self.screen.fault}

    def status(self) -> dict:
        """What health reports about the board itself (the link and the outbox add their own)."""
        per_campaign = self.planner.plays_today()
        details = {"plays_today": sum(per_campaign.values()), "quota": self.rules.quota, "unit": self.unit.id,
                   "screen": self.screen.kind, "campaign_plays_today": per_campaign, **self.book.figures(),
                   "campaigns_without_pack": {c.id: self.promo.missing[c.content_id] for c in self.book.campaigns
                                              if c.content_id in self.promo.missing},
                   **self.screen.figures(), **self.plays.figures()}
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
        self.screen.close()
        self.outbox.close()
        log.info("agent %s stopped", self.config.device)
