"""The outbox: every event is committed to SQLite on the Pi before it is sent.

A row leaves only after the broker's PUBACK (see ``edge.link``); rows not acknowledged are
sent again after a reconnect or a restart. ``stream`` (a UUID made when the outbox is
created) and ``seq`` are assigned inside the same transaction that stores the event, so a
re-sent event carries the same (device, stream, seq) and the collector counts it once.

Durability: WAL journal with ``synchronous=FULL`` — a committed event survives a power cut.
Bounded: beyond ``max_events`` the oldest rows are dropped and counted (reported in health).
A corrupt database (power cut mid-write on a cheap SD card) is moved aside, kept for
inspection, and a fresh outbox with a new stream is started; ``reset_note`` says so.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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
    created TEXT NOT NULL
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
    def __init__(self, path: Path | str, device: str, max_events: int = 200_000,
                 clock: Clock | None = None, on_change: Callable[[], None] | None = None):
        self.path = Path(path)
        self.device = device
        self.max_events = max_events
        self.clock = clock or RealClock()
        self.reset_note: str | None = None
        self._on_change = on_change
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open_checked()

    # --- opening, and recovery from a damaged file ------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        return db

    def _open_checked(self) -> sqlite3.Connection:
        try:
            db = self._connect()
            result = db.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                db.close()
                raise sqlite3.DatabaseError(f"quick_check: {result}")
        except sqlite3.DatabaseError as exc:
            return self._reset(exc)
        self._init_meta(db)
        return db

    def _reset(self, cause: Exception) -> sqlite3.Connection:
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%S")
        kept = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while kept.exists():
            kept = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                os.replace(src, Path(f"{kept}{suffix}"))
        self.reset_note = f"outbox was corrupt ({cause}); moved to {kept.name} and a fresh one started"
        log.error("%s: %s", self.path, self.reset_note)
        try:
            db = self._connect()
        except sqlite3.DatabaseError as exc:
            raise OutboxError(f"cannot create a fresh outbox at {self.path}: {exc}") from exc
        self._init_meta(db)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('reset_note', ?)", (self.reset_note,))
        return db

    def _init_meta(self, db: sqlite3.Connection) -> None:
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
        self.reset_note = self.reset_note or rows.get("reset_note")

    def _meta(self, key: str) -> str:
        return self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    @property
    def stream(self) -> uuid.UUID:
        with self._lock:
            return uuid.UUID(self._meta("stream"))

    # --- writing ----------------------------------------------------------------------------
    def commit(self, kind: str, **fields) -> int:
        """Store one event durably; returns its ``seq``. Fields are the protocol message's
        fields except ``device``, ``stream`` and ``seq``; ``clock_synced`` defaults to the clock's."""
        if kind not in protocol.SEQUENCED:
            raise ValueError(f"{kind!r} events are not sent through the outbox; kinds: {', '.join(protocol.SEQUENCED)}")
        fields.setdefault("clock_synced", self.clock.synced())
        with self._lock:
            try:
                seq = self._commit(kind, fields)
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise
                self._db.close()
                self._db = self._reset(exc)
                seq = self._commit(kind, fields)
        if self._on_change:
            self._on_change()
        return seq

    def _commit(self, kind: str, fields: dict) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            stream = self._meta("stream")
            seq = int(self._meta("next_seq"))
            message = protocol.UPSTREAM[kind](device=self.device, stream=stream, seq=seq, **fields)
            payload = protocol.encode(message)
            if kind in COALESCED_KINDS:
                db.execute("DELETE FROM events WHERE kind = ?", (kind,))
            db.execute("INSERT INTO events (kind, seq, payload, created) VALUES (?, ?, ?, ?)",
                       (kind, seq, payload, self.clock.now().isoformat()))
            db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (str(seq + 1),))
            excess = db.execute("SELECT COUNT(*) FROM events").fetchone()[0] - self.max_events
            if excess > 0:
                db.execute("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)", (excess,))
                db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'dropped'", (excess,))
                log.warning("outbox full (%d events): dropped the %d oldest", self.max_events, excess)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return seq

    # --- sending side -----------------------------------------------------------------------
    def pending(self, after_id: int = 0, limit: int = 100) -> list[Pending]:
        """Unacknowledged events with id > ``after_id``, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, kind, seq, payload FROM events WHERE id > ? ORDER BY id LIMIT ?",
                                    (after_id, limit)).fetchall()
        return [Pending(*r) for r in rows]

    def get(self, ids: list[int]) -> list[Pending]:
        """The rows with these ids that are still unacknowledged."""
        if not ids:
            return []
        with self._lock:
            marks = ",".join("?" * len(ids))
            rows = self._db.execute(f"SELECT id, kind, seq, payload FROM events WHERE id IN ({marks}) ORDER BY id",
                                    ids).fetchall()
        return [Pending(*r) for r in rows]

    def ack(self, ids: list[int]) -> None:
        """The broker has the events: forget them (one transaction for the batch)."""
        if not ids:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])
            db.execute("COMMIT")

    def reject(self, row_id: int, reason: str) -> None:
        """The broker refused the event (e.g. not authorised): keep it aside, never resend blindly."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT OR REPLACE INTO rejected SELECT id, kind, seq, payload, ? FROM events WHERE id = ?",
                       (reason, row_id))
            db.execute("DELETE FROM events WHERE id = ?", (row_id,))
            db.execute("COMMIT")

    # --- figures for health -----------------------------------------------------------------
    def depth(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def dropped(self) -> int:
        with self._lock:
            return int(self._meta("dropped"))

    def rejected(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
