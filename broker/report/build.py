"""Read what the report needs from the store and hand it to the pure aggregation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from broker.report.compliance import PlayRow, Report, build_report
from broker.report.peaks import learn_peaks
from broker.store import Store


def device_states(store: Store) -> dict[str, dict]:
    return {row.device: dict(row._mapping) for row in store.device_states()}


def report_from_store(store: Store, registry, first: date, last: date, now: datetime,
                      offline_after: timedelta = timedelta(minutes=3)) -> Report:
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    plays = [PlayRow(r.device, r.start, r.content_id, r.completed, r.audience, r.clock_synced, r.screen_power,
                     r.screen_input)
             for r in store.plays(first, last, registry.campaign.content_id)]
    peaks = learn_peaks(store.traffic_profile(last), registry.hours_of)
    return build_report(registry, first, last, plays, store.active_days(first, last), peaks,
                        device_states(store), now, offline_after, store.quarantine_counts())
