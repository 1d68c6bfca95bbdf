"""Options several verbs share (the collector config, the database URL, the registry), and
opening the store: a verb that only reads never creates a database, and a database that
cannot be reached is one sentence, not a driver's traceback."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

from broker.collector.config import CollectorConfig, load_collector_config
from ihanoi.contract.errors import StoreError
from ihanoi.contract.registry import load_registry

MAKE_ONE = ("the collector makes it when it starts (ihanoi-broker collect --config FILE), or make an empty one "
            "with: ihanoi-broker db-upgrade --config FILE")


def add_store_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="collector config (TOML); its database and registry are used")
    p.add_argument("--database", metavar="URL", help="sqlite:///PATH or postgresql://USER@HOST/DB (overrides the config)")
    p.add_argument("--registry", metavar="FILE", help="units registry (default: the config's, $IHANOI_REGISTRY or "
                                                      "the packaged ihanoi/contract/units.toml)")


def day_arg(text: str) -> date:
    """A day on the command line (2024-09-03)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2024-09-03") from None


def moment_arg(text: str) -> datetime:
    """A moment with its offset on the command line."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a moment with its offset, like 2024-09-04T18:00:00+07:00")
    return moment


def resolve(args: argparse.Namespace) -> tuple[CollectorConfig, object]:
    config = load_collector_config(args.config)
    if args.database:
        config = config.model_copy(update={"database": config.database.model_copy(update={"url": args.database})})
    registry = load_registry(args.registry or config.registry)
    return config, registry


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:          # an unparsable URL is shown as given; the driver's error says why
        return url


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


@contextmanager
def database_errors(url: str):
    """A database that cannot be reached (unknown host, role or database, refused password)
    becomes a StoreError naming the URL and the driver's own first line."""
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise StoreError(f"cannot use the database {shown(url)}: {reason}. Check [database] url in the config "
                         "(host, database and user; a PostgreSQL password goes in ~/.pgpass or PGPASSWORD)") from None
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"{shown(url)} is not a database URL this program can use ({exc}); "
                         "use sqlite:///PATH or postgresql://USER@HOST/DB") from None


def open_existing_store(url: str):
    """The store at ``url`` for a verb that only reads (report, devices, quarantine, serve):
    it must exist and have the current schema; nothing is created or migrated."""
    from broker.migrations import current, head
    from broker.store import Store
    from broker.store.store import create_store_engine

    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise StoreError(f"no database at {path.resolve()}: {MAKE_ONE}. With --config, check its [database] url "
                         "(a relative path is relative to the config file)")
    with database_errors(url):
        engine = create_store_engine(url)
        revision = current(engine)
    if revision is None:
        engine.dispose()
        raise StoreError(f"the database {shown(url)} has no iHanoi tables yet: {MAKE_ONE}")
    if revision != head():
        engine.dispose()
        raise StoreError(f"the database {shown(url)} has schema {revision}, this program needs {head()}: "
                         "run ihanoi-broker db-upgrade --config FILE (the collector does it when it starts)")
    return Store(engine)
