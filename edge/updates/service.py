"""Runs the installer on its own thread, so a download never holds up the board or the MQTT link.

The agent hands every ``content`` command to ``submit`` (or wires ``on_command`` straight to
the link). Each bundle has its own retained topic under the device's ``cmd/{device}/content/``
and its unit's ``unit/{unit}/content/``, so a board that was offline finds every bundle announced
to it; the single topics ``cmd/{device}/content`` and ``unit/{unit}/content`` of the boards from
before are still read. Every announcement is kept by where it came from (scope and topic's
bundle), each new one is handled once, lowest version first (so a replayed older bundle is
refused as ``not-newer`` and reported, never installed). Each
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
from ihanoi.contract.errors import ProtocolError

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
        # (scope, the topic's bundle or None for the single topic) -> the announcement it holds
        self._desired: dict[tuple[str, str | None], ContentDesired] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- input ----------------------------------------------------------------------------------
    def submit(self, command: bytes | dict | ContentDesired | None, source: str = "device",
               bundle: str | None = None) -> None:
        """A desired bundle from ``source`` (``device`` or ``unit``) on the topic of ``bundle`` (None:
        the single topic from before one topic per bundle); empty/None withdraws that topic's."""
        key = (source, bundle)
        if command in (None, b"", {}):
            with self._lock:
                self._desired.pop(key, None)
            return
        where = f"{source} content command" + (f" for bundle {bundle}" if bundle else "")
        try:
            if isinstance(command, dict):
                command = json.dumps(command).encode()
            desired = command if isinstance(command, ContentDesired) else parse_desired(command)
        except ValueError as exc:
            self.last_error = f"ignored a {where}: {exc}"
            log.warning("%s", self.last_error)
            return
        if bundle is not None and desired.bundle != bundle:
            self.last_error = f"ignored a {where}: it announces bundle {desired.bundle}"
            log.warning("%s", self.last_error)
            return
        with self._lock:
            self._desired[key] = desired
        self._wake.set()

    def on_command(self, topic: str, payload: bytes, retained: bool = False) -> bool:
        """For ``Link(on_command=...)``: takes this board's and its unit's ``content`` topics (each
        bundle's and the single one), returns False for others.

        Retained or not makes no difference: the content command is desired state."""
        inst = self.installer
        ours = (self.topics.content(inst.device), self.topics.unit_content(inst.unit))
        if not any(topic == head or topic.startswith(head + "/") for head in ours):
            return False
        try:
            command = protocol.decode_command(self.topics, topic, payload)
        except ProtocolError as exc:
            self.last_error = f"ignored a content command on {topic}: not a content command ({exc})"
            log.warning("%s", self.last_error)
            return True
        self.submit(command.message, command.scope, command.bundle)
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
