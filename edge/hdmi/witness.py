"""Proof of play from what mpv itself reports: the pure core that decides ``completed`` or not.

The player feeds it what it sees, stamped with the clock's monotonic time: the clip was
loaded, its first frame is up (mpv's ``playback-restart``), a position (mpv's
``playback-time``), the end (mpv's ``end-file`` with its reason), or that mpv died or hung.
A play is ``completed`` only when mpv reports the end of the file (``eof``) **and** the
positions it reported cover the clip's length, within ``end_tolerance`` (the last position
mpv reports is that of the last frame or audio block, a little before the end).

Coverage is measured, not assumed: each forward step of the position counts only when it
is no larger than the time that passed since the previous one plus ``skip_slack``; a
larger jump (a seek, a corrupt stretch skipped) counts nothing, so a clip that reached its
end by skipping is not a play. Steps backwards count nothing, and a stretch played twice
(a restart from the top) counts once. Late or bunched-up reports (a busy machine) lose nothing: a burst of small steps
each stays under its own limit, and the slack covers the step that follows a stall.

``rate`` is the speed mpv was told to play at (1 on a real clock; the agent's simulated clock's
speed under ``--speed``, see docs/hdmi.md): a step may then be ``rate`` times the time that
passed, and no more (one step's slack grows with ``rate`` too: mpv coalesces its position
notifications, so at 100x one report may come 2 clip seconds after the last one read in the
same batch). The same bound holds for the whole play, with the plain slack: what counts never exceeds
``rate`` times the time since the clip was loaded plus the slack, so many small steps, each within
its own limit, cannot add up to a clip played faster than it was asked to (that is ``skipped``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

END_TOLERANCE_S = 0.25
SKIP_SLACK_S = 1.0


@dataclass
class Witness:
    clip_seconds: float
    end_tolerance: float = END_TOLERANCE_S
    skip_slack: float = SKIP_SLACK_S
    rate: float = 1.0                   # clip seconds per wall second mpv was asked to play
    loaded_at: float | None = None
    first_frame_at: float | None = None
    ended_at: float | None = None
    covered: float = 0.0
    furthest: float = 0.0
    skipped: float = 0.0
    end_reason: str | None = None       # mpv's end-file reason, or what the player saw
    end_detail: str | None = None       # mpv's file_error, or the exit/hang description
    _last: tuple[float, float] | None = field(default=None, repr=False)   # (wall, position)

    # --- what the player saw ------------------------------------------------------------------
    def loaded(self, t: float) -> None:
        if self.loaded_at is None:
            self.loaded_at = t

    def first_frame(self, t: float) -> None:
        if self.first_frame_at is None:
            self.first_frame_at = t

    def position(self, t: float, seconds: float | None) -> None:
        """mpv's ``playback-time`` at wall time ``t`` (None: mpv has no position, e.g. between files)."""
        if self.ended_at is not None or seconds is None or seconds != seconds or seconds < 0:
            return
        if self.first_frame_at is None:
            self.first_frame_at = t
        if self._last is not None:
            wall0, pos0 = self._last
            step = seconds - pos0
            new = seconds - max(pos0, self.furthest)      # only stretches not covered before count
            if step > 0 and new > 0:
                # mpv coalesces its notifications: at ``rate`` times real speed one step may span
                # ``rate`` times as much clip as at 1x, so the slack for one step grows with it
                if step <= max(0.0, t - wall0) * self.rate + self.skip_slack * max(1.0, self.rate):
                    # and never more in all than the time since the clip was loaded allows: small steps
                    # each under the slack must not add up to a clip played faster than asked. (From the
                    # load, not the first frame we heard of: the first reports may arrive bunched, late.)
                    since = self.loaded_at if self.loaded_at is not None else self.first_frame_at
                    budget = (t - since) * self.rate + self.skip_slack - self.covered
                    counted = min(new, max(0.0, budget))
                    self.covered += counted
                    self.skipped += new - counted
                else:
                    self.skipped += new
        self.furthest = max(self.furthest, seconds)
        self._last = (t, seconds)

    def ended(self, t: float, reason: str, detail: str | None = None) -> None:
        """The clip's end: mpv's end-file reason (eof, stop, quit, error, ...) or the player's own
        (``stopped``, ``mpv-exited``, ``mpv-hung``, ``ipc-failed``)."""
        if self.ended_at is None:
            self.ended_at, self.end_reason, self.end_detail = t, reason, detail

    # --- the verdict --------------------------------------------------------------------------
    @property
    def played_seconds(self) -> float:
        return self.covered

    @property
    def completed(self) -> bool:
        return (self.end_reason == "eof" and self.covered >= self.clip_seconds - self.end_tolerance
                and self.skipped <= self.end_tolerance)

    @property
    def reason(self) -> str | None:
        """Why the play does not count as completed, in words for the log and the fleet page; None when it does."""
        if self.completed:
            return None
        have = f"{self.covered:.2f} s of {self.clip_seconds:.2f} s played"
        if self.end_reason is None:
            return f"unfinished ({have})"
        if self.end_reason == "eof":
            if self.skipped > self.end_tolerance:
                return f"skipped {self.skipped:.2f} s ({have})"
            return f"ended early ({have})"
        detail = f": {self.end_detail}" if self.end_detail else ""
        return f"{self.end_reason}{detail} ({have})"

    def first_frame_delay(self, planned: float | None) -> float | None:
        if planned is None or self.first_frame_at is None:
            return None
        return self.first_frame_at - planned


__all__ = ["END_TOLERANCE_S", "SKIP_SLACK_S", "Witness"]
