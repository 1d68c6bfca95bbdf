"""Runs the installer on its own thread, so a download never holds up the board or the MQTT link.

The agent hands every ``content`` command to ``submit`` (or wires ``on_command`` straight to
the link). The device's own ``cmd/{device}/content`` and its unit's ``unit/{unit}/content``
may both hold a retained desired bundle; each new one is handled once, lowest version first
(so a replayed older bundle is refused as ``not-newer`` and reported, never installed). Each
bundle name is installed in its own slot, so a second campaign's bundle sits next to the promo. A
failed download is tried again with back-off (``retry_min`` doubling up to ``retry_max``);
a refusal is final for that bundle file.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from edge.updates.installer import Installer, Result
from edge.updates.manifest import ContentDesired, parse_desired
from ihanoi.contract import protocol

log = logging.getLogger(__name__)


def command_result(device: str, result: Result, clock) -> protocol.CommandResult:
    """The ``cmd-result`` answer for one install attempt (``ok`` only when installed)."""
    what = f"bundle {result.bundle or '?'} v{result.version if result.version is not None else '?'}"
    reason = f"{result.state} {what}" + (f": {result.reason}: {result.detail}" if result.reason else "")
    return protocol.CommandResult(device=device, command="content", ok=result.state == "installed",
                                  reason=reason[:1000], time=clock.now())


class UpdateService:
    def __init__(self, installer: Installer, on_result: Callable[[Result], None] | None = None,
                 on_installed: Callable[[str], None] | None = None, retry_min: float = 5.0,
                 retry_max: float = 600.0, topics: protocol.Topics | None = None):
        self.installer = installer
        self.on_result = on_result or (lambda result: None)
        self.on_installed = on_installed or (lambda bundle: None)   # the name of a newly installed bundle
        self.retry_min, self.retry_max = retry_min, retry_max
        self.topics = topics or protocol.Topics()
        self.last_error: str | None = None
        self._desired: dict[str, ContentDesired] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- input ----------------------------------------------------------------------------------
    def submit(self, command: bytes | dict | ContentDesired | None, source: str = "device") -> None:
        """A desired bundle from ``source`` (``device`` or ``unit``); empty/None withdraws it."""
        if command in (None, b"", {}):
            with self._lock:
                self._desired.pop(source, None)
            return
        try:
            if isinstance(command, dict):
                command = json.dumps(command).encode()
            desired = command if isinstance(command, ContentDesired) else parse_desired(command)
        except ValueError as exc:
            self.last_error = f"ignored a {source} content command: {exc}"
            log.warning("%s", self.last_error)
            return
        with self._lock:
            self._desired[source] = desired
        self._wake.set()

    def on_command(self, topic: str, payload: bytes, retained: bool = False) -> bool:
        """For ``Link(on_command=...)``: takes the two ``content`` topics, returns False for others.

        Retained or not makes no difference: the content command is desired state."""
        inst = self.installer
        sources = {self.topics.cmd(inst.device, "content"): "device",
                   self.topics.unit_cmd(inst.unit, "content"): "unit"}
        if topic not in sources:
            return False
        self.submit(payload, sources[topic])
        return True

    # --- the worker -----------------------------------------------------------------------------
    def start(self) -> UpdateService:
        self._thread = threading.Thread(target=self._run, name="content-updates", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(30)

    def _run(self) -> None:
        delay: float | None = None
        answered: dict[str, tuple[str, str | None]] = {}    # bundle sha256 -> (state, reason) reported
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                break
            with self._lock:
                todo = sorted((d for d in self._desired.values()
                               if answered.get(d.sha256, ("failed",))[0] == "failed"), key=lambda d: d.version)
            retry = False
            for wanted in todo:     # oldest first, so versions only ever go up
                before = self.installer.version_of(wanted.bundle)
                try:
                    result = self.installer.handle(wanted)
                except Exception as exc:   # a bug or a full disk must not end the worker
                    log.exception("installing bundle %s v%d failed", wanted.bundle, wanted.version)
                    self.last_error = str(exc)
                    retry = True
                    continue
                if answered.get(wanted.sha256) != (result.state, result.reason):
                    answered[wanted.sha256] = (result.state, result.reason)
                    self.on_result(result)
                if result.state == "installed" and self.installer.version_of(wanted.bundle) != before:
                    self.on_installed(wanted.bundle)
                retry = retry or result.state == "failed"
            delay = self._next_delay(delay) if retry else None

    def _next_delay(self, delay: float | None) -> float:
        return self.retry_min if delay is None else min(self.retry_max, delay * 2)

    def status(self) -> dict[str, Any]:
        status = self.installer.status()
        if self.last_error:
            status["details"]["update_error"] = self.last_error
        return status
