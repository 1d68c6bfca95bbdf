"""``gif``: an animated GIF (or APNG/WebP) with each frame's own timing kept exactly.

    [[items]]
    kind = "gif"
    file = "phone.gif"
    loops = 2             # times through the animation; or set duration (seconds) to loop until it
    fit = "contain"
    resample = "auto"

Frames with no timing get 100 ms (what browsers do).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import ImageSequence
from pydantic import Field

from edge.content.kinds.base import Context, ItemBase
from edge.content.kinds.image import open_image
from edge.content.raster import Clip, Fit, Resample, fit_image

DEFAULT_FRAME_MS = 100


class GifItem(ItemBase):
    kind: Literal["gif"]
    file: str
    loops: int = Field(1, ge=1, le=1000)
    fit: Fit = "contain"
    resample: Resample = "auto"


def compile(item: GifItem, width: int, height: int, ctx: Context) -> Clip:
    img = open_image(ctx.asset(item.file), ctx)
    frames, durations = [], []
    try:
        for frame in ImageSequence.Iterator(img):
            ms = frame.info.get("duration") or DEFAULT_FRAME_MS
            frames.append(fit_image(frame.copy(), width, height, item.fit, item.resample, item.background))
            durations.append(ms / 1000.0)
    except (OSError, ValueError) as exc:
        raise ctx.fail(f"file {item.file!r} is a broken animation: {exc}") from None
    loops = item.loops
    if item.duration is not None:
        loops = max(1, round(item.duration / sum(durations)))
    # The frames are stored once; a loop repeats their indices.
    return Clip(height, width, durations * loops, stills=np.stack(frames),
                index=list(range(len(frames))) * loops)
