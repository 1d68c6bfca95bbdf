"""Commands from the district: queued by the link's network thread, applied by the run loop.

``Inbox.put`` only queues (paho's callbacks must not block); ``Inbox.handle`` decodes each
command with the protocol, answers a malformed one on ``cmd-result`` (never a crash), ignores
a retained copy of a one-shot command (a stale ``play-now`` must not play after a reboot) and
hands the rest to ``BoardCommands``, which says what each verb does to this board:

- ``play-now``: queued for the loop, once per command id (ids are remembered across restarts);
- ``quota``: raised for this board, never below the unit's quota; kept for a boot without network;
- ``brightness``: 0..100 %, kept likewise;
- ``snapshot``: the frame on the board as a PNG, retained on ``dev/{device}/snapshot``;
- ``content``: handed to the update service (signed bundles), or refused when updates are off.
"""

from __future__ import annotations

import io
import logging
import queue
from collections.abc import Callable

from ihanoi.contract import protocol
from ihanoi.contract.errors import ProtocolError

log = logging.getLogger(__name__)

Answer = Callable[[str, str | None, bool, str], None]     # (verb, command id, ok, reason)


class Inbox:
    def __init__(self, topics: protocol.Topics, commands: "BoardCommands", answer: Answer):
        self.topics = topics
        self.commands = commands
        self.answer = answer
        self._queue: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()

    def put(self, topic: str, payload: bytes, retained: bool) -> None:
        """Called on the network thread: only queue; the loop acts on it."""
        self._queue.put((topic, payload, retained))

    def waiting(self) -> int:
        return self._queue.qsize()

    def handle(self) -> int:
        """Apply every queued command; returns how many were taken from the queue."""
        taken = 0
        while True:
            try:
                topic, payload, retained = self._queue.get_nowait()
            except queue.Empty:
                return taken
            taken += 1
            try:
                scope, verb, command = protocol.decode_command(self.topics, topic, payload)
            except ProtocolError as exc:
                log.warning("refused command on %s: %s", topic, exc)
                self.answer(topic.rsplit("/", 1)[-1], None, False, f"{exc.reason}: {exc.detail}")
                continue
            if verb in protocol.ONE_SHOT and retained:
                log.warning("ignored a retained %s command on %s: one-shot commands must not be retained", verb, topic)
                continue
            self.commands.apply(verb, command, scope)


class BoardCommands:
    """What each verb does; the board's parts come in as small functions so each is testable alone."""

    def __init__(self, settings, answer: Answer, *, base_quota: int, set_quota: Callable[[int], None],
                 set_brightness: Callable[[int], None], snapshot: Callable[[], "object"],
                 publish: Callable[[str, bytes], None], updates=None):
        """``settings``: the play log's settings (``get``/``put``/``seen_command``); ``snapshot()``:
        the board's frame (an RGB array); ``publish(kind, payload)``: a retained direct message."""
        self.settings = settings
        self.answer = answer
        self.base_quota = base_quota
        self.set_quota = set_quota
        self.set_brightness = set_brightness
        self.snapshot = snapshot
        self.publish = publish
        self.updates = updates
        self.manual: list[str] = []          # play-now ids waiting for the loop

    def quota_override(self) -> int:
        """The board's quota after a command raised it (the unit's quota otherwise)."""
        return max(self.base_quota, self.settings.get("quota_override") or 0)

    def apply(self, verb: str, command, scope: str = "device") -> None:
        if verb == "play-now":
            if self.settings.seen_command(command.id):
                return
            self.manual.append(command.id)
            self.answer(verb, command.id, True, "queued")
        elif verb == "quota":
            if command.quota is not None and command.quota < self.base_quota:
                self.answer(verb, None, False, f"quota {command.quota} is below {self.base_quota}, the unit's "
                                               "quota; it may be raised, never lowered")
                return
            self.settings.put("quota_override", command.quota or None)
            quota = self.quota_override()
            self.set_quota(quota)
            log.info("quota is now %d plays per open day", quota)
            self.answer(verb, None, True, f"quota {quota}")
        elif verb == "brightness":
            self.settings.put("brightness", command.percent)
            self.set_brightness(command.percent)
            self.answer(verb, None, True, f"brightness {command.percent}%")
        elif verb == "snapshot":
            png = snapshot_png(self.snapshot())
            self.publish("snapshot", png)
            self.answer(verb, command.id, True, f"{len(png)} bytes")
        elif verb == "content":
            if self.updates is None:
                self.answer(verb, None, False, "content updates are off: no content.trusted_keys in the device config")
            else:
                self.updates.submit(command, scope)


def snapshot_png(frame) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    return buf.getvalue()
