"""Schema migrations (alembic), shipped with the package and run by the collector on start.

``upgrade(engine)`` brings any database to the newest schema; a new migration is written with
``alembic -c broker/migrations/alembic.ini revision -m "..."`` and reviewed by hand.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent
_LOCK_ID = 0x1A4A01  # any fixed number: collectors starting together migrate one at a time


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def upgrade(engine: Engine, revision: str = "head", first_campaign: str | None = None) -> None:
    """``first_campaign``: the registry's campaign id, which the plays stored before campaigns
    existed belong to (0005; ``ihanoi`` when not given)."""
    _migrate(engine, command.upgrade, revision, first_campaign)


def downgrade(engine: Engine, revision: str, first_campaign: str | None = None) -> None:
    """Back to ``revision``, all of it or nothing (a step that refuses undoes the earlier ones)."""
    _migrate(engine, command.downgrade, revision, first_campaign)


def _migrate(engine: Engine, step, revision: str, first_campaign: str | None) -> None:
    cfg = alembic_config()
    cfg.attributes["first_campaign"] = first_campaign
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        elif conn.dialect.name == "sqlite":
            # Takes SQLite's write lock now, so a second collector waits here; and opens the
            # transaction explicitly, so SQLite's DDL is part of it (the driver's own would not be).
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        cfg.attributes["connection"] = conn
        step(cfg, revision)


def head() -> str:
    """The newest schema revision this program knows."""
    from alembic.script import ScriptDirectory
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
