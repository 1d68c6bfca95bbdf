"""Prometheus ``/metrics`` for the fleet, computed from the store at each scrape.

The numbers are the report's: a device is online by the same rule as on the fleet page,
plays today are the plays the report counts, a unit is behind when one of its boards is
below the quota today (the day is in progress: "behind so far", not "failed"). What is counted
per campaign carries the label ``campaign``: one series for every campaign active today, each by
its own report (its content, its units, its quota).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from broker.report.build import chosen_campaigns
from broker.web import queries


class FleetCollector:
    def __init__(self, web):
        self.web = web

    def collect(self):
        web = self.web
        now = web.clock.now()
        today = now.astimezone(web.tz).date()
        rows = queries.fleet(web.store, web.registry, now, web.offline_after)
        campaigns = chosen_campaigns(web.store, web.registry, None, today, today, now)
        reports = [(s.id, web.report(today, today, campaign=s.campaign)) for s in campaigns]

        states = GaugeMetricFamily("ihanoi_devices", "boards by connection state", labels=["state"])
        for state in ("online", "offline", "never seen"):
            states.add_metric([state.replace(" ", "_")], sum(r.note.state == state for r in rows))
        yield states
        per_campaign = (
            ("ihanoi_plays_today", "plays counted toward the campaign's quota today (all its boards)",
             lambda days: sum(d.plays for d in days)),
            ("ihanoi_plays_not_shown_today", "plays of the campaign today on a TV that was off or on another "
                                             "input (not counted)", lambda days: sum(d.not_shown for d in days)),
            ("ihanoi_units_open_today", "units the campaign targets with an open day today", len),
            ("ihanoi_units_behind_quota", "units open today with at least one board below the campaign's quota "
                                          "so far", lambda days: sum(bool(d.below_quota) for d in days)),
        )
        for name, text, value in per_campaign:
            family = GaugeMetricFamily(name, text, labels=["campaign"])
            for campaign, report in reports:
                family.add_metric([campaign], value(report.days))
            yield family
        screens = GaugeMetricFamily("ihanoi_plays_not_shown_recent",
                                    f"plays of the last {queries.SCREEN_DAYS} days on a TV that was off or on another "
                                    "input, per campaign (the fleet page's tally)", labels=["campaign"])
        for campaign, tallies in queries.recent_screens_per_campaign(web.store, web.registry, now).items():
            screens.add_metric([campaign], sum(t.not_shown for t in tallies.values()))
        yield screens
        backlog = GaugeMetricFamily("ihanoi_device_outbox_backlog", "events waiting in the board's outbox",
                                    labels=["device", "unit"])
        seen = GaugeMetricFamily("ihanoi_device_last_seen_seconds", "seconds since the board was last heard from",
                                 labels=["device", "unit"])
        temp = GaugeMetricFamily("ihanoi_device_cpu_temperature_celsius", "CPU temperature in the last heartbeat",
                                 labels=["device", "unit"])
        for r in rows:
            labels = [r.note.device, r.note.unit]
            if r.note.outbox_depth is not None:
                backlog.add_metric(labels, r.note.outbox_depth)
            if r.silent_for_s is not None:
                seen.add_metric(labels, r.silent_for_s)
            if r.cpu_temp_c is not None:
                temp.add_metric(labels, r.cpu_temp_c)
        yield backlog
        yield seen
        yield temp


def render(web) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(web))
    return generate_latest(registry)
