"""``qr``: a QR code drawn module-exact so a phone can read it off the board.

    [[items]]
    kind = "qr"
    data = "https://ihanoi.hanoi.gov.vn"
    error = "auto"        # auto | L | M | Q | H
    border = 2            # quiet zone in modules (lit, like paper around a printed code)
    scale = 0             # pixels per module; 0 = the largest whole number that fits
    dark = "#000000"
    light = "#ffffff"
    duration = 10

``auto`` picks the error level giving the biggest modules (then the strongest level at that
size): big, sharp modules matter more to a phone camera than redundancy on a clean LED
board. Every module is a whole number of LEDs; nothing is resampled. A code that does not
fit its zone at one LED per module is an error that says how many pixels it needs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import segno
from pydantic import Field

from edge.content.kinds.base import Color, Context, ItemBase
from edge.content.raster import Clip


class QrItem(ItemBase):
    kind: Literal["qr"]
    data: str = Field(min_length=1, max_length=1000)
    error: Literal["auto", "L", "M", "Q", "H"] = "auto"
    border: int = Field(2, ge=1, le=8)
    scale: int = Field(0, ge=0, le=32)
    dark: Color = (0, 0, 0)
    light: Color = (255, 255, 255)


def modules(data: str, error: str) -> np.ndarray:
    qr = segno.make(data, error=error.lower(), boost_error=False, micro=False)
    return np.array(qr.matrix, dtype=bool)


def choose(item: QrItem, room: int) -> tuple[np.ndarray, int]:
    """(module matrix, pixels per module) for a square of ``room`` pixels; scale 0 if it cannot fit."""
    best: tuple[np.ndarray, int] | None = None
    for level in (["H", "Q", "M", "L"] if item.error == "auto" else [item.error]):
        matrix = modules(item.data, level)
        side = matrix.shape[0] + 2 * item.border
        scale = room // side if item.scale == 0 else (item.scale if item.scale * side <= room else 0)
        if best is None or scale > best[1]:
            best = (matrix, scale)
    return best


def compile(item: QrItem, width: int, height: int, ctx: Context) -> Clip:
    try:
        matrix, scale = choose(item, min(width, height))
    except segno.DataOverflowError as exc:
        raise ctx.fail(f"data is too long for a QR code: {exc}") from None
    side = matrix.shape[0] + 2 * item.border
    if scale == 0:
        need = side * max(item.scale, 1)
        raise ctx.fail(f"QR code too big for its zone: {matrix.shape[0]} modules + {item.border}-module border "
                       f"need {need}x{need} pixels but the zone is {width}x{height}; shorten the data, "
                       f"lower 'error' or 'border', or give the QR a larger zone")
    padded = np.pad(matrix, item.border, constant_values=False)
    pixels = np.repeat(np.repeat(padded, scale, axis=0), scale, axis=1)
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = item.background
    size = side * scale
    top, left = (height - size) // 2, (width - size) // 2
    frame[top:top + size, left:left + size] = np.where(pixels[..., None], item.dark, item.light)
    return Clip(height, width, [item.duration or 10.0], stills=frame[None])
