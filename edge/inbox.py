"""Commands from the district: queued by the link's network thread, applied by the run loop.

``Inbox.put`` only queues (paho's callbacks must not block); ``Inbox.handle`` decodes each
command with the protocol, answers a malformed one on ``cmd-result`` (never a crash), ignores
a retained copy of a one-shot command (a stale ``play-now`` must not play after a reboot) and
hands the rest to ``BoardCommands``, which says what each verb does to this board:

- ``play-now``: queued for the loop, once per command id (ids are remembered across restarts); one
  that arrives while a play runs cuts that play (``on_play_now``, called on the network thread);
- ``quota``: raised for this board, never below the unit's quota; kept for a boot without network;
- ``brightness``: 0..100 %, kept likewise;
- ``snapshot``: what is on the screen as a PNG, retained on ``dev/{device}/snapshot`` (an LED
  board's frame, a TV's picture from mpv); a screen that cannot take one answers why;
- ``brightness`` on a screen where it does not apply (a TV) is answered as refused, with why;
- ``content``: handed to the update service (signed bundles), or refused when updates are off;
  each bundle's own retained topic (``.../content/{bundle}``) and the single ``.../content`` topic
  of the boards from before alike.

The district's campaign set (``unit/{unit}/campaigns``, retained and signed) is not a command
of the protocol's list: it goes whole to ``on_campaigns`` (``edge.campaigns`` checks it).
"""

from __future__ import annotations

import io
import logging
import queue
from collections.abc import Callable

from ihanoi.contract import protocol
from ihanoi.contract.campaigns import TOPIC_VERB
from ihanoi.contract.errors import ProtocolError, ScreenError

log = logging.getLogger(__name__)

Answer = Callable[[str, str | None, bool, str], None]     # (verb, command id, ok, reason)


class Inbox:
    def __init__(self, topics: protocol.Topics, commands: "BoardCommands", answer: Answer,
                 on_play_now: Callable[[], None] = lambda: None,
                 on_campaigns: Callable[[bytes], None] | None = None):
        """``on_play_now()`` is called (on the network thread) for a live ``play-now``: the play in
        progress, if any, ends so that the manual one starts now. ``on_campaigns(payload)``: an
        announcement of the unit's campaign set, on the loop's thread."""
        self.topics = topics
        self.on_campaigns = on_campaigns
        self.commands = commands
        self.answer = answer
        self.on_play_now = on_play_now
        self._queue: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()

    def put(self, topic: str, payload: bytes, retained: bool) -> None:
        """Called on the network thread: only queue (and cut a play for a live play-now); the loop acts on it."""
        self._queue.put((topic, payload, retained))
        if not retained and topic.endswith("/play-now"):
            self.on_play_now()

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
            if self.on_campaigns is not None and self._is_campaigns(topic):
                self.on_campaigns(payload)
                continue
            try:
                command = protocol.decode_command(self.topics, topic, payload)
            except ProtocolError as exc:
                log.warning("refused command on %s: %s", topic, exc)
                self.answer(self._verb_of(topic), None, False, f"{exc.reason}: {exc.detail}")
                continue
            if command.verb in protocol.ONE_SHOT and retained:
                log.warning("ignored a retained %s command on %s: one-shot commands must not be retained",
                            command.verb, topic)
                continue
            self.commands.apply(command.verb, command.message, command.scope, command.bundle)

    def _verb_of(self, topic: str) -> str:
        """The verb a refused command is answered under: its topic's (``content`` for any topic under
        a ``content/`` level, even with a name that is not a bundle's), or the topic's last level."""
        try:
            return protocol.command_topic(self.topics, topic).verb
        except ProtocolError:
            levels = topic.split("/")
            return protocol.CONTENT if levels[-2:-1] == [protocol.CONTENT] else levels[-1]

    def _is_campaigns(self, topic: str) -> bool:
        head = f"{self.topics.prefix}/unit/"
        return topic.startswith(head) and topic[len(head):].split("/")[1:] == [TOPIC_VERB]


class BoardCommands:
    """What each verb does; the board's parts come in as small functions so each is testable alone."""

    def __init__(self, settings, answer: Answer, *, base_quota: int, set_quota: Callable[[int], None],
                 set_brightness: Callable[[int], None], snapshot: Callable[[], "object"],
                 publish: Callable[[str, bytes], None], updates=None):
        """``settings``: the play log's settings (``get``/``put``/``seen_command``); ``snapshot()``:
        the screen's picture, PNG bytes or an RGB array (ScreenError: none to take);
        ``set_brightness(percent)``: ScreenError where it does not apply; ``publish(kind, payload)``:
        a retained direct message."""
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

    def apply(self, verb: str, command, scope: str = "device", bundle: str | None = None) -> None:
        """``bundle``: the bundle whose own topic a ``content`` command came on (None: the single topic)."""
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
            try:
                self.set_brightness(command.percent)
            except ScreenError as exc:
                self.answer(verb, None, False, str(exc))
                return
            self.settings.put("brightness", command.percent)
            self.answer(verb, None, True, f"brightness {command.percent}%")
        elif verb == "snapshot":
            try:
                shot = self.snapshot()
            except ScreenError as exc:
                log.warning("snapshot refused: %s", exc)
                self.answer(verb, command.id, False, str(exc))
                return
            png = shot if isinstance(shot, bytes) else snapshot_png(shot)
            self.publish("snapshot", png)
            self.answer(verb, command.id, True, f"{len(png)} bytes")
        elif verb == "content":
            if self.updates is None:
                self.answer(verb, None, False, "content updates are off: no content.trusted_keys in the device config")
            else:
                self.updates.submit(command, scope, bundle)


def snapshot_png(frame) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    return buf.getvalue()
