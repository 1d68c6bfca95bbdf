"""An LED board as the agent's screen: the HUB75 panel, the frame player and the LED filler.

What the run loop did for the LED board before there were TVs, behind the screen interface
(``edge.screen``): the promo is a pack compiled into frames for the panel's profile; between
plays the board shows the unit's name and the time in turn, or a filler pack every
``filler_every_minutes``, dims outside opening hours, and goes dark at 0 %. A board that cannot
be driven is a dark panel whose ``fault`` says why (``edge.panel.open_panel_or_dark``): the
agent keeps reporting and makes no plays on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from edge.content import ChildCompiler, builtin_pack
from edge.filler import Filler
from edge.inbox import snapshot_png
from edge.panel import open_panel_or_dark
from edge.player import Player
from ihanoi.contract.errors import PackError

log = logging.getLogger("ihanoi.screen")


class LedScreen:
    kind = "led"

    def __init__(self, config, profile, clock, unit_name: str, tz, *, brightness: Callable[[], int],
                 ping: Callable[[], None] = lambda: None):
        """``brightness()`` is the board's setting now (a command may change it)."""
        self.profile = profile
        self.clock = clock
        self.brightness = brightness
        self.ping = ping
        self.frames_dir = config.data_dir / "frames"
        self.compiler = ChildCompiler()        # the compile's memory is a child's: the agent's peak stays low
        self.panel = open_panel_or_dark(config.panel_output, profile, config.data_dir, brightness=brightness(),
                                        gpio_access=config.panel.gpio_access)
        self.player = Player(self.panel, clock, on_frame=lambda _n: ping())
        self.filler = Filler(self.panel, profile, unit_name, tz, config.panel, brightness,
                             pack_every=timedelta(minutes=config.content.filler_every_minutes))

    # --- content ------------------------------------------------------------------------------
    def default_pack(self, content_id: str) -> Path:
        return builtin_pack(content_id)

    def load(self, pack: Path):
        """The pack compiled for this panel (reused from the frame cache while unchanged)."""
        return self.compiler(pack, self.profile, self.frames_dir)

    verify = load             # a bundle that compiles for this panel can be played on it

    def use_fillers(self, paths: list[Path]) -> None:
        packs = []
        for path in paths:
            try:
                packs.append(self.load(path))
            except PackError as exc:
                log.error("filler pack %s left out: %s", path, exc)
        self.filler.packs = packs

    # --- what the loop asks -------------------------------------------------------------------
    @property
    def fault(self) -> str | None:
        return self.panel.fault

    @property
    def can_play(self) -> bool:
        return self.panel.fault is None      # nobody would see it: the planner catches up once it is back

    def before_play(self) -> None:
        self.filler.invalidate()
        self.panel.set_brightness(self.brightness())

    def between_plays(self, now, is_open: bool, synced: bool, stop) -> bool:
        """A filler pack when one is due (True: it took its time), else the name and the time."""
        pack = self.filler.pack_due(now, is_open)
        if pack is not None:
            self.panel.set_brightness(self.brightness())
            self.player.on_frame = lambda _n: self.ping()
            self.player.play(pack, stop)
            self.filler.pack_shown(self.clock.now())
            return True
        self.filler.show(now, is_open, synced)
        return False

    def set_brightness(self, percent: int) -> None:
        self.filler.invalidate()
        self.panel.set_brightness(percent)

    def snapshot(self) -> bytes:
        return snapshot_png(self.panel.snapshot())

    def figures(self) -> dict:
        figures = {"panel_output": self.panel.output}
        if self.compiler.fault:
            figures["compile_fault"] = self.compiler.fault
        return figures

    def close(self) -> None:
        self.panel.close()
