"""``text``: one line of (Vietnamese) text in a crisp pixel font, scrolling or still.

    [[items]]
    kind = "text"
    text = "Công dân Thủ đô số: tải ứng dụng iHanoi!"
    font = "auto"         # auto (largest that fits the zone) | fixed-10x20 | fixed-9x18 | fixed-9x15 | ...
    scale = 1             # whole-pixel enlargement (2 on a 64-pixel-high board doubles every glyph pixel)
    color = "#ffd200"
    speed = 32            # pixels per second, right to left
    scroll = "auto"       # auto (only when wider than the zone) | always | never
    align = "center"      # when still: left | center | right
    duration = 12         # default: one full pass when scrolling, 5 s when still

Scrolling text is compiled into one strip (zone width + text + zone width) and played as
views into it at increasing x offsets: one strip in the cache, not a picture per frame.
A character the font lacks is an error naming it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from edge.content import fonts
from edge.content.kinds.base import Color, Context, ItemBase
from edge.content.raster import Clip


class TextItem(ItemBase):
    kind: Literal["text"]
    text: str = Field(min_length=1)
    font: str = "auto"
    scale: int = Field(1, ge=1, le=8)
    color: Color = (255, 255, 255)
    speed: float = Field(32.0, ge=0, le=1000)
    scroll: Literal["auto", "always", "never"] = "auto"
    align: Literal["left", "center", "right"] = "center"


def glyphs(item: TextItem, height: int, ctx: Context) -> np.ndarray:
    try:
        font = fonts.choose(item.font, height // item.scale)
        if font.height * item.scale > height:
            raise fonts.FontError(f"font {font.name} at scale {item.scale} is {font.height * item.scale} px high "
                                  f"but the zone is {height} px")
        mask = fonts.render_mask(item.text, font)
    except fonts.FontError as exc:
        raise ctx.fail(str(exc)) from None
    if item.scale > 1:
        mask = mask.repeat(item.scale, axis=0).repeat(item.scale, axis=1)
    return mask


def paint(mask: np.ndarray, width: int, height: int, x: int, item: TextItem) -> np.ndarray:
    """An (height, width, 3) picture with ``mask`` placed at column ``x``, centred vertically."""
    out = np.empty((height, width, 3), np.uint8)
    out[:] = item.background
    top = (height - mask.shape[0]) // 2
    x0, x1 = max(0, x), min(width, x + mask.shape[1])
    if x1 > x0:
        region = out[top:top + mask.shape[0], x0:x1]
        region[mask[:, x0 - x:x1 - x]] = item.color
    return out


def compile(item: TextItem, width: int, height: int, ctx: Context) -> Clip:
    mask = glyphs(item, height, ctx)
    text_w = mask.shape[1]
    scrolls = item.scroll == "always" or (item.scroll == "auto" and text_w > width)
    if not scrolls or item.speed == 0:
        x = {"left": 0, "center": (width - text_w) // 2, "right": width - text_w}[item.align]
        return Clip(height, width, [item.duration or 5.0], stills=paint(mask, width, height, x, item)[None])
    strip = paint(mask, width + text_w + width, height, width, item)
    # Whole-pixel steps near the board's frame rate; the frame time makes the speed exact.
    step = max(1, round(item.speed / ctx.fps))
    frame_time = step / item.speed
    one_pass = list(range(0, text_w + width + 1, step))
    count = len(one_pass) if item.duration is None else max(1, round(item.duration / frame_time))
    index = [one_pass[i % len(one_pass)] for i in range(count)]
    return Clip(height, width, [frame_time] * count, strip=strip, index=index)
