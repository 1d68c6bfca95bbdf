"""Prometheus ``/metrics`` for the fleet, computed from the store at each scrape.

The numbers are the report's: a device is online by the same rule as on the fleet page,
plays today are the plays the report counts, a unit is behind when one of its boards is
below the quota today (the day is in progress: "behind so far", not "failed").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from broker.web import queries


class FleetCollector:
    def __init__(self, web):
        self.web = web

    def collect(self):
        web = self.web
        now = web.clock.now()
        today = now.astimezone(web.tz).date()
        rows = queries.fleet(web.store, web.registry, now, web.offline_after)
        report = web.report(today, today)

        states = GaugeMetricFamily("ihanoi_devices", "boards by connection state", labels=["state"])
        for state in ("online", "offline", "never seen"):
            states.add_metric([state.replace(" ", "_")], sum(r.note.state == state for r in rows))
        yield states
        yield GaugeMetricFamily("ihanoi_plays_today", "plays counted toward the quota today (all boards)",
                                value=sum(d.plays for d in report.days))
        yield GaugeMetricFamily("ihanoi_units_open_today", "units with an open day today", value=len(report.days))
        yield GaugeMetricFamily("ihanoi_units_behind_quota",
                                "units open today with at least one board below its quota so far",
                                value=sum(bool(d.below_quota) for d in report.days))
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
