"""Compile a content pack for a panel profile and write an animated GIF and a contact sheet (PNG).

    ihanoi-edge preview edge/packs/ihanoi-promo --panel p4-128x32 --out promo.gif
    ihanoi-edge preview ihanoi-promo --panel p4-128x64 --out promo.gif --sheet promo-leds.png

PACK is a pack folder (with pack.toml) or the name of a pack shipped with the agent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.content import builtin_pack, compile_pack, default_cache_dir
from edge.content.preview import contact_sheet, write_gif
from edge.panel.profile import load_profile


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pack", metavar="PACK", help="pack folder, pack.toml, or a shipped pack's name (ihanoi-promo)")
    p.add_argument("--panel", required=True, metavar="PROFILE", help="panel profile name or .toml path")
    p.add_argument("--out", required=True, type=Path, metavar="FILE.gif", help="animated GIF to write")
    p.add_argument("--sheet", type=Path, metavar="FILE.png",
                   help="contact sheet of the board as LEDs (default: next to --out, '-leds.png')")
    p.add_argument("--scale", type=int, default=4, help="GIF pixels per LED (default 4)")
    p.add_argument("--cache", type=Path, default=None, help=f"frame cache folder (default {default_cache_dir()})")
    p.add_argument("--force", action="store_true", help="recompile even if the cache is current")


def resolve_pack(ref: str) -> Path:
    path = Path(ref)
    if path.exists() or "/" in ref or ref.endswith(".toml"):
        return path
    return builtin_pack(ref)


class ProgressLine:
    """One line on stderr per item, rewritten as the item's compile advances."""

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.label = None
        self.shown = -1

    def __call__(self, label: str, fraction: float) -> None:
        percent = int(fraction * 100) // 10 * 10
        if label != self.label:
            if self.label is not None:
                self.stream.write("\n")
            self.label, self.shown = label, -1
        if percent != self.shown:
            self.shown = percent
            self.stream.write(f"\rcompiling {label}: {percent}%")
            self.stream.flush()

    def done(self) -> None:
        if self.label is not None:
            self.stream.write("\n")


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.panel)
    progress = ProgressLine()
    compiled = compile_pack(resolve_pack(args.pack), profile, args.cache or default_cache_dir(),
                            progress=progress, force=args.force)
    progress.done()
    frames = write_gif(compiled, args.out, scale=args.scale)
    sheet = args.sheet or args.out.with_name(args.out.stem + "-leds.png")
    contact_sheet(compiled, sheet)
    print(f"{compiled.id} {compiled.version} (sha256 {compiled.sha256[:12]}) on {profile.name} "
          f"{compiled.width}x{compiled.height}: {len(compiled)} frames, {compiled.total_duration:.1f} s, "
          f"cache {compiled.cache_bytes / 1e6:.1f} MB in {compiled.path}")
    for span in compiled.items:
        print(f"  {span.label}: {span.count} frames, {span.seconds:.1f} s")
    print(f"wrote {args.out} ({frames} frames) and {sheet}")
    return 0
