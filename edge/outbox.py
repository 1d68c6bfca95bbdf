"""The outbox: every event is committed to SQLite on the Pi before it is sent.

A row leaves only when its receipt comes (see ``edge.link``): with ``receipts = "collector"``
(the district's setting) when the collector says the event is in the central store, so a
broker that dies outright loses nothing; with ``"broker"`` at the broker's PUBACK. The broker's
PUBACK marks a row ``handed`` (it is not sent again on its own); rows without a receipt are
sent again after a reconnect, a restart, or a while without one. ``stream`` (a UUID made when the outbox is
created) and ``seq`` are assigned inside the same transaction that stores the event, so a
re-sent event carries the same (device, stream, seq) and the collector counts it once.

The outbox lives in the board's one SQLite file (``edge.localdb``: durable, and moved aside
and started afresh when damaged), beside the play log, so that ``commit(..., also=...)`` can
store an event and the caller's own rows in one transaction. Bounded: beyond ``max_events``
the oldest traffic and health rows are dropped first, plays only when nothing else is left
(each drop is counted and reported in health); at the default 200,000 a board offline for
weeks keeps every play.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.localdb import LocalDB
from ihanoi.contract import protocol
from ihanoi.contract.clock import Clock, RealClock
from ihanoi.contract.errors import OutboxError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    created TEXT NOT NULL,
    handed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL
);
"""
# Health is a snapshot of "now": only the newest unsent one is worth sending after an outage.
COALESCED_KINDS = frozenset({"health"})


@dataclass(frozen=True)
class Pending:
    id: int
    kind: str
    seq: int
    payload: bytes


class Outbox:
    def __init__(self, db: LocalDB | Path | str, device: str, max_events: int = 200_000,
                 clock: Clock | None = None, on_change: Callable[[], None] | None = None):
        """``db``: the board's file (shared with the play log), or a path for an outbox of its own."""
        self.clock = clock or RealClock()
        self.db = db if isinstance(db, LocalDB) else LocalDB(db, self.clock)
        self.path = self.db.path
        self.device = device
        self.max_events = max_events
        self._on_change = on_change
        self.db.declare(SCHEMA, self._init_meta)

    @property
    def reset_note(self) -> str | None:
        return self.db.reset_note

    def _init_meta(self, db: sqlite3.Connection) -> None:
        columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
        if "handed" not in columns:              # a file of an earlier release
            db.execute("ALTER TABLE events ADD COLUMN handed INTEGER NOT NULL DEFAULT 0")
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if "stream" not in rows:
                db.execute("INSERT INTO meta VALUES ('stream', ?)", (str(uuid.uuid4()),))
                db.execute("INSERT INTO meta VALUES ('next_seq', '1')")
                db.execute("INSERT INTO meta VALUES ('dropped', '0')")
            if "device" in rows and rows["device"] != self.device:
                raise OutboxError(f"{self.path} belongs to device {rows['device']!r}, not {self.device!r}; "
                                  "move it away or fix the device id in the config")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('device', ?)", (self.device,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _meta(self, key: str) -> str:
        return self.db.query("SELECT value FROM meta WHERE key = ?", (key,))[0][0]

    @property
    def stream(self) -> uuid.UUID:
        return uuid.UUID(self._meta("stream"))

    # --- writing ----------------------------------------------------------------------------
    def commit(self, kind: str, also: Callable[[sqlite3.Connection, int], None] | None = None, **fields) -> int:
        """Store one event durably; returns its ``seq``. Fields are the protocol message's
        fields except ``device``, ``stream`` and ``seq``; ``clock_synced`` defaults to the clock's.
        ``also(connection, seq)`` writes the caller's own rows in the same transaction."""
        if kind not in protocol.SEQUENCED:
            raise ValueError(f"{kind!r} events are not sent through the outbox; kinds: {', '.join(protocol.SEQUENCED)}")
        fields.setdefault("clock_synced", self.clock.synced())
        try:
            seq = self._commit(kind, fields, also)
        except sqlite3.DatabaseError as exc:
            self.db.recover(exc)
            seq = self._commit(kind, fields, also)
        if self._on_change:
            self._on_change()
        return seq

    def _commit(self, kind: str, fields: dict, also) -> int:
        with self.db.transaction() as db:
            stream = db.execute("SELECT value FROM meta WHERE key = 'stream'").fetchone()[0]
            seq = int(db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
            message = protocol.UPSTREAM[kind](device=self.device, stream=stream, seq=seq, **fields)
            payload = protocol.encode(message)
            if kind in COALESCED_KINDS:
                db.execute("DELETE FROM events WHERE kind = ?", (kind,))
            db.execute("INSERT INTO events (kind, seq, payload, created) VALUES (?, ?, ?, ?)",
                       (kind, seq, payload, self.clock.now().isoformat()))
            db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (str(seq + 1),))
            excess = db.execute("SELECT COUNT(*) FROM events").fetchone()[0] - self.max_events
            if excess > 0:
                db.execute("DELETE FROM events WHERE id IN "
                           "(SELECT id FROM events ORDER BY kind = 'play', id LIMIT ?)", (excess,))
                db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'dropped'", (excess,))
                log.warning("outbox full (%d events): dropped the %d oldest", self.max_events, excess)
            if also is not None:
                also(db, seq)
        return seq

    # --- sending side -----------------------------------------------------------------------
    def pending(self, after_id: int = 0, limit: int = 100) -> list[Pending]:
        """Unacknowledged events with id > ``after_id``, oldest first."""
        rows = self.db.query("SELECT id, kind, seq, payload FROM events WHERE id > ? ORDER BY id LIMIT ?",
                             (after_id, limit))
        return [Pending(*r) for r in rows]

    def get(self, ids: list[int]) -> list[Pending]:
        """The rows with these ids that are still unacknowledged."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.query(f"SELECT id, kind, seq, payload FROM events WHERE id IN ({marks}) ORDER BY id", ids)
        return [Pending(*r) for r in rows]

    def ack(self, ids: list[int]) -> None:
        """Receipts for these rows: forget them (one transaction for the batch)."""
        if not ids:
            return
        with self.db.transaction() as db:
            db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])

    def handed(self, ids: list[int]) -> None:
        """The broker has these rows (PUBACK); they stay until the collector's receipt."""
        if not ids:
            return
        with self.db.transaction() as db:
            db.executemany("UPDATE events SET handed = 1 WHERE id = ?", [(i,) for i in ids])

    def confirm(self, stream, ranges: list[tuple[int, int]]) -> int:
        """The collector's receipt: forget the rows of ``stream`` with a seq in ``ranges``.

        Returns how many rows went; a receipt for another stream (this outbox was started
        afresh since) changes nothing."""
        if str(stream) != self._meta("stream"):
            return 0
        with self.db.transaction() as db:
            before = db.total_changes
            db.executemany("DELETE FROM events WHERE seq BETWEEN ? AND ?", ranges)
            return db.total_changes - before

    def reject(self, row_id: int, reason: str) -> None:
        """The broker refused the event (e.g. not authorised): keep it aside, never resend blindly."""
        with self.db.transaction() as db:
            db.execute("INSERT OR REPLACE INTO rejected SELECT id, kind, seq, payload, ? FROM events WHERE id = ?",
                       (reason, row_id))
            db.execute("DELETE FROM events WHERE id = ?", (row_id,))

    # --- figures for health -----------------------------------------------------------------
    def depth(self) -> int:
        return self.db.query("SELECT COUNT(*) FROM events")[0][0]

    def not_handed(self) -> int:
        """Rows the broker has not acknowledged yet (what a clean shutdown waits for)."""
        return self.db.query("SELECT COUNT(*) FROM events WHERE handed = 0")[0][0]

    def dropped(self) -> int:
        return int(self._meta("dropped"))

    def rejected(self) -> int:
        return self.db.query("SELECT COUNT(*) FROM rejected")[0][0]

    def close(self) -> None:
        self.db.close()
