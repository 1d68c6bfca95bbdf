"""The agent's own durable record: plays made, the play in progress, settings from commands.

A play's start is written (``synchronous=FULL``) before its first frame, so a play cut by a
crash or a power cut is found after the restart and reported as interrupted; the plays of
the day are read back so the planner knows what was already played. Settings that arrive
as retained commands (quota override, brightness) are kept for a boot without network.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS plays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    start TEXT NOT NULL, "end" TEXT NOT NULL, day TEXT NOT NULL,
    reason TEXT NOT NULL, completed INTEGER NOT NULL, audience INTEGER NOT NULL,
    content TEXT NOT NULL, seq INTEGER
);
CREATE INDEX IF NOT EXISTS plays_day ON plays(day);
CREATE TABLE IF NOT EXISTS current (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    start TEXT NOT NULL, reason TEXT NOT NULL, content TEXT NOT NULL,
    progress TEXT NOT NULL, audience INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class PlayRecord:
    start: datetime
    end: datetime
    reason: str
    completed: bool
    audience: int
    content: dict


class Journal:
    def __init__(self, path: Path | str, tz):
        self.path = Path(path)
        self.tz = tz
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def _day(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).date().isoformat()

    # --- the play in progress ------------------------------------------------------------------
    def begin(self, start: datetime, reason: str, content: dict) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO current VALUES (1, ?, ?, ?, ?, 0)",
                             (start.isoformat(), reason, json.dumps(content), start.isoformat()))

    def progress(self, now: datetime, audience: int) -> None:
        with self._lock:
            self._db.execute("UPDATE current SET progress = ?, audience = ? WHERE id = 1", (now.isoformat(), audience))

    def open_play(self) -> PlayRecord | None:
        """A play that began and never finished (the agent died during it)."""
        with self._lock:
            row = self._db.execute("SELECT start, reason, content, progress, audience FROM current").fetchone()
        if row is None:
            return None
        start, reason, content, progress, audience = row
        return PlayRecord(datetime.fromisoformat(start), datetime.fromisoformat(progress), reason, False,
                          audience, json.loads(content))

    def finish(self, record: PlayRecord, seq: int | None) -> None:
        """Record the play and close the marker in one transaction."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            db.execute('INSERT INTO plays (start, "end", day, reason, completed, audience, content, seq) '
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (record.start.isoformat(), record.end.isoformat(), self._day(record.start), record.reason,
                        int(record.completed), record.audience, json.dumps(record.content), seq))
            db.execute("DELETE FROM current")
            db.execute("COMMIT")

    # --- what was played -----------------------------------------------------------------------
    def plays_on(self, day: date) -> list[PlayRecord]:
        with self._lock:
            rows = self._db.execute('SELECT start, "end", reason, completed, audience, content FROM plays '
                                    "WHERE day = ? ORDER BY start", (day.isoformat(),)).fetchall()
        return [PlayRecord(datetime.fromisoformat(s), datetime.fromisoformat(e), r, bool(c), a, json.loads(ct))
                for s, e, r, c, a, ct in rows]

    def play_counts(self) -> dict[str, int]:
        """Completed plays per day: the agent's own count, to compare with the report."""
        with self._lock:
            rows = self._db.execute("SELECT day, COUNT(*) FROM plays WHERE completed = 1 GROUP BY day").fetchall()
        return dict(rows)

    # --- settings from commands ----------------------------------------------------------------
    def get(self, key: str, default=None):
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, key: str, value) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, json.dumps(value)))

    def seen_command(self, command_id: str, keep: int = 200) -> bool:
        """True when this one-shot command id was already acted on; remembers it otherwise."""
        seen: list[str] = self.get("seen_commands", [])
        if command_id in seen:
            return True
        self.put("seen_commands", (seen + [command_id])[-keep:])
        return False

    def close(self) -> None:
        with self._lock:
            self._db.close()


