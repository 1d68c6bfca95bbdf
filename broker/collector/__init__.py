"""The collector: MQTT shared subscription -> validation -> batched commits -> acknowledgements."""

from broker.collector.collector import Collector

__all__ = ["Collector"]
