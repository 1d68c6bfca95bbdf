"""The central side: collector, store, per-unit compliance report, dashboard, metrics, registry."""
