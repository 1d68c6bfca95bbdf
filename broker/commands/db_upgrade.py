"""Bring the database schema to the newest version (alembic); ``collect`` does this on start too."""

from __future__ import annotations

import argparse

from broker.commands.common import add_store_arguments, database_errors, resolve
from broker.migrations import current, upgrade
from broker.store.store import create_store_engine


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_store_arguments(p)


def run(args: argparse.Namespace) -> int:
    config, _ = resolve(args)
    with database_errors(config.database.url):
        engine = create_store_engine(config.database.url)
        before = current(engine)
        upgrade(engine)
        after = current(engine)
    print(f"{engine.url.render_as_string(hide_password=True)}: schema {before or '(empty)'} -> {after}")
    engine.dispose()
    return 0
