"""``image``: a still picture (PNG, JPEG, ...) fitted to the zone; one frame held for ``duration``.

    [[items]]
    kind = "image"
    file = "title.png"
    duration = 4          # seconds, default 5
    fit = "contain"       # contain | cover | stretch | center
    resample = "auto"     # auto (nearest for integer factors: crisp text) | nearest | box | lanczos
"""

from __future__ import annotations

from typing import Literal

from PIL import Image, UnidentifiedImageError

from edge.content.kinds.base import Context, ItemBase
from edge.content.raster import Clip, Fit, Resample, fit_image


class ImageItem(ItemBase):
    kind: Literal["image"]
    file: str
    fit: Fit = "contain"
    resample: Resample = "auto"


def open_image(path, ctx: Context) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ctx.fail(f"file {path.name!r} is not a readable image ({exc.__class__.__name__}: {exc})") from None


def compile(item: ImageItem, width: int, height: int, ctx: Context) -> Clip:
    img = open_image(ctx.asset(item.file), ctx)
    frame = fit_image(img, width, height, item.fit, item.resample, item.background)
    return Clip(height, width, [item.duration or 5.0], stills=frame[None])
