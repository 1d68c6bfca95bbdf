"""Content item kinds: one module each (image, gif, video, text, qr, layout), all the same shape.

Each module holds a pydantic model with ``kind = "<name>"`` and
``compile(item, width, height, ctx) -> Clip``; its docstring is the kind's documentation.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edge.content.kinds import gif, image, layout, qr, text, video
from edge.content.kinds.base import Context, ItemBase
from edge.content.raster import Clip

MODULES = {"image": image, "gif": gif, "video": video, "text": text, "qr": qr, "layout": layout}

Item = Annotated[image.ImageItem | gif.GifItem | video.VideoItem | text.TextItem | qr.QrItem | layout.LayoutItem,
                 Field(discriminator="kind")]


def compile_item(item: ItemBase, width: int, height: int, ctx: Context) -> Clip:
    clip = MODULES[item.kind].compile(item, width, height, ctx)
    ctx.report(1.0)
    return clip


__all__ = ["MODULES", "Context", "Item", "compile_item"]
