"""``video``: a short clip decoded with PyAV (FFmpeg), fitted to the zone, capped at the pack's frame rate.

    [[items]]
    kind = "video"
    file = "clip.mp4"
    duration = 8          # seconds to play from the start; default the whole clip
    fit = "cover"
    resample = "auto"

Decoding happens once, at compile time; the Pi only copies the decoded frames. Keep clips
short and small (a few seconds, well under 1 MB): every frame is stored uncompressed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from edge.content.kinds.base import Context, ItemBase
from edge.content.raster import Clip, Fit, Resample, fit_image


class VideoItem(ItemBase):
    kind: Literal["video"]
    file: str
    fit: Fit = "contain"
    resample: Resample = "auto"


def compile(item: VideoItem, width: int, height: int, ctx: Context) -> Clip:
    import av

    path = ctx.asset(item.file)
    times: list[float] = []
    frames: list[np.ndarray] = []
    step = 1.0 / ctx.fps
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ctx.fail(f"file {item.file!r} has no video stream")
            stream = container.streams.video[0]
            total = item.duration or (float(stream.duration * stream.time_base) if stream.duration else
                                      (container.duration or 0) / 1e6) or None
            rate = float(stream.average_rate or ctx.fps)
            next_t = 0.0
            for frame in container.decode(stream):
                t = float(frame.time if frame.time is not None else len(frames) / rate)
                if item.duration is not None and t >= item.duration:
                    break
                if t + 1e-6 < next_t:
                    continue  # faster than the board's frame rate: drop, don't blend
                frames.append(fit_image(frame.to_image(), width, height, item.fit, item.resample, item.background))
                times.append(t)
                next_t = t + step
                if total:
                    ctx.report(min(1.0, t / total))
    except av.FFmpegError as exc:
        raise ctx.fail(f"file {item.file!r} cannot be decoded as video: {exc}") from None
    if not frames:
        raise ctx.fail(f"file {item.file!r} has no frames")
    end = item.duration if item.duration is not None else times[-1] + max(step, 1.0 / rate)
    durations = [b - a for a, b in zip(times, times[1:] + [end])]
    durations = [max(d, 1e-3) for d in durations]
    return Clip(height, width, durations, stills=np.stack(frames))
