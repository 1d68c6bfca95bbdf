"""The store adapter: one code path for SQLite (default) and PostgreSQL (by URL).

Events are inserted in batches, one transaction per batch; the unique key (device, stream,
seq) with ``ON CONFLICT DO NOTHING`` makes a re-sent event count once, and the row count of
the DB-API ``executemany`` tells how many were new (``bulk.py``: the statement compiled once,
rows handed to the driver without SQLAlchemy's per-row work). (SQLAlchemy's
"insertmanyvalues" is turned off: one huge VALUES statement per batch costs psycopg three
times as much as its pipelined ``executemany``.) Both dialects spell the upsert the same way
in SQLAlchemy, so the only per-dialect line is which ``insert`` construct to take.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import case, create_engine, event, func, or_, select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url

from broker.store import schema
from broker.store.bulk import BulkInsert
from broker.store.campaigns import CampaignBook

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    # WAL lets the report read while the collector writes; FULL because a committed batch
    # has been acknowledged to the broker and must survive a power cut.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def create_store_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, use_insertmanyvalues=False)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, use_insertmanyvalues=False)


@dataclass
class BatchResult:
    stored: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[engine.dialect.name]
        self._bulk = {kind: BulkInsert(self._insert, table, engine.dialect)
                      for kind, table in schema.EVENT_TABLES.items()}
        self.campaigns = CampaignBook(engine)

    # --- writing ------------------------------------------------------------------------------
    def write_batch(self, events: dict[str, list[dict]], quarantined: list[dict] = (),
                    seen: list[dict] = (), health_states: list[dict] = (), states: list[dict] = ()) -> BatchResult:
        """Everything one collector batch produced, in one transaction."""
        result = BatchResult(quarantined=len(quarantined))
        with self.engine.begin() as conn:
            for kind, rows in events.items():
                if not rows:
                    continue
                new = self._bulk[kind].run(conn, rows)
                result.stored[kind] = new
                result.duplicates[kind] = len(rows) - new
            if quarantined:
                conn.execute(schema.quarantine.insert(), list(quarantined))
            self._update_device_state(conn, seen, health_states, states)
        return result

    def _update_device_state(self, conn, seen, health_states, states) -> None:
        t = schema.device_state
        if seen:
            stmt = self._insert(t)
            conn.execute(stmt.on_conflict_do_update(index_elements=["device"], set_={
                "unit": stmt.excluded.unit,
                "last_seen": case((or_(t.c.last_seen.is_(None), t.c.last_seen < stmt.excluded.last_seen),
                                   stmt.excluded.last_seen), else_=t.c.last_seen)}), list(seen))
        # Newer facts only: two collectors may commit batches out of order.
        for rows, stamp, cols in (
                (health_states, "last_health", ("last_health", "software_version", "content_version",
                                                "outbox_depth", "outbox_dropped", "clock_synced", "screen_fault")),
                (states, "state_since", ("state", "state_since", "state_reason", "software_version",
                                         "content_version", "screen_fault"))):
            if not rows:
                continue
            stmt = self._insert(t)
            set_ = {c: (stmt.excluded[c] if c not in ("software_version", "content_version")
                        else func.coalesce(stmt.excluded[c], t.c[c])) for c in cols}
            # Both messages carry the screen's fault: the newer of the two says how it is now.
            other = t.c["state_since" if stamp == "last_health" else "last_health"]
            set_["screen_fault"] = case((or_(other.is_(None), other <= stmt.excluded[stamp]),
                                         stmt.excluded.screen_fault), else_=t.c.screen_fault)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["device"], set_=set_,
                where=or_(t.c[stamp].is_(None), t.c[stamp] <= stmt.excluded[stamp])), list(rows))

    # --- reading ------------------------------------------------------------------------------
    def plays(self, first: date, last: date, content_id: str | None = None, campaign: str | None = None) -> list:
        t = schema.plays
        q = select(t.c.device, t.c.unit, t.c.day, t.c.start, t.c["end"], t.c.completed, t.c.audience,
                   t.c.reason, t.c.clock_synced, t.c.content_id, t.c.screen_power, t.c.screen_input, t.c.campaign
                   ).where(t.c.day.between(first, last))
        if content_id:
            q = q.where(t.c.content_id == content_id)
        if campaign:
            q = q.where(t.c.campaign == campaign)
        with self.engine.connect() as conn:
            return conn.execute(q.order_by(t.c.start)).all()

    def plays_per_campaign(self, first: date, last: date) -> dict[str, int]:
        """How many plays name each campaign, over ``first``..``last``."""
        t = schema.plays
        q = select(t.c.campaign, func.count()).where(t.c.day.between(first, last)).group_by(t.c.campaign)
        with self.engine.connect() as conn:
            return {campaign: n for campaign, n in conn.execute(q)}

    def traffic_profile(self, last: date | None = None) -> list:
        """Onsets summed per (unit, weekday, minute of day) and the number of days behind each."""
        t = schema.traffic
        q = select(t.c.unit, t.c.weekday, t.c.minute, func.sum(t.c.onsets).label("onsets"))
        if last:
            q = q.where(t.c.day <= last)
        with self.engine.connect() as conn:
            return conn.execute(q.group_by(t.c.unit, t.c.weekday, t.c.minute)).all()

    def active_days(self, first: date, last: date) -> set[tuple[str, date]]:
        """(device, day) pairs on which the device sent anything dated that day."""
        parts = [select(t.c.device, t.c.day).where(t.c.day.between(first, last)).distinct()
                 for t in (schema.plays, schema.traffic, schema.health)]
        with self.engine.connect() as conn:
            return {(r.device, r.day) for r in conn.execute(union(*parts)).all()}

    def device_states(self) -> list:
        with self.engine.connect() as conn:
            return conn.execute(select(schema.device_state).order_by(schema.device_state.c.device)).all()

    def quarantine_counts(self) -> dict[str, int]:
        q = schema.quarantine
        with self.engine.connect() as conn:
            rows = conn.execute(select(q.c.reason, func.count()).group_by(q.c.reason)).all()
        return {reason: n for reason, n in rows}

    def quarantined(self, limit: int = 100) -> list:
        q = schema.quarantine
        with self.engine.connect() as conn:
            return conn.execute(select(q).order_by(q.c.id.desc()).limit(limit)).all()

    def count(self, kind: str) -> int:
        table = schema.quarantine if kind == "quarantine" else schema.EVENT_TABLES[kind]
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, migrate: bool = True, first_campaign: str | None = None) -> Store:
    """Open the database at ``url``, bringing its schema up to date first; ``first_campaign``: the
    registry's campaign id, which plays stored before campaigns existed belong to."""
    engine = create_store_engine(url)
    if migrate:
        from broker.migrations import upgrade
        upgrade(engine, first_campaign=first_campaign)
    return Store(engine)
