"""Proof of play's pure core: what counts as a whole play from the positions mpv reports."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.hdmi.witness import END_TOLERANCE_S, Witness


def played(clip: float, positions, end="eof", step_wall=None, detail=None) -> Witness:
    """A witness fed ``positions`` (seconds), each reported ``step_wall`` after the previous (default: real time)."""
    w = Witness(clip)
    w.loaded(0.0)
    w.first_frame(0.05)
    t, last = 0.05, None
    for pos in positions:
        if last is not None:
            t += step_wall if step_wall is not None else max(0.0, pos - last)
        w.position(t, pos)
        last = pos
    if end:
        w.ended(t + 0.04, end, detail)
    return w


def frames(seconds: float, fps: float = 25.0) -> list[float]:
    return [i / fps for i in range(int(seconds * fps))]


def test_positions_that_cover_the_clip_and_end_of_file_are_a_completed_play():
    w = played(3.0, frames(3.0))        # the last position mpv reports is the last frame, 2.96 s
    assert w.completed and w.reason is None
    assert math.isclose(w.played_seconds, 2.96, abs_tol=1e-9)


def test_end_of_file_without_the_positions_is_not_a_play():
    w = played(3.0, frames(1.5))
    assert not w.completed
    assert w.reason == "ended early (1.44 s of 3.00 s played)"


def test_a_jump_to_the_end_is_not_a_play():
    w = played(10.0, [0.0, 0.04, 0.08, 9.9, 9.96], step_wall=0.04)
    assert not w.completed
    assert w.reason.startswith("skipped 9.82 s")


def test_late_bunched_reports_lose_nothing():
    """A busy machine delivers a second of positions at once after a stall: still a whole play."""
    positions = frames(4.0)
    w = Witness(4.0)
    t = 0.0
    for i, pos in enumerate(positions):
        t += 0.9 if i % 25 == 0 else 0.001     # one stall per second of clip, then a burst
        w.position(t, pos)
    w.ended(t, "eof")
    assert w.completed


def test_the_reason_names_what_mpv_said():
    w = played(3.0, frames(1.0), end="error", detail="loading failed")
    assert w.reason == "error: loading failed (0.96 s of 3.00 s played)"
    assert played(3.0, frames(1.0), end="stopped", detail="cut").reason.startswith("stopped: cut")
    assert played(3.0, frames(1.0), end=None).reason.startswith("unfinished")


def test_only_the_first_end_counts():
    w = played(1.0, frames(1.0))
    w.ended(9.0, "mpv-exited", "killed by SIGKILL")
    assert w.end_reason == "eof" and w.completed


def test_a_restart_from_the_top_adds_nothing():
    w = played(2.0, frames(1.0) + frames(1.0))
    assert not w.completed and w.played_seconds < 1.0


def test_first_frame_delay():
    w = Witness(1.0)
    w.first_frame(12.5)
    assert w.first_frame_delay(12.0) == 0.5 and w.first_frame_delay(None) is None


@settings(max_examples=300, deadline=None)
@given(st.floats(0.5, 120), st.lists(st.tuples(st.one_of(st.floats(0, 5), st.just(math.nan)), st.one_of(
    st.none(), st.floats(-10, 200), st.sampled_from([math.nan, math.inf, -math.inf]))), max_size=200),
    st.sampled_from(["eof", "stop", "quit", "error", "unknown", "mpv-exited"]))
def test_whatever_mpv_reports_the_verdict_is_consistent(clip, reports, end):
    w = Witness(clip)
    t = 0.0
    for dt, pos in reports:
        t += 0.0 if dt != dt else dt
        w.position(t, pos)
    w.ended(t, end)
    finite = [p for _, p in reports if p is not None and p == p and 0 <= p < math.inf]
    assert 0.0 <= w.played_seconds <= (max(finite) if finite else 0.0) + 1e-9
    assert w.completed == (w.reason is None)
    if w.completed:
        assert end == "eof" and w.played_seconds >= clip - END_TOLERANCE_S


@settings(max_examples=200, deadline=None)
@given(st.floats(1, 60), st.floats(0.001, 0.2))
def test_a_clip_played_in_real_time_to_its_end_is_always_completed(clip, step):
    n = int(clip / step)
    positions = [i * step for i in range(n + 1)] + [clip]
    assert played(clip, positions).completed
