"""Crisp pixel fonts for Vietnamese, from Debian's ``xfonts-base`` (the misc-fixed ISO 10646 fonts).

Each font is a PCF bitmap loaded through FreeType at its one exact pixel size, so glyphs
are drawn pixel for pixel (never a blurred scaled outline). Every font listed here covers
the whole Vietnamese alphabet (ă â đ ê ô ơ ư and U+1EA0–U+1EF9) in both cases; a character a
font lacks is reported by name at compile time instead of turning into an empty box.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ihanoi.contract.errors import FontError

FONT_DIRS = (Path("/usr/share/fonts/X11/misc"), Path("/usr/local/share/fonts/X11/misc"))


@dataclass(frozen=True)
class PixelFont:
    name: str
    file: str
    height: int  # pixel size: the cell is this tall, diacritics included


# Largest first: ``auto`` takes the first one that fits the zone's height.
FONTS = {f.name: f for f in (
    PixelFont("fixed-10x20", "10x20.pcf.gz", 20),
    PixelFont("fixed-9x18", "9x18.pcf.gz", 18),
    PixelFont("fixed-9x15-bold", "9x15B.pcf.gz", 15),
    PixelFont("fixed-9x15", "9x15.pcf.gz", 15),
    PixelFont("fixed-8x13", "8x13.pcf.gz", 13),
    PixelFont("fixed-7x13", "7x13.pcf.gz", 13),
    PixelFont("fixed-6x13", "6x13.pcf.gz", 13),
)}
AUTO_ORDER = ("fixed-10x20", "fixed-9x18", "fixed-9x15", "fixed-7x13")


def font_dirs() -> list[Path]:
    env = os.environ.get("IHANOI_FONT_DIRS")
    return ([Path(p) for p in env.split(os.pathsep)] if env else []) + list(FONT_DIRS)


def choose(name: str, zone_height: int) -> PixelFont:
    if name != "auto":
        if name not in FONTS:
            raise FontError(f"unknown font {name!r}; available: auto, {', '.join(FONTS)}")
        return FONTS[name]
    for candidate in AUTO_ORDER:
        if FONTS[candidate].height <= zone_height:
            return FONTS[candidate]
    raise FontError(f"no pixel font fits a zone {zone_height} px high; the smallest is 13 px")


def font_path(font: PixelFont) -> Path:
    for folder in font_dirs():
        path = folder / font.file
        if path.exists():
            return path
    raise FontError(f"pixel font {font.file} not found in {', '.join(map(str, font_dirs()))}: "
                    "install the misc-fixed fonts (Debian/Ubuntu/Raspberry Pi OS: apt-get install xfonts-base)")


@lru_cache(maxsize=16)
def load(font: PixelFont) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(font)), font.height)


@lru_cache(maxsize=16)
def _charmap(font: PixelFont) -> frozenset[int]:
    import freetype

    face = freetype.Face(str(font_path(font)))
    return frozenset(code for code, index in face.get_chars() if index)


def missing(font: PixelFont, text: str) -> list[str]:
    """Characters of ``text`` the font has no glyph for (spaces and line breaks aside)."""
    have = _charmap(font)
    seen: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if ch not in " \t" and ord(ch) not in have and ch not in seen:
            seen.append(ch)
    return seen


def describe(chars: list[str]) -> str:
    return ", ".join(f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')})" for ch in chars)


def render_mask(text: str, font: PixelFont) -> np.ndarray:
    """A boolean (font.height, text width) mask of ``text`` in ``font``; raises on a missing glyph."""
    text = unicodedata.normalize("NFC", text)
    lacking = missing(font, text)
    if lacking:
        raise FontError(f"font {font.name} has no glyph for {describe(lacking)}")
    face = load(font)
    width = max(1, int(np.ceil(face.getlength(text))))
    img = Image.new("L", (width, font.height), 0)
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1"  # bitmap glyphs, no anti-aliasing
    draw.text((0, 0), text, font=face, fill=255)
    return np.asarray(img) > 127
