"""The board's one SQLite file (``agent.db`` in the data directory): the outbox and the play log.

One file, so that finishing a play is one transaction: the play event is queued for the
district, the play is recorded in the board's own log and the "play in progress" marker is
cleared together, or none of it happens (a power cut between two files could report a play
twice, or record it and never report it). SQLite makes a transaction atomic across attached
files only without WAL, and WAL is what lets the link read while the loop writes.

Durability: WAL journal with ``synchronous=FULL`` — a committed transaction survives a power
cut. A damaged file (power cut mid-write on a cheap SD card) is moved aside, kept for
inspection, and a fresh one is started; ``reset_note`` says so (health reports it). Each part
(outbox, play log) declares its tables and is called back after every open, so it can set
up its rows in a fresh file.

Boards that ran an earlier release kept the outbox in a separate ``outbox.db``; its stream,
sequence and unsent events are moved in once (``adopt_legacy_outbox``), so nothing unsent is
lost and the collector's de-duplication key stays the same.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ihanoi.contract.clock import Clock, RealClock
from ihanoi.contract.errors import OutboxError

log = logging.getLogger(__name__)

FILE_NAME = "agent.db"
LEGACY_OUTBOX = "outbox.db"


class LocalDB:
    def __init__(self, path: Path | str, clock: Clock | None = None, schema: str = ""):
        self.path = Path(path)
        self.clock = clock or RealClock()
        self.reset_note: str | None = None
        self.lock = threading.RLock()
        self._schemas: list[str] = [schema] if schema else []
        self._on_open: list[Callable[[sqlite3.Connection], None]] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open_checked()

    # --- the parts that live in this file ------------------------------------------------------
    def declare(self, schema: str, on_open: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """A part's tables (``CREATE ... IF NOT EXISTS``) and what it sets up after each open."""
        with self.lock:
            self._schemas.append(schema)
            self._db.executescript(schema)
            if on_open is not None:
                self._on_open.append(on_open)
                on_open(self._db)

    # --- use ------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` under the lock; rolled back on any exception."""
        with self.lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def query(self, sql: str, params=()) -> list[tuple]:
        with self.lock:
            return self._db.execute(sql, params).fetchall()

    def execute(self, sql: str, params=()) -> None:
        """One statement in its own (implicit) transaction."""
        with self.lock:
            self._db.execute(sql, params)

    def recover(self, cause: Exception) -> None:
        """The file turned out to be damaged while in use: move it aside and start afresh."""
        if isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause):
            raise cause
        with self.lock:
            self._db.close()
            self._db = self._reset(cause)

    def close(self) -> None:
        with self.lock:
            self._db.close()

    # --- opening, and recovery from a damaged file ---------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        for schema in self._schemas:
            db.executescript(schema)
        return db

    def _open_checked(self) -> sqlite3.Connection:
        try:
            db = self._connect()
            result = db.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                db.close()
                raise sqlite3.DatabaseError(f"quick_check: {result}")
            db.execute("CREATE TABLE IF NOT EXISTS localdb_notes (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = db.execute("SELECT value FROM localdb_notes WHERE key = 'reset_note'").fetchone()
            self.reset_note = row[0] if row else None
        except sqlite3.DatabaseError as exc:
            return self._reset(exc)
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
        self.reset_note = f"{self.path.name} was corrupt ({cause}); moved to {kept.name} and a fresh one started"
        log.error("%s: %s", self.path, self.reset_note)
        try:
            db = self._connect()
            db.execute("CREATE TABLE IF NOT EXISTS localdb_notes (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("INSERT OR REPLACE INTO localdb_notes VALUES ('reset_note', ?)", (self.reset_note,))
        except sqlite3.DatabaseError as exc:
            raise OutboxError(f"cannot create a fresh {self.path.name} at {self.path}: {exc}") from exc
        for on_open in self._on_open:
            on_open(db)
        return db


def open_local_db(data_dir: Path | str, clock: Clock | None = None) -> LocalDB:
    """The board's file in ``data_dir``, with an earlier release's separate outbox moved in."""
    db = LocalDB(Path(data_dir) / FILE_NAME, clock)
    adopt_legacy_outbox(db, Path(data_dir) / LEGACY_OUTBOX)
    return db


def adopt_legacy_outbox(db: LocalDB, legacy: Path) -> None:
    """Move a separate ``outbox.db`` (stream, next seq, unsent and rejected events) into ``db`` once.

    Only into a file that holds no outbox yet; afterwards the old file is renamed
    ``outbox.db.merged``, kept for inspection, and never read again.
    """
    if not legacy.exists():
        return
    from edge.outbox import SCHEMA

    with db.lock:
        conn = db._db
        conn.executescript(SCHEMA)
        if conn.execute("SELECT 1 FROM meta WHERE key = 'stream'").fetchone():
            log.warning("%s exists beside %s, which already has an outbox: left alone", legacy, db.path)
            return
        try:
            conn.execute("ATTACH DATABASE ? AS legacy", (str(legacy),))
            with db.transaction() as tx:
                tx.execute("INSERT OR REPLACE INTO meta SELECT key, value FROM legacy.meta")
                tx.execute("INSERT INTO events (kind, seq, payload, created) "
                           "SELECT kind, seq, payload, created FROM legacy.events ORDER BY id")
                tx.execute("INSERT INTO rejected (kind, seq, payload, reason) "
                           "SELECT kind, seq, payload, reason FROM legacy.rejected")
            moved = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            log.error("%s could not be read (%s): its unsent events stay in it; the board starts a new stream",
                      legacy, exc)
            return
        finally:
            if any(row[1] == "legacy" for row in conn.execute("PRAGMA database_list")):
                conn.execute("DETACH DATABASE legacy")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{legacy}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{legacy}.merged{suffix}"))
    log.info("moved the outbox of %s (%d unsent events) into %s", legacy, moved, db.path)
