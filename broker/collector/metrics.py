"""Prometheus metrics of one collector (its own registry, so several can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class CollectorMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("ihanoi_collector_messages_received", "MQTT messages received", ["kind"], registry=r)
        self.stored = Counter("ihanoi_collector_events_stored", "new events committed", ["kind"], registry=r)
        self.duplicates = Counter("ihanoi_collector_events_duplicate",
                                  "events already stored (re-sent or redelivered)", ["kind"], registry=r)
        self.quarantined = Counter("ihanoi_collector_messages_quarantined",
                                   "malformed or foreign messages kept aside", ["reason"], registry=r)
        self.states = Counter("ihanoi_collector_states", "device state messages applied", registry=r)
        self.commit_seconds = Histogram("ihanoi_collector_batch_commit_seconds", "time to commit one batch",
                                        buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10),
                                        registry=r)
        self.batch_size = Histogram("ihanoi_collector_batch_messages", "messages per committed batch",
                                    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000), registry=r)
        self.pending = Gauge("ihanoi_collector_pending", "messages received, not yet committed", registry=r)
        self.connected = Gauge("ihanoi_collector_connected", "1 while connected to the broker", registry=r)
        self.receipts = Counter("ihanoi_collector_receipts_sent",
                                "receipts sent to boards (cmd/<device>/stored) for committed events", registry=r)
        self.receipts_skipped = Counter("ihanoi_collector_receipts_skipped",
                                        "receipts not sent because too many waited for the broker "
                                        "(those boards send the events again)", registry=r)
        self.commit_failures = Counter("ihanoi_collector_commit_failures", "batches that failed to commit (retried)",
                                       registry=r)
        self._server = None

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def value(self, name: str, **labels) -> float:
        v = self.registry.get_sample_value(name, labels)
        return v or 0.0
