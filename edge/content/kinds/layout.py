"""``layout``: the board split into zones side by side (``row``) or stacked (``column``), each playing an item.

    [[items]]
    kind = "layout"
    direction = "row"     # row: zones left to right | column: top to bottom
    duration = 20         # default: the longest zone's own length
    [[items.zones]]
    size = "square"       # square (as wide as the board is high) | "50%" | 40 (pixels) | "rest"
    item = { kind = "qr", data = "https://ihanoi.hanoi.gov.vn" }
    [[items.zones]]
    size = "rest"
    item = { kind = "text", text = "Tải ứng dụng iHanoi!", speed = 24 }

Zones loop until the layout ends. A ``rest`` zone left with no room (a square zone on a
square board) is left out. Frames are composed once at compile time on a common
tick (the shortest frame time of any zone) and runs of identical frames are merged, so a
still QR beside scrolling text stores one frame per text step and nothing more.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.content.kinds.base import Context, ItemBase
from edge.content.kinds.gif import GifItem
from edge.content.kinds.image import ImageItem
from edge.content.kinds.qr import QrItem
from edge.content.kinds.text import TextItem
from edge.content.kinds.video import VideoItem
from edge.content.raster import Clip

ZoneItem = Annotated[ImageItem | GifItem | VideoItem | TextItem | QrItem, Field(discriminator="kind")]
MIN_TICK = 1 / 120


class Zone(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int | str = "rest"
    item: ZoneItem

    @field_validator("size")
    @classmethod
    def _size(cls, value):
        if isinstance(value, int):
            if value < 1:
                raise ValueError("a zone size in pixels must be at least 1")
        elif value not in ("square", "rest") and not re.fullmatch(r"\d{1,3}(\.\d+)?%", value):
            raise ValueError("use 'square', 'rest', a percentage like '40%', or a number of pixels")
        return value


class LayoutItem(ItemBase):
    kind: Literal["layout"]
    direction: Literal["row", "column"] = "row"
    zones: list[Zone] = Field(min_length=1, max_length=8)


def split(sizes: list[int | str], length: int, cross: int) -> list[int]:
    """Pixel lengths of the zones along the layout's direction; ``None`` where it does not add up."""
    fixed = []
    for size in sizes:
        if size == "square":
            fixed.append(cross)
        elif size == "rest":
            fixed.append(None)
        elif isinstance(size, str):
            fixed.append(int(length * float(size[:-1]) / 100))
        else:
            fixed.append(size)
    rest = [i for i, v in enumerate(fixed) if v is None]
    left = length - sum(v for v in fixed if v is not None)
    for n, i in enumerate(rest):
        fixed[i] = left // len(rest) + (1 if n < left % len(rest) else 0)
    return fixed


def compile(item: LayoutItem, width: int, height: int, ctx: Context) -> Clip:
    from edge.content.kinds import compile_item

    row = item.direction == "row"
    length, cross = (width, height) if row else (height, width)
    lengths = split([z.size for z in item.zones], length, cross)
    rest_only = [z.size == "rest" for z in item.zones]
    if sum(lengths) != length or any(n < 1 for n, rest in zip(lengths, rest_only) if not rest) or not any(lengths):
        raise ctx.fail(f"zones take {sum(lengths)} of {length} pixels ({lengths}); make them add up, "
                       f"e.g. give one zone size = \"rest\"")
    clips, boxes, pos = [], [], 0
    for n, (zone, size) in enumerate(zip(item.zones, lengths)):
        if size < 1:
            continue  # a "rest" zone with no room left (a square zone on a square board)
        zw, zh = (size, height) if row else (width, size)
        sub = Context(ctx.manifest, f"{ctx.label}.zones[{n}] ({zone.item.kind})", ctx.fps, ctx.progress)
        clips.append(compile_item(zone.item, zw, zh, sub))
        boxes.append((0, pos) if row else (pos, 0))
        pos += size
    total = item.duration or max(c.total for c in clips)
    moving = [c for c in clips if len(c) > 1]
    tick = max(MIN_TICK, min(min(c.durations) for c in moving)) if moving else total
    ticks = max(1, round(total / tick))
    keys = [tuple(c.index_at(k * tick) for c in clips) for k in range(ticks)]
    runs: list[tuple[tuple[int, ...], int]] = []
    for key in keys:
        if runs and runs[-1][0] == key:
            runs[-1] = (key, runs[-1][1] + 1)
        else:
            runs.append((key, 1))
    stills = np.empty((len(runs), height, width, 3), np.uint8)
    for r, (key, _) in enumerate(runs):
        for clip, (top, left), i in zip(clips, boxes, key):
            stills[r, top:top + clip.height, left:left + clip.width] = clip.frame(i)
        ctx.report((r + 1) / len(runs))
    durations = [count * tick for _, count in runs]
    durations[-1] = max(tick / 2, durations[-1] + total - ticks * tick)  # end exactly at ``total``
    return Clip(height, width, durations, stills=stills)
