"""Living under systemd: readiness, watchdog pings and structured logs for the journal.

``Type=notify`` + ``WatchdogSec=`` in the unit: the agent says READY=1 once it shows frames,
and pings WATCHDOG=1 from its frame loop, so a hung loop is restarted by systemd. Outside
systemd (no ``NOTIFY_SOCKET``) every call is a no-op.

Logs: when stderr is connected to the journal (``JOURNAL_STREAM`` is set) each record is one
JSON object prefixed with its syslog priority (``<3>{...}``); journald takes the priority
from the prefix and ``journalctl -u ihanoi-edge -o cat | jq`` reads the fields.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class Service:
    def __init__(self, monotonic=time.monotonic):
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._notifier = None
        if self.enabled:
            from sdnotify import SystemdNotifier

            self._notifier = SystemdNotifier()
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        # Ping at a third of the timeout: a slow frame or a GC pause must not cost a restart.
        self.watchdog_interval = usec / 3e6 if usec else None
        self._monotonic = monotonic
        self._last_ping = 0.0
        self.pings = 0

    def _send(self, state: str) -> None:
        if self._notifier:
            self._notifier.notify(state)

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def ping(self) -> None:
        """Cheap enough to call every frame: sends at most once per interval (real time)."""
        if self.watchdog_interval is None:
            return
        now = self._monotonic()
        if now - self._last_ping >= self.watchdog_interval:
            self._last_ping = now
            self.pings += 1
            self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {"level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        for key, value in record.__dict__.items():
            if key.startswith("ev_"):
                fields[key[3:]] = value
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        prio = _PRIORITY.get(record.levelno, 6)
        return f"<{prio}>" + json.dumps(fields, ensure_ascii=False, default=str)


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
