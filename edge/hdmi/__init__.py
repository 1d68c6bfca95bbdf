"""LCD and TV screens over HDMI: the promo clip through mpv, the TV's power over HDMI-CEC.

    from edge.hdmi import HdmiPlayer, HdmiSettings, load_promo, open_screen, write_filler

    settings = HdmiSettings(board="pi5", output="drm", volume=70)
    screen = open_screen(settings.cec)                  # cec-ctl, or NoCec for a screen without CEC
    player = HdmiPlayer(settings, clock, data_dir, screen=screen).open()
    promo = load_promo(pack_dir, settings.board)        # refuses a clip this board cannot play
    player.show_still(write_filler(data_dir / "filler.png", unit.name, local_now))
    result = player.play(promo, stop_event)             # like edge.player.Player.play
    result.completed, result.reason, result.screen.counts, result.counted

Parts: ``boards`` (what each Pi decodes, one table), ``probe`` (PyAV facts of a clip),
``pack`` (TV packs: the promo clip, filler entries), ``settings`` (the ``[hdmi]`` config and
mpv's command line), ``mpv`` (the process and its JSON IPC), ``witness`` (proof of play:
the pure core), ``player``, ``cec`` (cec-ctl), ``filler`` (the still between plays).
See docs/hdmi.md.
"""

from edge.hdmi.boards import BOARDS, Board, board, problems_on
from edge.hdmi.cec import CecScreen, NoCec, ScreenStatus, desired_power, open_screen
from edge.hdmi.filler import render_filler, write_filler
from edge.hdmi.pack import Clip, Still, check_clip, load_filler, load_promo
from edge.hdmi.player import HdmiPlayer, HdmiPlayResult
from edge.hdmi.probe import ClipInfo, probe
from edge.hdmi.settings import CecSettings, HdmiSettings, mpv_arguments
from edge.hdmi.witness import Witness

__all__ = [
    "BOARDS", "Board", "CecScreen", "CecSettings", "Clip", "ClipInfo", "HdmiPlayResult", "HdmiPlayer",
    "HdmiSettings", "NoCec", "ScreenStatus", "Still", "Witness", "board", "check_clip", "desired_power",
    "load_filler", "load_promo", "mpv_arguments", "open_screen", "probe", "problems_on", "render_filler",
    "write_filler",
]
