"""What the pages ask the store, on top of the report's own code (one definition of compliance).

Compliance, the district summary and each device's online/offline state come from
``broker.report`` exactly as ``ihanoi-broker report`` computes them; this module only
narrows the registry (a kind of unit), and adds what the report does not carry: traffic and
plays by hour of day for a chart, CPU temperature from the latest heartbeat, and snapshots.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select

from broker.report.across import across
from broker.report.build import chosen_campaigns, device_states, report_from_store
from broker.report.compliance import (DeviceNote, PlayRow, Report, device_notes, latest_per_screen,
                                      screen_tallies)
from broker.store import Store, schema
from ihanoi.contract.campaigns import from_registry
from ihanoi.contract.protocol import screen_showed
from ihanoi.contract.registry import Registry

SCREEN_DAYS = 7          # the fleet page tells of TVs that were off during plays over this many days


def narrowed(registry: Registry, kind: str | None = None, unit: str | None = None) -> Registry:
    """The same registry with only the units of one kind (or one unit): the report of a part."""
    if not kind and not unit:
        return registry
    units = tuple(u for u in registry.units if (not kind or u.kind == kind) and (not unit or u.id == unit))
    return Registry(campaign=registry.campaign, hours=registry.hours, units=units)


def compliance(store: Store, registry: Registry, first: date, last: date, now: datetime,
               offline_after: timedelta, kind: str | None = None, unit: str | None = None,
               campaign=None) -> Report:
    """The report of ``campaign`` (a contract ``Campaign``; the registry's when None) for a part of the district."""
    return report_from_store(store, narrowed(registry, kind, unit), first, last, now, offline_after, campaign)


class Reports:
    """The report per (period, kind, unit), kept for the minute it was made in.

    A campaign's report takes about a second to build; pages ask for the same ones again and
    again (every viewer, every chart). Numbers at most a minute old are fine for a dashboard.
    """

    def __init__(self, store: Store, registry: Registry, offline_after: timedelta, size: int = 64):
        self.store, self.registry, self.offline_after, self.size = store, registry, offline_after, size
        self._cache: OrderedDict[tuple, Report] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, first: date, last: date, now: datetime, kind: str | None = None,
            unit: str | None = None, campaign=None) -> Report:
        key = (first, last, kind, unit, campaign, now.replace(second=0, microsecond=0))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        report = compliance(self.store, self.registry, first, last, now, self.offline_after, kind, unit, campaign)
        with self._lock:
            self._cache[key] = report
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return report


def of_unit(report: Report, unit: str) -> Report:
    """The district's report cut to one unit's rows (each unit's rows are computed on their own;
    ``district`` stays the district's)."""
    return replace(report, days=[d for d in report.days if d.unit == unit],
                   units=[u for u in report.units if u.unit == unit],
                   devices=[n for n in report.devices if n.unit == unit])


def campaign_to_date(registry: Registry, now: datetime, campaign=None) -> tuple[date, date]:
    """First day of the campaign (the registry's when None) to today (or to its last day once it is over)."""
    c = campaign or registry.campaign
    today = now.astimezone(registry.campaign.tz).date()
    last = min(max(today, c.first_day), c.last_day)
    return c.first_day, last


# --- fleet ------------------------------------------------------------------------------------
@dataclass
class FleetRow:
    note: DeviceNote
    unit_name: str
    location: str
    software_version: str | None
    cpu_temp_c: float | None
    throttled: int | None
    last_health: datetime | None
    silent_for_s: float | None
    has_snapshot: bool

    @property
    def offline(self) -> bool:
        return self.note.state != "online"


def latest_health(store: Store) -> dict[str, dict]:
    """Per device, its newest heartbeat's temperature and throttling bits."""
    h = schema.health
    newest = select(h.c.device, func.max(h.c.time).label("time")).group_by(h.c.device).subquery()
    q = select(h.c.device, h.c.time, h.c.cpu_temp_c, h.c.throttled).join(
        newest, and_(h.c.device == newest.c.device, h.c.time == newest.c.time))
    with store.engine.connect() as conn:
        return {r.device: dict(r._mapping) for r in conn.execute(q)}


def across_to_date(store: Store, registry: Registry, now: datetime, reports: Reports):
    """The campaigns active at ``now`` (or those that ended last), each from its first day to today,
    and the summary across them: which units comply with all their directives."""
    chosen = chosen_campaigns(store, registry, None, None, None, now)
    made = [reports.get(*campaign_to_date(registry, now, s.campaign), now, campaign=s.campaign) for s in chosen]
    return made, across(registry, made)


def recent_screens(store: Store, registry: Registry, now: datetime, days: int = SCREEN_DAYS) -> dict:
    """Per TV board, what its TV said before its plays of the last ``days`` days (the report's tally),
    over every campaign whose window meets those days: each its own plays of its own content."""
    return merged(recent_screens_per_campaign(store, registry, now, days).values())


def recent_screens_per_campaign(store: Store, registry: Registry, now: datetime,
                                days: int = SCREEN_DAYS) -> dict[str, dict]:
    """Campaign id -> per TV board, what its TV said before that campaign's plays of the last ``days``
    days. A play that names no campaign (a board from before campaigns) is the registry's campaign's."""
    tz = registry.campaign.tz
    last = now.astimezone(tz).date()
    first = last - timedelta(days=days - 1)
    p = schema.plays
    q = select(p.c.device, p.c.start, p.c.content_id, p.c.completed, p.c.audience, p.c.screen_power,
               p.c.screen_input, p.c.campaign).where(p.c.day.between(first, last), p.c.screen_power.is_not(None))
    with store.engine.connect() as conn:
        plays = [PlayRow(r.device, r.start, r.content_id, r.completed, r.audience, True, r.screen_power,
                         r.screen_input, r.campaign) for r in conn.execute(q)]
    hours_of = {d.id: registry.hours_of(u) for u, d in registry.devices()}.get
    own = registry.campaign.id
    return {s.id: screen_tallies([r for r in plays if (r.campaign or own) == s.id], s.campaign.content_id,
                                 hours_of, tz)
            for s in chosen_campaigns(store, registry, None, first, last, now)}


def merged(tallies) -> dict:
    """Per device, the sum of several campaigns' screen tallies."""
    total: dict = {}
    for by_device in tallies:
        for device, tally in by_device.items():
            total[device] = total[device] + tally if device in total else tally
    return total


def fleet(store: Store, registry: Registry, now: datetime, offline_after: timedelta,
          snapshots=None) -> list[FleetRow]:
    states = device_states(store)
    notes = device_notes(registry, states, now, offline_after, latest_per_screen(registry, states),
                         recent_screens(store, registry, now))
    health = latest_health(store)
    where = {d.id: (u, d) for u, d in registry.devices()}
    rows = []
    for note in notes:
        unit, device = where[note.device]
        h = health.get(note.device, {})
        rows.append(FleetRow(
            note, unit.name, device.location, states.get(note.device, {}).get("software_version"),
            h.get("cpu_temp_c"), h.get("throttled"), h.get("time"),
            (now - note.last_seen).total_seconds() if note.last_seen else None,
            bool(snapshots and snapshots.exists(note.device))))
    return rows


# --- a unit's hours of day ----------------------------------------------------------------------
@dataclass
class HourProfile:
    hours: list[int]
    onsets_per_day: list[float]
    plays_per_day: list[float]
    days: int
    plays: int


def hour_profile(store: Store, registry: Registry, report: Report, unit_id: str, campaign=None) -> HourProfile:
    """Average traffic and counted plays per hour of day over the unit's open days in ``report``.

    Plays are counted by the report's rule (campaign content, completed, shown by the screen,
    within opening hours), so the bars add up to the report's plays for the same days.
    """
    unit = registry.unit(unit_id)
    open_days = sorted({d.day for d in report.days if d.unit == unit_id})
    tz = registry.campaign.tz
    hours_of = registry.hours_of(unit)
    open_hours = sorted({h for wd in range(7) for s, e in hours_of.intervals(wd)
                         for h in range(s.hour, e.hour + (1 if e.minute else 0))})
    onsets: Counter[int] = Counter()
    plays: Counter[int] = Counter()
    if open_days:
        first, last = open_days[0], open_days[-1]
        t = schema.traffic
        q = (select(t.c.day, t.c.minute, func.sum(t.c.onsets).label("onsets"))
             .where(t.c.unit == unit_id, t.c.day.between(first, last)).group_by(t.c.day, t.c.minute))
        wanted = set(open_days)
        with store.engine.connect() as conn:
            for r in conn.execute(q):
                if r.day in wanted:
                    onsets[r.minute // 60] += int(r.onsets or 0)
        p = schema.plays
        campaign = campaign or from_registry(registry)
        q = (select(p.c.start, p.c.completed, p.c.screen_power, p.c.screen_input)
             # by device, as the report counts them (the registry, not the unit stored at ingest)
             .where(p.c.device.in_([d.id for d in unit.devices]), p.c.day.between(first, last),
                    p.c.campaign == campaign.id, p.c.content_id == campaign.content_id))
        with store.engine.connect() as conn:
            for r in conn.execute(q):
                local = r.start.astimezone(tz)
                if (r.completed and screen_showed(r.screen_power, r.screen_input) and local.date() in wanted
                        and hours_of.contains(local) and campaign.active_at(local, tz)):
                    plays[local.hour] += 1
    hours = sorted(set(open_hours) | set(onsets) | set(plays)) or list(range(7, 18))
    n = max(len(open_days), 1)
    return HourProfile(hours, [onsets[h] / n for h in hours], [plays[h] / n for h in hours],
                       len(open_days), sum(plays.values()))
