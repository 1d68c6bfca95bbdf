"""Read what the report needs from the store and hand it to the pure aggregation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from broker.report.across import Across, across
from broker.report.compliance import PlayRow, Report, build_report
from broker.report.peaks import learn_peaks
from broker.store import Store
from broker.store.campaigns import StoredCampaign, known_campaigns
from ihanoi.contract.errors import StoreError


def device_states(store: Store) -> dict[str, dict]:
    return {row.device: dict(row._mapping) for row in store.device_states()}


def report_from_store(store: Store, registry, first: date, last: date, now: datetime,
                      offline_after: timedelta = timedelta(minutes=3), campaign=None) -> Report:
    """The report of ``campaign`` (a contract ``Campaign``; the registry's when None) over ``first``..``last``."""
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    campaign_id = campaign.id if campaign else registry.campaign.id
    plays = [PlayRow(r.device, r.start, r.content_id, r.completed, r.audience, r.clock_synced, r.screen_power,
                     r.screen_input, r.campaign)
             for r in store.plays(first, last, campaign=campaign_id)]
    peaks = learn_peaks(store.traffic_profile(last), registry.hours_of)
    return build_report(registry, first, last, plays, store.active_days(first, last), peaks,
                        device_states(store), now, offline_after, store.quarantine_counts(), campaign)


def chosen_campaigns(store: Store, registry, ids: list[str] | None, first: date | None, last: date | None,
                     now: datetime) -> list[StoredCampaign]:
    """The campaigns asked for by id; by default the active ones: those whose window meets the period
    given, else those active at ``now``, else the ones that ended last."""
    tz = registry.campaign.tz
    known = [s for s in known_campaigns(store.campaigns, registry) if not s.withdrawn(tz)]
    if ids:
        by_id = {s.id: s for s in known}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise StoreError(f"no campaign {', '.join(map(repr, missing))} in the store (known: "
                             f"{', '.join(by_id) or 'none'}); list them with: ihanoi-broker campaign list")
        return [by_id[i] for i in ids]
    if first or last:
        lo, hi = first or date.min, last or date.max
        return [s for s in known if s.campaign.first_day <= hi and s.campaign.last_day >= lo]
    active = [s for s in known if s.campaign.active_at(now, tz)]
    if active or not known:
        return active
    over = [s for s in known if s.campaign.window(tz)[1] <= now]
    if not over:                    # all still to come: the first of them
        return known[:1]
    latest = max(s.campaign.window(tz)[1] for s in over)
    return [s for s in over if s.campaign.window(tz)[1] == latest]


def campaign_reports(store: Store, registry, ids: list[str] | None, first: date | None, last: date | None,
                     now: datetime, offline_after: timedelta = timedelta(minutes=3)) -> tuple[list[Report], Across]:
    """One report per campaign chosen (its own window unless a period is given), and the summary across them."""
    reports = [report_from_store(store, registry, first or s.campaign.first_day, last or s.campaign.last_day, now,
                                 offline_after, s.campaign)
               for s in chosen_campaigns(store, registry, ids, first, last, now)]
    if not reports:
        return reports, across(registry, reports)
    known = {s.id for s in known_campaigns(store.campaigns, registry)}
    played = store.plays_per_campaign(min(r.district.first for r in reports), max(r.district.last for r in reports))
    return reports, across(registry, reports, {c: n for c, n in played.items() if c not in known})
