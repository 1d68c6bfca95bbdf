"""The HDMI player against Debian's real mpv (vo=null, ao=null: real-time pacing, no screen needed).

A play is proven by what mpv reports (end of file after positions covering the clip);
anything else — a stop, mpv ended by SIGTERM or SIGKILL, mpv frozen by SIGSTOP, a corrupt or
truncated file — is reported ``interrupted`` with its reason, the caller is never taken
down, and a fresh mpv is showing the filler again afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import threading
import time
from datetime import datetime

import pytest
from PIL import Image

from edge.hdmi import HdmiPlayer, HdmiSettings, load_promo, write_filler
from edge.updates.bundle import file_sha256
from ihanoi.contract.clock import CAMPAIGN_TZ, RealClock
from ihanoi.contract.errors import ScreenError
from tests.hdmi_support import make_clip, make_tv_pack, needs_mpv, short_dir
from tests.polling import eventually

pytestmark = needs_mpv
CLIP_SECONDS = 3.0


@pytest.fixture(scope="module")
def folder():
    path = short_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def promo(folder):
    return load_promo(make_tv_pack(folder / "pack", seconds=CLIP_SECONDS), "pi4")


@pytest.fixture(scope="module")
def still(folder):
    return write_filler(folder / "filler.png", "UBND phường Bạch Mai",
                        datetime(2024, 9, 4, 14, 5, tzinfo=CAMPAIGN_TZ))


@pytest.fixture
def player(folder, still, request):
    run = folder / f"run-{request.node.name[:20]}"
    hang = getattr(request, "param", None) or 5.0
    p = HdmiPlayer(HdmiSettings(output="null"), RealClock(), run, hang_seconds=hang).open()
    p.show_still(still)
    yield p
    p.close()


def test_what_mpv_said_of_the_still_before_the_play_is_not_taken_for_the_clip(player, promo):
    # Between plays the filler's events wait in the queue (its position, its first frame): the
    # play begins at mpv's start-file for the clip, so they neither start it early nor, a
    # position far along, leave the clip's own positions uncounted.
    player.mpv._pending.extend([{"event": "playback-restart"},
                                {"event": "property-change", "name": "playback-time", "data": 40.0}])
    begun = time.monotonic()
    result = player.play(promo)
    assert result.completed and result.reason is None
    assert CLIP_SECONDS - 0.25 <= result.played_seconds <= CLIP_SECONDS + 0.05
    assert result.first_frame_delay is not None and 0 <= result.first_frame_delay < time.monotonic() - begun


def when_playing(player, at_position: float, action) -> threading.Thread:
    """Run ``action(mpv's pid)`` about ``at_position`` seconds into the play that starts next (mid-clip)."""

    def watch():
        threading.Event().wait(at_position + 0.3)     # the clip loads in well under 0.3 s
        action(player.mpv.pid)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_play_is_completed_with_its_measured_length(player, promo):
    result = player.play(promo)
    assert result.completed and result.reason is None and result.counted
    assert CLIP_SECONDS - 0.25 <= result.played_seconds <= CLIP_SECONDS + 0.05
    assert result.clip_seconds == pytest.approx(CLIP_SECONDS)
    assert (result.ended - result.started).total_seconds() >= CLIP_SECONDS - 0.3
    assert result.content == {"id": "ihanoi-promo", "version": "tv-test", "sha256": file_sha256(promo.path)}
    assert result.first_frame_delay is not None and result.first_frame_delay >= 0
    assert result.frames_shown >= (CLIP_SECONDS - 0.3) * promo.info.fps
    assert not result.mpv_restarted and player.restarts == 0


def test_a_play_that_only_covers_a_part_is_not_completed(player, promo):
    """A clip whose positions stop short of its length (here: told it is longer than it is)."""
    longer = dataclasses.replace(promo, seconds=CLIP_SECONDS + 2.0)
    result = player.play(longer)
    assert not result.completed
    assert result.reason.startswith("ended early")
    assert result.played_seconds < CLIP_SECONDS + 0.1


def test_a_stop_event_cuts_the_play(player, promo):
    stop = threading.Event()
    when_playing(player, 1.0, lambda _pid: stop.set())
    result = player.play(promo, stop)
    assert not result.completed
    assert result.reason.startswith("stopped")
    assert 0 < result.played_seconds < CLIP_SECONDS - 0.25
    assert player.mpv.alive() and player.restarts == 0
    assert player.play(promo).completed            # the next play is whole again


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_mpv_ended_mid_play_is_interrupted_and_replaced(player, promo, sig):
    first = player.mpv.pid
    when_playing(player, 1.0, lambda pid: os.kill(pid, sig))
    result = player.play(promo)
    assert not result.completed
    assert result.reason.split(":")[0] in ("quit", "mpv-exited"), result.reason
    assert result.mpv_restarted and player.restarts == 1
    assert player.mpv.alive() and player.mpv.pid != first
    assert player.play(promo).completed


@pytest.mark.parametrize("player", [2.0], indirect=True)
def test_a_frozen_mpv_is_called_hung_killed_and_replaced(player, promo):
    frozen = player.mpv.pid
    when_playing(player, 1.0, lambda pid: os.kill(pid, signal.SIGSTOP))
    result = player.play(promo)
    assert not result.completed
    assert result.reason.startswith("mpv-hung"), result.reason
    assert result.mpv_restarted and player.mpv.pid != frozen
    assert eventually(lambda: not os.path.exists(f"/proc/{frozen}") or _zombie(frozen), 5)
    assert player.play(promo).completed


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_a_corrupt_file_that_reaches_the_player_is_reported_not_raised(player, promo, folder):
    garbage = folder / "garbage.mp4"
    garbage.write_bytes(os.urandom(50_000))
    clip = dataclasses.replace(promo, path=garbage, sha256=file_sha256(garbage), stat=None)
    result = player.play(clip)
    assert not result.completed
    assert result.reason.startswith("error"), result.reason
    assert result.played_seconds == 0
    assert player.mpv.alive() and player.play(promo).completed


def test_a_truncated_file_that_reaches_the_player_ends_early(player, promo, folder):
    cut = folder / "cut.mp4"
    data = promo.path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    clip = dataclasses.replace(promo, path=cut, sha256=file_sha256(cut), stat=None)
    result = player.play(clip)
    assert not result.completed
    assert result.reason.startswith(("ended early", "error")), result.reason
    assert result.played_seconds < CLIP_SECONDS - 0.5


def test_a_file_changed_after_loading_is_not_played_under_the_old_identity(player, folder):
    pack = make_tv_pack(folder / "changing", seconds=1.0)
    clip = load_promo(pack, "pi4")
    make_clip(pack / "promo.mp4", seconds=1.0, width=160, height=90)
    result = player.play(clip)
    assert not result.completed and result.reason.startswith("file-changed"), result.reason


def test_the_still_is_on_screen_between_plays_and_in_the_snapshot(player, promo):
    assert player.play(promo).completed
    assert eventually(lambda: Image.open(_png(player.snapshot())).size == (1920, 1080), 5)
    picture = Image.open(_png(player.snapshot())).convert("RGB")
    assert picture.getpixel((40, 40)) == (183, 28, 28)          # the filler's red, not the clip's blue


def _png(data: bytes):
    import io

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return io.BytesIO(data)


def test_mpv_missing_is_a_clear_error(folder):
    player = HdmiPlayer(HdmiSettings(output="null", mpv="/nonexistent/mpv"), RealClock(), folder / "nompv")
    with pytest.raises(ScreenError, match="apt-get install -y mpv"):
        player.open()


def test_a_player_whose_mpv_cannot_start_reports_plays_as_interrupted(folder, promo):
    player = HdmiPlayer(HdmiSettings(output="null"), RealClock(), folder / "gone").open()
    player.settings = player.settings.model_copy(update={"mpv": "/nonexistent/mpv"})
    player.mpv.kill()
    result = player.play(promo)
    assert not result.completed and result.reason.startswith("mpv-unavailable")
    assert "apt-get install -y mpv" in result.reason
