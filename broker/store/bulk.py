"""Batch inserts of event rows that skip SQLAlchemy's per-row parameter processing.

A collector draining a backlog inserts thousands of rows a second; for each one SQLAlchemy
builds a parameter dict and runs every column's bind processor in Python (for SQLite a
datetime goes through two of them), which cost about as much as the database's own work. Here
the statement is compiled once per table and column set, each column's conversion is
chosen once, and the rows go to the driver's ``executemany`` as plain tuples (or dicts for
drivers with named parameters). The values are the ones SQLAlchemy would send: the
conversions are SQLAlchemy's own bind processors, except for ``UTCDateTime``, whose
faster equivalent is checked against SQLAlchemy's at start-up and not used if it differs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect

from broker.store.schema import UTCDateTime

Convert = Callable[[Any], Any] | None
_PROBE = datetime(2024, 9, 3, 8, 5, 7, 123, tzinfo=timezone(timedelta(hours=7)))


def _to_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store keeps aware times only")
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _to_utc_text(value: datetime | None) -> str | None:
    """SQLite's DATETIME text (``YYYY-MM-DD HH:MM:SS.ffffff``), in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store keeps aware times only")
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def _remembering(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` for one batch, each distinct moment converted once: a batch holds one
    ``received_at`` and, from a district's boards, a few aligned traffic bins."""
    seen: dict = {}

    def remembered(value):
        try:
            return seen[value]
        except KeyError:
            out = seen[value] = convert(value)
            return out
    return remembered


def _utc_converter(column_type, dialect: Dialect) -> Convert:
    reference = column_type.dialect_impl(dialect).bind_processor(dialect)
    expected = reference(_PROBE) if reference else _PROBE.astimezone(timezone.utc).replace(tzinfo=None)
    for fast in (_to_utc, _to_utc_text):
        if fast(_PROBE) == expected and type(fast(_PROBE)) is type(expected):
            return fast
    return reference


def _converter(column_type, dialect: Dialect) -> Convert:
    if isinstance(column_type, UTCDateTime):
        return _utc_converter(column_type, dialect)
    return column_type.dialect_impl(dialect).bind_processor(dialect)


class BulkInsert:
    """``INSERT ... ON CONFLICT (device, stream, seq) DO NOTHING`` for many rows of one table."""

    def __init__(self, insert, table: Table, dialect: Dialect):
        self.table = table
        self.dialect = dialect
        self._insert = insert
        self._plans: dict[tuple[str, ...], tuple[str, list[tuple[str, Convert]], bool]] = {}

    def _plan(self, keys: tuple[str, ...]):
        plan = self._plans.get(keys)
        if plan is None:
            stmt = self._insert(self.table).on_conflict_do_nothing(index_elements=["device", "stream", "seq"])
            compiled = stmt.compile(dialect=self.dialect, column_keys=list(keys))
            positional = bool(compiled.positional)
            order = list(compiled.positiontup) if positional else list(keys)
            plan = (compiled.string, [(k, _converter(self.table.c[k].type, self.dialect)) for k in order],
                    positional)
            self._plans[keys] = plan
        return plan

    def run(self, conn: Connection, rows: list[dict]) -> int:
        """Insert ``rows`` (all with the same keys); returns how many were new."""
        sql, columns, positional = self._plan(tuple(rows[0]))
        columns = [(k, _remembering(conv) if conv in (_to_utc, _to_utc_text) else conv) for k, conv in columns]
        if positional:
            params = [tuple([conv(row[k]) if conv else row[k] for k, conv in columns]) for row in rows]
        else:
            params = [{k: conv(row[k]) if conv else row[k] for k, conv in columns} for row in rows]
        return conn.execution_options(preserve_rowcount=True).exec_driver_sql(sql, params).rowcount
