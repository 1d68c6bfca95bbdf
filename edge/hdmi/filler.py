"""The TV's picture between plays: the unit's name, the time and date, and the iHanoi QR code, 1920x1080.

    image = render_filler("UBND phường Bạch Mai", now)        # a PIL image; now in the unit's zone
    write_filler(path, "UBND phường Bạch Mai", now)           # PNG, written to a temporary name then renamed

The text is set in a font from a Debian package that has every Vietnamese letter and tone
mark: Noto Sans (``fonts-noto-core``) when installed, else DejaVu Sans (``fonts-dejavu-core``,
on every Raspberry Pi OS image); ``IHANOI_FILLER_FONT`` names another file. A character the
font lacks is an error naming it (read from the font's character map with freetype-py), never
an empty box on a lobby TV. The QR code is drawn module-exact (segno), dark on white with its
quiet zone, large enough to scan from across a lobby.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from ihanoi.contract.errors import FontError

WIDTH, HEIGHT = 1920, 1080
QR_DATA = "https://ihanoi.hanoi.gov.vn"
QR_BORDER = 4                     # modules of quiet zone, as the QR standard asks
CAPTION = "Quét mã QR để tải iHanoi"
TITLE = "iHanoi — Công dân Thủ đô số"
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
RED, YELLOW, WHITE, INK = (183, 28, 28), (255, 210, 0), (255, 255, 255), (20, 20, 20)


@dataclass(frozen=True)
class FillerFont:
    name: str
    package: str
    regular: Path
    bold: Path


# In order of preference; the first whose files exist is used.
FONTS = (
    FillerFont("Noto Sans", "fonts-noto-core", Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"),
               Path("/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf")),
    FillerFont("DejaVu Sans", "fonts-dejavu-core", Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
               Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")),
)


def filler_font() -> FillerFont:
    env = os.environ.get("IHANOI_FILLER_FONT")
    if env:
        path = Path(env)
        if not path.is_file():
            raise FontError(f"IHANOI_FILLER_FONT={env}: no such font file")
        return FillerFont(path.stem, "(IHANOI_FILLER_FONT)", path, path)
    for font in FONTS:
        if font.regular.is_file() and font.bold.is_file():
            return font
    raise FontError("no font for the TV filler: install one with every Vietnamese letter "
                    "(apt-get install fonts-noto-core, or fonts-dejavu-core)")


@lru_cache(maxsize=8)
def _charmap(path: Path) -> frozenset[int]:
    import freetype

    face = freetype.Face(str(path))
    return frozenset(code for code, index in face.get_chars() if index)


def missing(path: Path, text: str) -> list[str]:
    """Characters of ``text`` the font file has no glyph for (white space aside)."""
    have = _charmap(Path(path))
    seen: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if not ch.isspace() and ord(ch) not in have and ch not in seen:
            seen.append(ch)
    return seen


def _check(path: Path, font: FillerFont, text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    lacking = missing(path, text)
    if lacking:
        names = ", ".join(f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')})" for ch in lacking)
        raise FontError(f"font {font.name} ({path}) has no glyph for {names}")
    return text


@lru_cache(maxsize=32)
def _face(path: Path, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(path), size)


def _fit(draw, text: str, path: Path, size: int, width: int):
    """The largest face up to ``size`` in which ``text`` fits ``width`` pixels (down to half size)."""
    for s in range(size, max(12, size // 2) - 1, -4):
        face = _face(path, s)
        if draw.textlength(text, font=face) <= width:
            return face
    return _face(path, max(12, size // 2))


def _wrap(draw, text: str, face, width: int) -> list[str]:
    words, out, line = text.split(), [], ""
    for word in words:
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=face) <= width or not line:
            line = trial
        else:
            out.append(line)
            line = word
    return out + [line]


def _name_lines(draw, name: str, path: Path, size: int, width: int, lines: int = 2):
    """The unit's name in at most ``lines`` lines, in the largest face (down to 60 %) where it fits."""
    for s in range(size, int(size * 0.6) - 1, -4):
        face = _face(path, s)
        wrapped = _wrap(draw, name, face, width)
        if len(wrapped) <= lines and all(draw.textlength(line, font=face) <= width for line in wrapped):
            return face, wrapped
    face = _face(path, int(size * 0.6))
    wrapped = _wrap(draw, name, face, width)[:lines]
    while draw.textlength(wrapped[-1] + "…", font=face) > width and " " in wrapped[-1]:
        wrapped[-1] = wrapped[-1].rsplit(" ", 1)[0]
    wrapped[-1] += "…"
    return face, wrapped


def render_filler(unit_name: str, now: datetime | None, qr_data: str = QR_DATA, font: FillerFont | None = None,
                  size: tuple[int, int] = (WIDTH, HEIGHT)):
    """The filler still for ``unit_name`` at ``now`` (local time; None: the clock is not set, no time shown)."""
    import numpy as np
    import segno
    from PIL import Image, ImageDraw

    font = font or filler_font()
    width, height = size
    k = height / HEIGHT                         # everything is laid out for 1080 lines and scaled
    image = Image.new("RGB", size, RED)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(height - 120 * k), width, height], fill=YELLOW)

    # The QR code on the right, on white with its quiet zone.
    matrix = np.pad(np.array(segno.make(qr_data, error="m", micro=False).matrix, dtype=bool), QR_BORDER)
    scale = max(1, int(620 * k) // matrix.shape[0])          # whole pixels per module: nothing resampled
    side = matrix.shape[0] * scale
    pixels = np.repeat(np.repeat(matrix, scale, axis=0), scale, axis=1)
    qr_img = Image.fromarray(np.where(pixels[..., None], np.uint8(INK), np.uint8(WHITE)).astype(np.uint8))
    qx, qy = int(width - side - 110 * k), int((height - 120 * k - side) / 2) - int(30 * k)
    image.paste(qr_img, (qx, qy))
    text_w = qx - int(200 * k)
    left = int(110 * k)

    caption = _check(font.bold, font, CAPTION)
    cap_face = _fit(draw, caption, font.bold, int(44 * k), side)
    draw.text((qx + side / 2, qy + side + int(24 * k)), caption, font=cap_face, fill=WHITE, anchor="ma")

    name = _check(font.bold, font, unit_name)
    name_face, name_lines = _name_lines(draw, name, font.bold, int(84 * k), text_w)
    y = int(120 * k)
    for line in name_lines:
        draw.text((left, y), line, font=name_face, fill=WHITE)
        y += int(name_face.size * 1.24)

    if now is not None:
        clock_text = _check(font.bold, font, f"{now:%H:%M}")
        draw.text((left, int(430 * k)), clock_text, font=_face(font.bold, int(220 * k)), fill=WHITE)
        date_text = _check(font.regular, font, f"{WEEKDAYS_VI[now.weekday()]}, {now:%d/%m/%Y}")
        draw.text((left, int(700 * k)), date_text, font=_fit(draw, date_text, font.regular, int(72 * k), text_w),
                  fill=WHITE)

    title = _check(font.bold, font, TITLE)
    draw.text((width / 2, height - int(60 * k)), title, font=_fit(draw, title, font.bold, int(64 * k), width - 2 * left),
              fill=RED, anchor="mm")
    return image


def write_filler(path: Path | str, unit_name: str, now: datetime | None, **kwargs) -> Path:
    """Render and write the filler PNG atomically (mpv may be reading the previous one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    render_filler(unit_name, now, **kwargs).save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)
    return path


__all__ = ["CAPTION", "FONTS", "FillerFont", "QR_DATA", "TITLE", "WEEKDAYS_VI", "filler_font", "missing",
           "render_filler", "write_filler"]
