"""The board's own record of what it played, and the settings that commands left behind.

A play's start is written (``synchronous=FULL``) before its first frame, so a play cut by a
crash or a power cut is found after the restart and reported as interrupted; the plays of
the day are read back so the planner knows what was already played. Finishing a play is one
transaction with its report (``Outbox.commit(..., also=play_log.recorder(record))``): the
event queued for the district, the play recorded here and the marker cleared, all or none.

Settings that arrive as retained commands (quota override, brightness) are kept for a boot
without network. Both live in the board's one SQLite file (``edge.localdb``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from edge.localdb import LocalDB

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


class PlayLog:
    def __init__(self, db: LocalDB, tz):
        self.db = db
        self.tz = tz
        db.declare(SCHEMA)

    def _day(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).date().isoformat()

    # --- the play in progress ------------------------------------------------------------------
    def begin(self, start: datetime, reason: str, content: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO current VALUES (1, ?, ?, ?, ?, 0)",
                        (start.isoformat(), reason, json.dumps(content), start.isoformat()))

    def progress(self, now: datetime, audience: int) -> None:
        self.db.execute("UPDATE current SET progress = ?, audience = ? WHERE id = 1", (now.isoformat(), audience))

    def open_play(self) -> PlayRecord | None:
        """A play that began and never finished (the agent died during it)."""
        rows = self.db.query("SELECT start, reason, content, progress, audience FROM current")
        if not rows:
            return None
        start, reason, content, progress, audience = rows[0]
        return PlayRecord(datetime.fromisoformat(start), datetime.fromisoformat(progress), reason, False,
                          audience, json.loads(content))

    def recorder(self, record: PlayRecord) -> Callable[[sqlite3.Connection, int], None]:
        """What ``Outbox.commit(also=...)`` runs inside its transaction: record the play, clear the marker."""
        def record_play(conn: sqlite3.Connection, seq: int) -> None:
            conn.execute('INSERT INTO plays (start, "end", day, reason, completed, audience, content, seq) '
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (record.start.isoformat(), record.end.isoformat(), self._day(record.start), record.reason,
                          int(record.completed), record.audience, json.dumps(record.content), seq))
            conn.execute("DELETE FROM current")
        return record_play

    # --- what was played -----------------------------------------------------------------------
    def plays_on(self, day: date) -> list[PlayRecord]:
        rows = self.db.query('SELECT start, "end", reason, completed, audience, content FROM plays '
                             "WHERE day = ? ORDER BY start", (day.isoformat(),))
        return [PlayRecord(datetime.fromisoformat(s), datetime.fromisoformat(e), r, bool(c), a, json.loads(ct))
                for s, e, r, c, a, ct in rows]

    def play_counts(self) -> dict[str, int]:
        """Completed plays per day: the agent's own count, to compare with the report."""
        return dict(self.db.query("SELECT day, COUNT(*) FROM plays WHERE completed = 1 GROUP BY day"))

    # --- settings from commands ----------------------------------------------------------------
    def get(self, key: str, default=None):
        rows = self.db.query("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def put(self, key: str, value) -> None:
        self.db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, json.dumps(value)))

    def seen_command(self, command_id: str, keep: int = 200) -> bool:
        """True when this one-shot command id was already acted on; remembers it otherwise."""
        seen: list[str] = self.get("seen_commands", [])
        if command_id in seen:
            return True
        self.put("seen_commands", (seen + [command_id])[-keep:])
        return False
