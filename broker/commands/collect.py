"""Run the collector: subscribe to every board's play, traffic, health and state messages (a shared
subscription, so several collectors split the load), validate them, commit them in batches and
acknowledge them only once committed. Runs until SIGTERM; the database schema is upgraded first."""

from __future__ import annotations

import argparse
import logging

from broker.collector import Collector
from broker.commands.common import add_store_arguments, database_errors, resolve
from broker.store import open_store
from broker.store.campaigns import seed
from ihanoi.contract.clock import RealClock

log = logging.getLogger("broker.collector")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_store_arguments(p)


def run(args: argparse.Namespace) -> int:
    config, registry = resolve(args)
    with database_errors(config.database.url):
        store = open_store(config.database.url, first_campaign=registry.campaign.id)
        seed(store.campaigns, registry, RealClock(tz=registry.campaign.tz).now())
    collector = Collector(config, registry, store)
    if config.metrics.port:
        collector.metrics.serve(config.metrics.port, config.metrics.host)
        log.info("metrics on http://%s:%d/metrics", config.metrics.host, config.metrics.port)
    log.info("collecting from %s:%d into %s (%d devices in the registry)", config.broker.host, config.broker.port,
             store.engine.url.render_as_string(hide_password=True), len(registry.devices()))
    try:
        collector.run_forever()
    finally:
        collector.metrics.close()
        store.close()
    return 0
