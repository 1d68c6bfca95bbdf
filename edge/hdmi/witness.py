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
                if step <= max(0.0, t - wall0) + self.skip_slack:
                    self.covered += new
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
