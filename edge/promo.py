"""The campaign content this board plays, compiled for its panel, and the switch to a new bundle.

At start the promo is the installed signed bundle (``edge.updates``) when there is one, else
the pack the device config names, else the pack shipped for the campaign. A bundle installed
while the agent runs is offered from the update thread (``offer``) and compiled and switched to
by the loop between two plays (``switch_if_offered``); a pack that does not compile is refused
and the current one keeps playing. Filler packs are compiled here too, a broken one left out.

The board's other campaigns (``edge.campaigns``) each play the pack of their content id
(``pack_for``): the current promo when it is that pack, else a pack found by ``locate`` (the
installed bundle of the campaign, then the board's own ``packs/`` folder, then the packs shipped
for the screen), compiled once until ``renew`` (a bundle installed). A
campaign whose pack is not on the board yet does not play, and ``missing`` says why.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from edge.content import builtin_pack
from ihanoi.contract.errors import PackError

log = logging.getLogger(__name__)


class Promo:
    def __init__(self, compile_pack: Callable[[Path], object], configured: Path | None, campaign_pack: str,
                 installed: Callable[[], Path | None] = lambda: None,
                 locate: Callable[[str], list[Path]] = lambda content_id: []):
        """``compile_pack(path)`` compiles for this board's panel; ``installed()`` is the bundle's pack;
        ``locate(content_id)``: the folders where another campaign's pack may be, in order."""
        self.compile = compile_pack
        self.locate = locate
        self._others: dict[str, object] = {}
        self.missing: dict[str, str] = {}
        self.configured = configured or builtin_pack(campaign_pack)
        self._offered: Path | None = None
        self._lock = threading.Lock()
        self.current = self._compile_first(installed())

    def _compile_first(self, installed: Path | None):
        pack = installed or self.configured
        log.info("compiling %s; reused while unchanged", pack)
        try:
            return self.compile(pack)
        except PackError as exc:
            if pack == self.configured:
                raise
            log.error("the installed bundle cannot be played (%s); playing the configured pack", exc)
            return self.compile(self.configured)

    def offer(self, pack: Path) -> None:
        """A newly installed bundle (called on the update thread)."""
        with self._lock:
            self._offered = pack

    def switch_if_offered(self) -> bool:
        """Compile and switch to an offered bundle; True when the promo changed."""
        with self._lock:
            pack, self._offered = self._offered, None
        if pack is None:
            return False
        try:
            compiled = self.compile(pack)
        except PackError as exc:
            log.error("the new bundle cannot be played (%s); keeping %s %s", exc, self.current.id,
                      self.current.version)
            return False
        self.current = compiled
        log.info("now playing %s %s", compiled.id, compiled.version)
        return True

    def pack_for(self, content_id: str):
        """The compiled pack whose id is ``content_id``, or None (``missing`` says why)."""
        if self.current.id == content_id:
            return self.current
        if content_id in self._others:
            return self._others[content_id]
        if content_id in self.missing:
            return None              # looked for already: again after ``forget_missing``
        found = [p for p in self.locate(content_id) if (p / "pack.toml").is_file()]
        if not found:
            self.missing[content_id] = "no pack of this content on the board"
            return None
        try:
            compiled = self.compile(found[0])
        except PackError as exc:
            self.missing[content_id] = f"{found[0]} cannot be played: {exc}"
            return None
        if compiled.id != content_id:
            self.missing[content_id] = f"{found[0]} holds pack {compiled.id!r}, not {content_id!r}"
            return None
        self.missing.pop(content_id, None)
        self._others[content_id] = compiled
        log.info("campaign content %s %s ready", compiled.id, compiled.version)
        return compiled

    def forget_missing(self) -> None:
        """Look for the missing packs again (a new campaign set, a new bundle)."""
        self.missing.clear()

    def renew(self) -> None:
        """Look for every other campaign's pack again: a bundle installed for one may carry a newer pack."""
        self._others.clear()
        self.missing.clear()

    def compile_fillers(self, paths: list[Path]) -> list:
        packs = []
        for path in paths:
            try:
                packs.append(self.compile(path))
            except PackError as exc:
                log.error("filler pack %s left out: %s", path, exc)
        return packs
