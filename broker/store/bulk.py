"""Batch inserts of event rows: one statement per batch, without SQLAlchemy's per-row work.

A collector draining a backlog inserts thousands of rows a second; for each one SQLAlchemy
builds a parameter dict and runs every column's bind processor in Python (for SQLite a
datetime goes through two of them), which cost about as much as the database's own work. Here
the statement is compiled once per table and column set (by SQLAlchemy, for the dialect),
each column's conversion is chosen once, and the rows go to the driver as plain values. The
values are the ones SQLAlchemy would send: the conversions are SQLAlchemy's own bind
processors, except for ``UTCDateTime``, whose faster equivalent is checked against
SQLAlchemy's at start-up and not used if it differs.

The whole batch is one statement, ``INSERT ... SELECT`` from the batch as a table:

- PostgreSQL: ``unnest(<one array per column>)``;
- SQLite (3.38 and newer): ``json_each(<the rows as one JSON array>)``;
- anything else: the driver's ``executemany``.

``executemany`` runs a statement per row, and both drivers release the interpreter lock while
the database works on each one. The collector's network thread takes the lock meanwhile and
may keep it for a whole switch interval (5 ms) before the writer gets it back, for every row.
With one statement the writer gives the lock up once per batch. (Measured with a second
thread busy: 1,000 rows took 0.5–1.1 s through ``executemany`` and 0.08–0.12 s as arrays on
PostgreSQL; 1.3–4.3 s and 15–19 ms as JSON on SQLite. ``bench/bench_collector.py`` shows the
effect on a drain.)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Table, bindparam, func, literal_column, select, true
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
        if dialect.name == "postgresql":
            self.shape = "arrays"
        elif dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 38):   # the ->> operator
            self.shape = "json"
        else:
            self.shape = "executemany"
        self._plans: dict[tuple[str, ...], tuple[str, list[tuple[str, Convert]], bool]] = {}

    def _source(self, keys: tuple[str, ...]):
        """The batch as a SELECT with one column per key."""
        if self.shape == "arrays":
            from sqlalchemy.dialects.postgresql import ARRAY

            arrays = func.unnest(*[bindparam(k, type_=ARRAY(self.table.c[k].type)) for k in keys])
            table = arrays.table_valued(*keys).render_derived()
            return select(*[table.c[k] for k in keys])
        # SQLite wants a WHERE before ON CONFLICT when the rows come from a SELECT.
        value = func.json_each(bindparam("rows")).table_valued("value").c.value
        return select(*[value.op("->>")(literal_column(str(i))).label(k) for i, k in enumerate(keys)]).where(true())

    def _plan(self, keys: tuple[str, ...]):
        plan = self._plans.get(keys)
        if plan is None:
            stmt = self._insert(self.table)
            if self.shape != "executemany":
                stmt = stmt.from_select(list(keys), self._source(keys))
            stmt = stmt.on_conflict_do_nothing(index_elements=["device", "stream", "seq"])
            compiled = stmt.compile(dialect=self.dialect, column_keys=list(keys))
            positional = bool(compiled.positional)
            order = list(compiled.positiontup) if positional and self.shape == "executemany" else list(keys)
            plan = (compiled.string, [(k, _converter(self.table.c[k].type, self.dialect)) for k in order],
                    positional)
            self._plans[keys] = plan
        return plan

    def run(self, conn: Connection, rows: list[dict]) -> int:
        """Insert ``rows`` (all with the same keys); returns how many were new."""
        sql, columns, positional = self._plan(tuple(rows[0]))
        columns = [(k, _remembering(conv) if conv in (_to_utc, _to_utc_text) else conv) for k, conv in columns]
        if self.shape == "arrays":
            params = {k: [conv(row[k]) for row in rows] if conv else [row[k] for row in rows]
                      for k, conv in columns}
        elif self.shape == "json":
            table = [[conv(row[k]) if conv else row[k] for k, conv in columns] for row in rows]
            text = json.dumps(table, ensure_ascii=False, allow_nan=False)
            params = (text,) if positional else {"rows": text}
        elif positional:
            params = [tuple([conv(row[k]) if conv else row[k] for k, conv in columns]) for row in rows]
        else:
            params = [{k: conv(row[k]) if conv else row[k] for k, conv in columns} for row in rows]
        return conn.execution_options(preserve_rowcount=True).exec_driver_sql(sql, params).rowcount
