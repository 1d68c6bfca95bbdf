"""The HDMI player: plays a clip full screen through one long-lived mpv, and says how it went.

    player = HdmiPlayer(settings, clock, data_dir, screen=open_screen(settings.cec))
    player.open()                                   # starts mpv, shows black until a filler arrives
    player.show_still(filler_png)                   # between plays
    result = player.play(clip, stop_event)          # blocks like edge.player.Player.play
    result.completed, result.reason, result.played_seconds, result.screen.counts
    png = player.snapshot()                         # what is on the screen now
    player.close()

``play`` mirrors ``Player.play``: it blocks until the clip ends or ``stop_event`` is set and
returns a result with ``started``, ``ended``, ``completed``, ``frames_shown``, ``late`` and
``dropped``, plus what only a TV has: ``reason`` (why not completed, in words), the measured
``played_seconds``, ``clip_seconds``, ``first_frame_delay`` (planned start to mpv's first
frame) and ``screen`` (the CEC status asked just before; ``counted`` needs it to count).

The clip is loaded with the still that was showing queued behind it, so mpv goes straight
from the clip's last frame to the filler without ever going idle (on the Pi an idle
vo=drm would hand the screen back to the text console). mpv dying (the socket closes, the
process ends) or hanging (nothing from it for ``hang_seconds`` while a reply is due) ends the
play as ``interrupted``; the player kills what is left, starts a new mpv and puts the still
back before returning. A corrupt file is mpv's ``end-file`` error, reported, never raised.

On a simulated clock (``--speed N``) mpv plays the clip at the clock's speed (its ``speed``
property, at most ``MPV_MAX_SPEED``, pitch correction off) and the witness allows position
steps of that many clip seconds per wall second: a 15 s clip takes 15/N real seconds, as long
on the simulated clock as it lasts, and proof of play still comes from mpv's own positions. A
clock that moves only when told (``SimClock`` without a speed: the tests) is advanced by the
real time the play took, and mpv plays in real time. See docs/hdmi.md.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from edge.hdmi.boards import board as board_named
from edge.hdmi.cec import NoCec, ScreenStatus
from edge.hdmi.mpv import Mpv, MpvCommandError, MpvGone, MpvTimeout
from edge.hdmi.pack import Clip
from edge.hdmi.settings import HdmiSettings, mpv_arguments
from edge.hdmi.witness import Witness
from ihanoi.contract.clock import Clock
from ihanoi.contract.errors import ScreenError

log = logging.getLogger("ihanoi.hdmi")

POLL_S = 0.1                      # how often the stop event is looked at while playing
HEARTBEAT_S = 1.0                 # a question to mpv this often, so silence means something
LOAD_TIMEOUT_FACTOR = 1.0         # a clip that has not ended by its length x this + grace is stuck
LOAD_GRACE_S = 15.0
# The speeds mpv is asked to play at on a simulated clock. mpv itself takes 0.01 to 100, but at 100x a PC
# shared by a simulated district's agents falls behind decoding and drops the clip's last frames (a
# play then honestly not completed); 50x leaves it the headroom.
MPV_MIN_SPEED, MPV_MAX_SPEED = 0.01, 50.0
# mpv notifies these as they change (estimated-frame-number it does not: frames shown are
# counted from the measured positions instead).
OBSERVED = {1: "playback-time", 2: "frame-drop-count", 3: "decoder-frame-drop-count", 4: "vo-delayed-frame-count"}


@dataclass(frozen=True)
class HdmiPlayResult:
    started: datetime
    ended: datetime
    completed: bool
    frames_shown: int
    late: int
    dropped: int
    reason: str | None            # None when completed; else what ended it, in words
    played_seconds: float         # measured from mpv's reported positions
    clip_seconds: float
    first_frame_delay: float | None
    screen: ScreenStatus | None
    content: dict
    mpv_restarted: bool = False

    @property
    def counted(self) -> bool:
        """Completed, on a screen that was on and showing this board."""
        return self.completed and (self.screen is None or self.screen.counts)

    # What the agent's PlayMaker reads of any player's result (edge.player.PlayResult has the same).
    seen = True                   # mpv is the output: when it fails, the play is not completed

    @property
    def screen_state(self) -> dict | None:
        """The play message's ``screen``: what the TV said of itself before the play."""
        return None if self.screen is None else self.screen.wire()


class HdmiPlayer:
    def __init__(self, settings: HdmiSettings, clock: Clock, data_dir: Path | str, screen=None,
                 on_frame: Callable[[int], None] | None = None, hang_seconds: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock              # the play's start and end (real, or simulated with --speed)
        self.monotonic = monotonic      # mpv plays in real time whatever the agent's clock: its watch does too
        self.data_dir = Path(data_dir)
        self.screen = screen if screen is not None else NoCec()
        self.on_frame = on_frame
        self.hang_seconds = hang_seconds if hang_seconds is not None else settings.hang_seconds
        self.board = board_named(settings.board)
        self.ipc_socket = self.data_dir / "mpv.sock"
        self.mpv: Mpv | None = None
        self.still: Path | None = None
        self.restarts = 0
        self.last_error: str | None = None
        self._index_argument = False
        self._speed_set = 1.0

    # --- life -------------------------------------------------------------------------------
    def open(self) -> HdmiPlayer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._start_mpv()
        return self

    def close(self) -> None:
        if self.mpv is not None:
            self.mpv.quit()
            self.mpv = None

    def _start_mpv(self) -> None:
        args = mpv_arguments(self.settings, self.ipc_socket, self.data_dir / "mpv.log")
        self.mpv = Mpv(args, self.ipc_socket, self.settings.start_timeout_s)
        self.mpv.start()
        for number, name in OBSERVED.items():
            self.mpv.request("observe_property", number, name)
        version = str(self.mpv.request("get_property", "mpv-version") or "")
        self._index_argument = _version(version) >= (0, 38)
        self._speed_set = 1.0
        if self.still is not None:
            self._loadfile(self.still, "replace")
        log.info("%s up, pid %d (%s)", version, self.mpv.pid, self.settings.effective_output)

    def _loadfile(self, path: Path, mode: str, options: str = ""):
        # mpv 0.38 put an index before the per-file options (Bookworm has 0.35, Trixie 0.40).
        args = ["loadfile", str(path), mode]
        if options:
            args += (["-1", options] if self._index_argument else [options])
        return self.mpv.request(*args)

    def _restart(self, why: str) -> bool:
        self.last_error = why
        log.error("mpv: %s; starting a new one", why)
        if self.mpv is not None:
            self.mpv.kill()
        self.restarts += 1
        try:
            self._start_mpv()
            return True
        except ScreenError as exc:
            self.last_error = f"{why}; the new mpv did not start: {exc}"
            log.error("%s", self.last_error)
            self.mpv = None
            return False

    def _ensure(self) -> bool:
        if self.mpv is not None and self.mpv.alive():
            return True
        return self._restart("mpv was not running" if self.mpv is None else f"mpv {self.mpv.exit_description()}")

    @property
    def speed(self) -> float:
        """The speed mpv plays at: the agent's clock's (simulated time), within mpv's bounds."""
        speed = getattr(self.clock, "speed", 1.0)
        return 1.0 if speed is None else min(MPV_MAX_SPEED, max(MPV_MIN_SPEED, float(speed)))

    def health(self) -> dict:
        return {"mpv_pid": self.mpv.pid if self.mpv and self.mpv.alive() else None, "mpv_restarts": self.restarts,
                "screen_error": self.last_error}

    # --- between plays ------------------------------------------------------------------------
    def show_still(self, image: Path | str) -> None:
        """Show a picture (the filler) until the next play; kept and re-shown after an mpv restart."""
        self.still = Path(image)
        if not self._ensure():
            return
        try:
            self._loadfile(self.still, "replace")
        except ScreenError as exc:
            self._restart(f"showing {self.still.name} failed: {exc}")

    def snapshot(self, timeout: float = 5.0) -> bytes:
        """The picture on the screen now, as PNG (mpv's screenshot of the video or still)."""
        if not self._ensure():
            raise ScreenError(f"no screenshot: {self.last_error}")
        target = self.data_dir / "snapshot.png"
        target.unlink(missing_ok=True)
        try:
            self.mpv.request("screenshot-to-file", str(target), "video", timeout=timeout)
        except MpvCommandError as exc:
            raise ScreenError(f"mpv has no picture to take ({exc.error}): nothing is shown yet") from None
        data = target.read_bytes()
        target.unlink(missing_ok=True)
        return data

    # --- a play -------------------------------------------------------------------------------
    def play(self, clip: Clip, stop_event: threading.Event | None = None,
             planned: float | None = None) -> HdmiPlayResult:
        """Play ``clip`` once; never raises for what mpv or the file does (that is the result).

        ``planned`` is the player's ``monotonic()`` time the play was due (default: now), for
        ``first_frame_delay``.
        """
        clock, mono = self.clock, self.monotonic
        begun = mono()
        planned = begun if planned is None else planned
        clock_speed = getattr(clock, "speed", 1.0)     # None: a clock that moves only when told
        changed = clip.changed()
        screen = self.screen.status()
        if screen.power in ("standby", "to-standby") or screen.input == "other":
            self._wake()          # played anyway (and not counted); the next play should find it on
        started = clock.now()
        witness = Witness(clip.seconds, rate=self.speed)
        stats = dict.fromkeys(OBSERVED.values(), 0)
        restarted = False
        if changed:
            witness.ended(mono(), "file-changed", changed)
        elif not self._ensure():
            witness.ended(mono(), "mpv-unavailable", self.last_error)
        else:
            restarted = self._run(clip, stop_event, witness, stats)
            if witness.end_reason == "quit":       # mpv is on its way out (SIGTERM, or asked to quit)
                restarted = self._restart(f"mpv quit while playing {clip.path.name} ({witness.end_detail or 'quit'})")
        if clock_speed is None:
            clock.sleep(mono() - begun)            # the play took this long: a told-only clock is told so
        ended = clock.now()
        if witness.first_frame_at is not None and witness.ended_at is not None:
            on_clock = (witness.ended_at - witness.first_frame_at) * (clock_speed or 1.0)
            started = max(started, ended - _seconds(on_clock))
        dropped = int(stats["frame-drop-count"] or 0) + int(stats["decoder-frame-drop-count"] or 0)
        frames = int(witness.played_seconds * clip.info.fps)
        return HdmiPlayResult(started, ended, witness.completed, frames,
                              int(stats["vo-delayed-frame-count"] or 0), dropped, witness.reason,
                              round(witness.played_seconds, 3), clip.seconds, witness.first_frame_delay(planned),
                              screen, clip.content, restarted)

    def _wake(self) -> None:
        try:
            self.screen.power_on()
        except ScreenError as exc:
            log.warning("could not wake the screen: %s", exc)

    def _run(self, clip: Clip, stop_event, witness: Witness, stats: dict) -> bool:
        """Load the clip and follow it to its end; True when mpv had to be restarted."""
        mpv, mono = self.mpv, self.monotonic
        stopped = stop_event.is_set if stop_event is not None else (lambda: False)
        decoder = self.board.decoder(clip.info.codec)
        hwdec = decoder.hwdec if decoder and self.settings.effective_output == "drm" else "no"
        try:
            mpv.request("set_property", "hwdec", hwdec)
            if witness.rate != 1.0 or self._speed_set != 1.0:
                # simulated time: the clip at the clock's speed; resampled, not time-stretched
                mpv.request("set_property", "audio-pitch-correction", witness.rate == 1.0)
                mpv.request("set_property", "speed", witness.rate)
                self._speed_set = witness.rate
            entry = self._loadfile(clip.path, "replace", clip.mpv_options())
            if self.still is not None:
                self._loadfile(self.still, "append")
        except MpvGone as exc:
            witness.ended(mono(), "mpv-exited", f"{mpv.exit_description()} ({exc})")
            return self._restart(f"mpv ended while loading {clip.path.name}")
        except ScreenError as exc:
            witness.ended(mono(), "mpv-hung", str(exc))
            return self._restart(f"mpv did not take {clip.path.name}: {exc}")
        ours = entry.get("playlist_entry_id") if isinstance(entry, dict) else None
        # Events still queued from the still or filler shown before (its positions, its first
        # frame) are not this play's: ours begins with mpv's start-file for our entry. An mpv that
        # does not name entries (before 0.33) is taken at its word from the load on.
        begun = [ours is None]
        witness.loaded(mono())
        deadline = mono() + clip.seconds / witness.rate * LOAD_TIMEOUT_FACTOR + LOAD_GRACE_S
        heard = mono()
        question: tuple[int, float] | None = None       # (request id, sent at) of the heartbeat due
        while witness.ended_at is None:
            now = mono()
            if stopped():
                witness.ended(now, "stopped", "cut by the agent (another play, a command, or shutdown)")
                self._cut()
                break
            if not mpv.alive():
                witness.ended(now, "mpv-exited", mpv.exit_description())
                return self._restart(f"mpv {mpv.exit_description()} while playing {clip.path.name}")
            waited = now - (question[1] if question else heard)
            if question is not None and waited > self.hang_seconds:
                witness.ended(now, "mpv-hung", f"no answer from mpv for {waited:.1f} s")
                return self._restart(f"mpv hung while playing {clip.path.name} (silent {waited:.1f} s)")
            if now > deadline:
                late = clip.seconds / witness.rate + LOAD_GRACE_S
                witness.ended(now, "stuck", f"still not at its end {late:.0f} s after the start")
                self._cut()
                break
            try:
                if question is None and now - heard >= HEARTBEAT_S:
                    question = (mpv.send("get_property", "pid"), now)
                messages = mpv.receive(POLL_S)
            except MpvGone as exc:
                witness.ended(mono(), "mpv-exited", f"{mpv.exit_description()} ({exc})")
                return self._restart(f"mpv's socket closed while playing {clip.path.name}")
            except MpvTimeout as exc:
                witness.ended(mono(), "mpv-hung", str(exc))
                return self._restart(f"mpv stopped taking commands while playing {clip.path.name}")
            t = mono()
            for message in messages:
                heard = t
                if question is not None and message.get("request_id") == question[0]:
                    question = None
                self._follow(message, ours, witness, stats, t, begun)
            if self.on_frame is not None:
                self.on_frame(int(witness.played_seconds * clip.info.fps))
        return False

    def _follow(self, message: dict, ours, witness: Witness, stats: dict, t: float, begun: list[bool]) -> None:
        event = message.get("event")
        entry = message.get("playlist_entry_id")
        if event == "start-file" and entry == ours:
            begun[0] = True
        if not begun[0]:
            return
        if event == "property-change":
            name = message.get("name")
            if name == "playback-time":
                witness.position(t, message.get("data"))
            elif name in stats and message.get("data") is not None:
                stats[name] = message["data"]
        elif event == "playback-restart":
            witness.first_frame(t)
        elif event == "file-loaded":
            witness.loaded(t)
        elif event == "end-file" and (ours is None or entry == ours):
            reason = message.get("reason") or "unknown"
            witness.ended(t, reason, message.get("file_error"))

    def _cut(self) -> None:
        """End the clip now: back to the still (or black)."""
        try:
            if self.still is not None:
                self._loadfile(self.still, "replace")
            else:
                self.mpv.request("stop")
        except ScreenError as exc:
            self._restart(f"mpv did not stop the clip: {exc}")


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=max(0.0, value))


def _version(text: str) -> tuple[int, int]:
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


__all__ = ["HdmiPlayResult", "HdmiPlayer"]
