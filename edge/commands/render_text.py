"""Render one line of text at the board's native pixels in the pixel font the compiler would use.

    ihanoi-edge render-text "Công dân Thủ đô số" --panel p4-128x32 --out line.png

The PNG is the board's height and at least its width (wider when the text would scroll);
``--leds`` draws it as LEDs instead. A character the font lacks is an error naming it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from edge.content.kinds.base import Context
from edge.content.kinds.text import TextItem, glyphs, paint
from edge.content.preview import as_leds
from edge.panel.profile import load_profile
from ihanoi.contract.errors import PackError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--panel", required=True, metavar="PROFILE", help="panel profile name or .toml path")
    p.add_argument("--out", required=True, type=Path, metavar="FILE.png")
    p.add_argument("--font", default="auto", help="auto, fixed-10x20, fixed-9x18, fixed-9x15, fixed-7x13, ...")
    p.add_argument("--color", default="#ffffff")
    p.add_argument("--background", default="#000000")
    p.add_argument("--leds", action="store_true", help="draw the pixels as round LEDs (6 px apart)")


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.panel)
    try:
        item = TextItem(kind="text", text=args.text, font=args.font, color=args.color, background=args.background)
    except ValueError as exc:
        raise PackError("render-text", "options", str(exc)) from None
    mask = glyphs(item, profile.height, Context(Path("render-text"), "TEXT", profile.fps))
    width = max(profile.width, mask.shape[1])
    x = (width - mask.shape[1]) // 2
    frame = paint(mask, width, profile.height, x, item)
    Image.fromarray(as_leds(frame) if args.leds else frame).save(args.out)
    fits = "fits the board" if mask.shape[1] <= profile.width else \
        f"is {mask.shape[1] - profile.width} px wider than the board: it will scroll"
    print(f"wrote {args.out}: {mask.shape[1]}x{mask.shape[0]} px of text on a {profile.width}x{profile.height} "
          f"board ({fits})")
    return 0
