"""The board's screen: what the agent shows the promo and the filler on, an LED board or a TV.

One small interface, two implementations, picked by the device config (``[panel]`` or
``[hdmi]``, which ``check-config`` holds to the registry's ``screen``), the way gpiozero picks
a pin factory. The run loop (``edge.agent``) and the PlayMaker (``edge.plays``) talk to it and
never ask which it is:

    screen = screen_for(config, clock=clock, unit_name=unit.name, tz=tz, profile=profile,
                        brightness=lambda: 80, is_open=is_open, ping=service.ping)
    promo = screen.load(pack_dir)          # LED: frames compiled for the panel; TV: the clip, gated
    screen.verify(bundle_pack)             # the installer's check of a new bundle (a TV decodes it whole)
    screen.use_fillers([pack_dir, ...])    # filler packs shown between plays (not reported)
    screen.player                          # what PlayMaker plays through: .play(promo, stop), .on_frame
    screen.before_play()                   # just before a promo play
    screen.between_plays(now, is_open, synced, stop)   # the filler, the TV's power; True: time went by
    screen.can_play, screen.fault          # no play when it could reach nobody; why, for state and health
    screen.snapshot()                      # PNG bytes of what is on the screen now
    screen.set_brightness(percent)         # the district's command (ScreenError where it does not apply)
    screen.figures()                       # health details
    screen.close()

``LedScreen`` (``led.py``): a HUB75 panel (``edge.panel``), ``edge.player.Player`` and the LED
``edge.filler.Filler``. ``TvScreen`` (``tv.py``): ``edge.hdmi.HdmiPlayer`` (mpv), the TV filler
still re-rendered each minute (``tv_filler.py``) and the TV's power over HDMI-CEC following
the opening hours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from edge.screen.led import LedScreen
from edge.screen.tv import TvScreen


def screen_for(config, *, clock, unit_name: str, tz, profile=None, brightness: Callable[[], int] = lambda: 100,
               is_open: Callable[[datetime], bool] = lambda t: True, ping: Callable[[], None] = lambda: None):
    """The screen the device config describes: a TV for ``[hdmi]``, else the LED board of ``[panel]``."""
    if config.hdmi is not None:
        return TvScreen(config.hdmi, clock, config.data_dir / "hdmi", unit_name, tz, is_open=is_open, ping=ping,
                        filler_every=config.content.filler_every_minutes)
    return LedScreen(config, profile, clock, unit_name, tz, brightness=brightness, ping=ping)


__all__ = ["LedScreen", "TvScreen", "screen_for"]
