"""Per-unit, per-day compliance of one campaign and the district summary (pure: data in, data out).

Each campaign is reported on its own, by the same rules (``build_report(..., campaign=...)``;
the registry's campaign when none is given), over the units it targets. A play counts toward a
device's quota of a campaign when it names that campaign (a board from before campaigns names
none: its plays are the registry's campaign's), is of the campaign's content, completed, made on
a screen that showed it, and started within the unit's opening hours on an open day of the
campaign, inside its window to the minute (local time of the campaign's zone). A play naming
a campaign that does not target the board's unit is kept in the store, not counted, and the
report's notes say how many there were. "Showed it" is the protocol's rule
(``screen_showed``): LED boards and boards that say nothing of their screen count as before; a
TV that said it was in standby, switching, silent or on another input does not count, and the
board's note says how many such plays there were; a TV without HDMI-CEC (``unmanaged``) counts
and its note says nobody could check it. Closed days (weekends, public holidays, days off), days outside the
campaign and days still to come are not counted against anyone. A unit complies on a day
when every one of its devices reached the quota; the directive's own measure is the average
number of plays per device and open day over the period.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from broker.campaigns.targets import quota_for, targets
from broker.report.peaks import PeakModel
from ihanoi.contract.campaigns import Campaign, from_registry
from ihanoi.contract.opendays import Calendar
from ihanoi.contract.protocol import screen_showed, version_key
from ihanoi.contract.registry import KIND_LABELS_VI

# What a TV said, as the notes say it (the protocol's ``screen.power``; another input apart).
SCREEN_SAID_VI = {"standby": "chờ (standby)", "to-on": "đang bật", "to-standby": "đang tắt",
                  "no-reply": "không trả lời qua HDMI-CEC", "not-acknowledged": "không có trên đường HDMI-CEC",
                  "error": "không đọc được trạng thái", "other": "đang ở nguồn vào khác"}


@dataclass(frozen=True)
class PlayRow:
    device: str
    start: datetime
    content_id: str
    completed: bool
    audience: int
    clock_synced: bool = True
    screen_power: str | None = None      # what a TV said before the play; None: LED or an older board
    screen_input: str | None = None
    campaign: str | None = None          # None: the registry's campaign (a board from before campaigns)

    @property
    def showed(self) -> bool:
        return screen_showed(self.screen_power, self.screen_input)

    @property
    def screen_said(self) -> str:
        """Why the screen did not show it, as a key of ``SCREEN_SAID_VI``."""
        return "other" if self.screen_power == "on" and self.screen_input == "other" else str(self.screen_power)


@dataclass
class ScreenTally:
    """A board's TV over a period: plays it did not show (not counted), and plays nobody could check."""

    not_shown: int = 0
    said: Counter = field(default_factory=Counter)
    unmanaged: int = 0

    def problems(self) -> list[str]:
        notes = []
        if self.not_shown:
            rank = {k: i for i, k in enumerate(SCREEN_SAID_VI)}
            said = sorted(self.said.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
            why = ", ".join(f"{SCREEN_SAID_VI.get(k, k)} {n}" for k, n in said)
            notes.append(f"TV tắt hoặc không hiển thị khi phát: {self.not_shown} lượt không được tính ({why})")
        if self.unmanaged:
            notes.append("màn hình không quản lý qua HDMI-CEC: lượt phát được tính nhưng không kiểm tra được TV có bật")
        return notes

    def __add__(self, other: "ScreenTally") -> "ScreenTally":
        return ScreenTally(self.not_shown + other.not_shown, self.said + other.said, self.unmanaged + other.unmanaged)


def screen_tallies(plays, content_id: str, hours_of, tz) -> dict[str, ScreenTally]:
    """Per device, what its TV said before the plays that would otherwise count (campaign content,
    completed, within opening hours); ``hours_of(device)``: its unit's hours, None for an unknown device."""
    tallies: dict[str, ScreenTally] = {}
    for p in plays:
        if p.screen_power is None or p.content_id != content_id or not p.completed:
            continue
        hours = hours_of(p.device)
        if hours is None or not hours.contains(p.start.astimezone(tz)):
            continue
        tally = tallies.setdefault(p.device, ScreenTally())
        if p.screen_power == "unmanaged":
            tally.unmanaged += 1
        elif not p.showed:
            tally.not_shown += 1
            tally.said[p.screen_said] += 1
    return tallies


@dataclass
class UnitDay:
    day: date
    unit: str
    name: str
    kind: str
    devices: list[str]
    quota: int
    plays: int                       # counted plays, all devices
    plays_by_device: dict[str, int]
    compliant: bool | None           # None: the day is still in progress
    below_quota: list[str]
    peak_share: float | None         # None: no traffic learned for this weekday yet
    audience: int
    silent: list[str]                # devices that sent nothing dated this day
    not_shown: int = 0               # plays on a TV that was off or on another input (not counted)


@dataclass
class UnitSummary:
    unit: str
    name: str
    kind: str
    devices: int
    quota: int
    open_days: int
    compliant_days: int
    plays: int
    average_per_device_day: float | None
    meets_average: bool | None
    compliant_every_day: bool | None


@dataclass
class DeviceNote:
    device: str
    unit: str
    state: str                       # online | offline | never seen
    last_seen: datetime | None
    content_version: str | None      # text, as the protocol says: "2024.08.1", "7"
    software_version: str | None
    outbox_depth: int | None
    clock_synced: bool | None
    problems: list[str]
    screen_fault: str | None = None      # why the board shows nothing, as it last said
    screen: str = "led"                  # the registry's: led | lcd
    not_shown: int = 0                   # plays its TV did not show (not counted) in the period
    unmanaged: bool = False              # a TV without HDMI-CEC: counted, but nobody could check it


@dataclass
class DistrictSummary:
    first: date
    last: date
    campaign_first: date
    campaign_last: date
    district_quota: int
    units: int
    units_compliant_every_day: int
    units_meeting_average: int
    unit_days: int
    unit_days_compliant: int
    average_per_device_day: float | None
    plays: int
    closed_days_skipped: int


@dataclass
class Report:
    generated_at: datetime
    days: list[UnitDay]
    units: list[UnitSummary]
    district: DistrictSummary
    devices: list[DeviceNote]
    quarantine: dict[str, int] = field(default_factory=dict)
    campaign: Campaign | None = None
    untargeted: dict[str, int] = field(default_factory=dict)   # unit -> plays naming this campaign, not targeted


def calendar_of(registry, unit, campaign=None) -> Calendar:
    c = campaign or registry.campaign
    return Calendar(hours=registry.hours_of(unit), days_off=registry.days_off_of(unit),
                    first_day=c.first_day, last_day=c.last_day)


def day_quota(quota: int, campaign: Campaign, windows) -> int:
    """The quota of a day on which the campaign's window covers only part of the opening hours (it
    starts or ends at a time of day): the share of the open minutes it covers, rounded up."""
    start, end = campaign.window(windows[0][0].tzinfo) if windows else (None, None)
    total = sum((e - s).total_seconds() for s, e in windows)
    covered = sum(max(0.0, (min(e, end) - max(s, start)).total_seconds()) for s, e in windows)
    if not total or covered >= total:
        return quota
    return math.ceil(quota * covered / total)


def latest_version(versions) -> str | None:
    """The newest of the content versions given (None skipped), by the protocol's ``version_key``."""
    return max((str(v) for v in versions if v is not None), key=version_key, default=None)


def latest_per_screen(registry, states: dict[str, dict]) -> dict[str, str | None]:
    """The newest content version on each kind of screen: LED boards and TVs play packs of their
    own (``ihanoi-promo`` and ``ihanoi-promo-tv``), whose versions are not one sequence."""
    screen_of = {d.id: d.screen for _, d in registry.devices()}
    seen: dict[str, list] = {}
    for device, s in states.items():
        seen.setdefault(screen_of.get(device, "led"), []).append(s.get("content_version"))
    return {screen: latest_version(versions) for screen, versions in seen.items()}


def is_outdated(version, latest) -> bool:
    """Whether ``version`` is older than ``latest`` (False when either is unknown)."""
    return version is not None and latest is not None and version_key(version) < version_key(latest)


def device_notes(registry, states: dict[str, dict], now: datetime, offline_after: timedelta,
                 latest_content: dict[str, str | None] | str | None,
                 screens: dict[str, ScreenTally] | None = None) -> list[DeviceNote]:
    """Per device of the registry: its state and what is wrong with it as of ``now``; ``screens``:
    what its TV said before its plays over a period (``screen_tallies``); ``latest_content``: the
    newest version per kind of screen (``latest_per_screen``), or one for all.

    A report made for an earlier moment (``--now``) does not take a state the board reported after
    it for a problem then: what it said later (offline since, events waiting) belongs to a later
    report. Such a board counts as online (it was heard of after ``now``); the store keeps no
    earlier state to say otherwise."""
    notes = []
    for unit, device in registry.devices():
        s = states.get(device.id) or {}
        last_seen = s.get("last_seen")
        if last_seen is not None and last_seen > now:
            s = {"last_seen": last_seen, "content_version": s.get("content_version"),
                 "software_version": s.get("software_version")}
        latest = latest_content.get(device.screen) if isinstance(latest_content, dict) else latest_content
        problems = []
        if last_seen is None:
            state = "never seen"
            problems.append("chưa từng gửi dữ liệu")
        elif last_seen > now:
            state = "online"
        elif s.get("state") == "offline" or now - last_seen > offline_after:
            state = "offline"
            problems.append(f"mất kết nối từ {last_seen.astimezone(now.tzinfo):%d/%m/%Y %H:%M}")
        else:
            state = "online"
        if s.get("screen_fault"):
            problems.append(f"màn hình tối: {s['screen_fault']}")
        if s.get("clock_synced") is False:
            problems.append("đồng hồ chưa đồng bộ")
        if s.get("outbox_depth"):
            problems.append(f"{s['outbox_depth']} sự kiện chờ gửi")
        version = None if s.get("content_version") is None else str(s["content_version"])
        if is_outdated(version, latest):
            problems.append(f"nội dung phiên bản {version} (mới nhất: {latest})")
        tally = (screens or {}).get(device.id) or ScreenTally()
        problems.extend(tally.problems())
        notes.append(DeviceNote(device.id, unit.id, state, last_seen, version,
                                s.get("software_version"), s.get("outbox_depth"), s.get("clock_synced"), problems,
                                s.get("screen_fault"), device.screen, tally.not_shown, bool(tally.unmanaged)))
    return notes


def build_report(registry, first: date, last: date, plays: list[PlayRow], active: set[tuple[str, date]],
                 peaks: PeakModel, states: dict[str, dict], now: datetime,
                 offline_after: timedelta = timedelta(minutes=3), quarantine: dict[str, int] | None = None,
                 campaign: Campaign | None = None) -> Report:
    campaign = campaign or from_registry(registry)
    tz = registry.campaign.tz
    today = now.astimezone(tz).date()
    content = campaign.content_id
    first_id = registry.campaign.id
    plays = [p for p in plays if (p.campaign or first_id) == campaign.id]
    untargeted: Counter = Counter()

    # Count each play once, on its local day, for its device.
    counted: dict[tuple[str, date], int] = Counter()
    in_peak: dict[tuple[str, date], int] = Counter()
    audience: dict[tuple[str, date], int] = Counter()
    not_shown: dict[tuple[str, date], int] = Counter()
    unit_of = {d.id: u for u, d in registry.devices()}
    for p in plays:
        unit = unit_of.get(p.device)
        if unit is None or p.content_id != content or not p.completed:
            continue
        if not targets(campaign, unit):        # kept in the store, said in the notes, not counted
            untargeted[unit.id] += 1
            continue
        local = p.start.astimezone(tz)
        if not registry.hours_of(unit).contains(local) or not campaign.active_at(local, tz):
            continue
        key = (p.device, local.date())
        if not p.showed:            # made on a TV that was off or elsewhere: said, not counted
            not_shown[key] += 1
            continue
        counted[key] += 1
        audience[key] += p.audience
        if peaks.is_peak(unit.id, local):
            in_peak[key] += 1

    days: list[UnitDay] = []
    units: list[UnitSummary] = []
    closed_skipped = 0
    totals = {"plays": 0, "device_days": 0, "unit_days": 0, "unit_days_ok": 0, "ok_every_day": 0, "ok_avg": 0}
    for unit in registry.units:
        if not targets(campaign, unit):
            continue
        cal = calendar_of(registry, unit, campaign)
        quota = quota_for(registry, unit, campaign)
        devices = [d.id for d in unit.devices]
        open_days = compliant_days = unit_plays = 0
        day = first
        while day <= last:
            if day > today or not campaign.active_on(day):
                day += timedelta(days=1)
                continue
            if not cal.is_open(day):
                closed_skipped += 1
                day += timedelta(days=1)
                continue
            by_device = {d: counted.get((d, day), 0) for d in devices}
            total = sum(by_device.values())
            windows = registry.hours_of(unit).windows(day, tz)
            quota_today = day_quota(quota, campaign, windows)
            below = [d for d, n in by_device.items() if n < quota_today]
            # Today is judged once the unit has closed: a report at 18:00 says whether today's quota was met.
            in_progress = day == today and bool(windows) and now < windows[-1][1]
            compliant = None if in_progress else (bool(devices) and not below)
            peak_share = None
            if peaks.known(unit.id, day.weekday()) and total:
                peak_share = sum(in_peak.get((d, day), 0) for d in devices) / total
            days.append(UnitDay(day, unit.id, unit.name, KIND_LABELS_VI[unit.kind], devices, quota_today, total,
                                by_device,
                                compliant, below, peak_share, sum(audience.get((d, day), 0) for d in devices),
                                [d for d in devices if (d, day) not in active],
                                sum(not_shown.get((d, day), 0) for d in devices)))
            if not in_progress:
                open_days += 1
                compliant_days += bool(compliant)
                unit_plays += total
            day += timedelta(days=1)
        device_days = open_days * len(devices)
        average = unit_plays / device_days if device_days else None
        meets = None if average is None else average >= quota
        every = None if not open_days else compliant_days == open_days
        units.append(UnitSummary(unit.id, unit.name, KIND_LABELS_VI[unit.kind], len(devices), quota, open_days,
                                 compliant_days, unit_plays, average, meets, every))
        totals["plays"] += unit_plays
        totals["device_days"] += device_days
        totals["unit_days"] += open_days
        totals["unit_days_ok"] += compliant_days
        totals["ok_every_day"] += bool(every)
        totals["ok_avg"] += bool(meets)

    district = DistrictSummary(
        first, last, campaign.first_day, campaign.last_day, campaign.quota, len(units),
        totals["ok_every_day"], totals["ok_avg"], totals["unit_days"], totals["unit_days_ok"],
        totals["plays"] / totals["device_days"] if totals["device_days"] else None, totals["plays"], closed_skipped)
    latest = latest_per_screen(registry, states)
    hours_of = {d.id: registry.hours_of(u) for u, d in registry.devices()}.get
    in_period = [p for p in plays if first <= p.start.astimezone(tz).date() <= last]
    screens = screen_tallies(in_period, content, hours_of, tz)
    notes = device_notes(registry, states, now, offline_after, latest, screens)
    targeted = {u.id for u in registry.units if targets(campaign, u)}
    notes = [n for n in notes if n.unit in targeted]
    return Report(now, days, units, district, notes, dict(quarantine or {}), campaign, dict(untargeted))
