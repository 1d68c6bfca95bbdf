"""The per-unit compliance report: pure aggregation (compliance, peaks) and its renderings."""
