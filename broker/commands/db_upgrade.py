"""Bring the database schema to the newest version (alembic); ``collect`` does this on start too."""

from __future__ import annotations

import argparse

from broker.commands.common import add_store_arguments, database_errors, resolve
from broker.migrations import current, upgrade
from broker.store.campaigns import CampaignBook, seed
from broker.store.store import create_store_engine
from ihanoi.contract.clock import RealClock


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_store_arguments(p)


def run(args: argparse.Namespace) -> int:
    config, registry = resolve(args)
    with database_errors(config.database.url):
        engine = create_store_engine(config.database.url)
        before = current(engine)
        upgrade(engine, first_campaign=registry.campaign.id)
        seed(CampaignBook(engine), registry, RealClock(tz=registry.campaign.tz).now())
        after = current(engine)
    print(f"{engine.url.render_as_string(hide_password=True)}: schema {before or '(empty)'} -> {after}")
    engine.dispose()
    return 0
