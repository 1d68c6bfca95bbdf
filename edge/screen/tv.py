"""An LCD/TV screen over HDMI as the agent's screen: mpv plays the clip, HDMI-CEC keeps the TV's power.

The promo is a TV pack's one video clip (``edge.hdmi.load_promo``: probed, and refused when
the board cannot play it smoothly); a new bundle is decoded whole before it is installed
(``verify``). Plays go through ``edge.hdmi.HdmiPlayer``, which asks the TV its power status
before each one; the play message carries the answer (``screen``) and a play on a TV in
standby or on another input is not counted (``ihanoi.contract.protocol.screen_showed``).

Between plays, once a minute of the agent's clock:

- the TV's power follows the opening hours (``edge.hdmi.desired_power``): on from
  ``warmup_minutes`` before opening, standby from ``standby_after_minutes`` after closing, switched
  only when that changes (someone who switches it off by hand is not fought every minute; the
  next play wakes it);
- during opening hours the TV is asked how it is (at most every ``STATUS_REAL_SECONDS`` of real
  time: a simulated clock must not run cec-ctl many times a second); a TV in standby or on
  another input is the board's ``fault``, said in state and health and shown on the fleet page;
- the still is re-rendered for the new minute (``tv_filler``).

mpv that cannot start (missing, no display) leaves the screen with a ``fault`` and no plays;
it is tried again every ``RETRY_REAL_SECONDS``. A screen configured without CEC is
``unmanaged``: never switched, never asked, its plays counted as an LED board's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from edge.content import builtin_pack
from edge.hdmi import HdmiPlayer, desired_power, load_filler, load_promo, open_screen
from edge.screen.tv_filler import TvFiller
from ihanoi.contract.errors import PackError, ScreenError

log = logging.getLogger("ihanoi.screen")

STATUS_REAL_SECONDS = 10.0
RETRY_REAL_SECONDS = 30.0
TV_PACK_SUFFIX = "-tv"             # the shipped TV pack of a campaign: edge/packs/<content id>-tv
CLIP_FAILURES = ("error", "file-changed")      # mpv could not read the file, or it changed under the agent
CLIP_SHORT = ("ended early", "skipped")         # the file's end came too soon (truncated, damaged)


class _Asked:
    """The CEC screen, remembering its last answer (asked before each play and each minute)."""

    def __init__(self, cec):
        self.cec = cec
        self.last = None
        self.woken = False          # the player woke the TV for a play (it was off or elsewhere)

    def status(self):
        self.last = self.cec.status()
        return self.last

    def power_on(self):
        self.woken = True
        return self.cec.power_on()

    def __getattr__(self, name):
        return getattr(self.cec, name)


class _Plays:
    """What PlayMaker plays through: the HDMI player, remembering a promo clip mpv could not play
    (damaged on the card, changed under the agent) until one plays through again."""

    def __init__(self, player: HdmiPlayer):
        self.player = player
        self.clip_fault: str | None = None

    @property
    def on_frame(self):
        return self.player.on_frame

    @on_frame.setter
    def on_frame(self, callback) -> None:
        self.player.on_frame = callback

    def play(self, clip, stop):
        result = self.player.play(clip, stop)
        if result.first_frame_delay is not None:
            # from the play's start (the TV asked and woken first) to mpv's first frame of the clip
            log.info("first frame of %s %.0f ms after the play began", clip.path.name, 1000 * result.first_frame_delay)
        reason = result.reason or ""
        if result.completed:
            self.clip_fault = None
        elif reason.startswith(CLIP_SHORT) and self.player.speed != 1.0:
            # on a simulated clock a busy PC may leave mpv behind the clip: the play is honestly not
            # completed, but the file is not to blame
            log.warning("mpv fell behind the simulated clock (%.0fx): %s", self.player.speed, reason)
        elif reason.startswith(CLIP_FAILURES + CLIP_SHORT):
            self.clip_fault = (f"the promo clip {clip.path.name} could not be played ({reason}); "
                               f"install the bundle again or restore the file")
            log.error("%s", self.clip_fault)
        return result


class TvScreen:
    kind = "lcd"

    def __init__(self, settings, clock, data_dir: Path, unit_name: str, tz, *,
                 is_open: Callable[[datetime], bool], ping: Callable[[], None] = lambda: None,
                 filler_every: float = 10.0, cec=None, monotonic: Callable[[], float] = time.monotonic):
        """``is_open(t)``: the unit's open days and hours; ``cec``: the CEC screen (default from the settings)."""
        self.settings = settings
        self.clock = clock
        self.is_open = is_open
        self._monotonic = monotonic
        self.cec = _Asked(cec if cec is not None else open_screen(settings.cec))
        self.hdmi = HdmiPlayer(settings, clock, data_dir, screen=self.cec, on_frame=lambda _n: ping())
        self.player = _Plays(self.hdmi)
        self.filler = TvFiller(self.hdmi, clock, unit_name, tz, Path(data_dir) / "filler.png",
                               timedelta(minutes=filler_every), monotonic=monotonic)
        self.power: str | None = None          # what the TV was last switched to
        self.power_error: str | None = None
        self._open_now = False
        self._minute: datetime | None = None
        self._asked_real: float | None = None
        self._start_fault: str | None = None
        self._tried_real = 0.0
        self._closed = False
        self._start_mpv()

    def _start_mpv(self) -> None:
        self._tried_real = self._monotonic()
        try:
            self.hdmi.open()
        except ScreenError as exc:
            self.hdmi.mpv = None
            self._start_fault = f"the TV cannot be driven: {exc}"
            log.error("%s; trying again every %.0f s", self._start_fault, RETRY_REAL_SECONDS)
        else:
            self._start_fault = None

    # --- content ------------------------------------------------------------------------------
    def default_pack(self, content_id: str) -> Path:
        return builtin_pack(content_id + TV_PACK_SUFFIX)

    def load(self, pack: Path):
        """The pack's clip for this board (probed in a child process; refused when the board cannot
        play it smoothly)."""
        return load_promo(pack, self.settings.board, decode=False, apart=True)

    def verify(self, pack: Path):
        """A new bundle's clip, every frame decoded: a damaged copy is refused before it is installed."""
        return load_promo(pack, self.settings.board, decode=True, apart=True)

    def use_fillers(self, paths: list[Path]) -> None:
        entries = []
        for path in paths:
            try:
                entries.extend(load_filler(path, self.settings.board, decode=False, apart=True))
            except PackError as exc:
                log.error("filler pack %s left out: %s", path, exc)
        self.filler.entries = entries

    # --- what the loop asks -------------------------------------------------------------------
    @property
    def fault(self) -> str | None:
        """mpv down, or the TV not showing this board during opening hours (its plays do not count)."""
        if self.hdmi.mpv is None and not self._closed:
            return self._start_fault or f"the TV cannot be driven: {self.hdmi.last_error or 'mpv is not running'}"
        if self.player.clip_fault:
            return self.player.clip_fault
        said = self.cec.last
        if self._open_now and said is not None and not said.counts:
            return (f"{said.describe()} during opening hours: plays made now are not counted; switch the TV on "
                    f"and to this board's input")
        return None

    @property
    def can_play(self) -> bool:
        return self.hdmi.mpv is not None

    def before_play(self) -> None:
        pass                                    # the player asks the TV and wakes it itself

    def between_plays(self, now: datetime, is_open: bool, synced: bool, stop) -> bool:
        """The TV's power and status once a minute, the still or a filler entry; True: time went by."""
        if self.hdmi.mpv is None and self._monotonic() - self._tried_real >= RETRY_REAL_SECONDS:
            self._start_mpv()
        self._open_now = self.is_open(now)
        minute = now.replace(second=0, microsecond=0)
        if minute != self._minute:
            self._minute = minute
            self._follow_hours(now)
        if self.hdmi.mpv is None:
            return False
        return self.filler.show(now, is_open, stop)

    def _follow_hours(self, now: datetime) -> None:
        cec = self.settings.cec
        wanted = desired_power(now, self.is_open, timedelta(minutes=cec.warmup_minutes),
                               timedelta(minutes=cec.standby_after_minutes))
        if self.cec.woken:                  # a play woke it: after hours it goes back to standby
            self.cec.woken, self.power = False, "on"
        try:
            self.power = self.cec.follow(wanted, self.power)
            self.power_error = None
        except ScreenError as exc:          # tried again next minute: ``power`` still says the old state
            if self.power_error != str(exc):
                log.warning("the TV could not be switched %s: %s", wanted, exc)
            self.power_error = str(exc)
        real = self._monotonic()
        if self._open_now and (self._asked_real is None or real - self._asked_real >= STATUS_REAL_SECONDS):
            self._asked_real = real
            said = self.cec.status()
            if not said.counts:
                log.warning("%s during opening hours", said.describe())

    def set_brightness(self, percent: int) -> None:
        raise ScreenError("a TV's brightness is set in the TV's own menu; this board sets only its sound "
                          "(hdmi.volume in the device config)")

    def snapshot(self) -> bytes:
        return self.hdmi.snapshot()

    def figures(self) -> dict:
        said = self.cec.last
        return {"screen_output": f"mpv {self.settings.effective_output}", "screen_power_set": self.power,
                "screen_power": said.power if said else None, "screen_input": said.input if said else None,
                "screen_cec_error": self.power_error, **self.hdmi.health()}

    def close(self) -> None:
        self._closed = True
        self.hdmi.close()
