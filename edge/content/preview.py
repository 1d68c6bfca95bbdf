"""Pictures of a compiled pack for people: an animated GIF and a contact sheet that looks like LEDs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GIF_MIN_FRAME = 0.02  # browsers play anything shorter than 20 ms at 100 ms


def upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1) if scale > 1 else np.asarray(frame)


def as_leds(frame: np.ndarray, pitch: int = 6, off=(18, 18, 18)) -> np.ndarray:
    """Each pixel drawn as a round LED ``pitch`` pixels apart on a dark board."""
    yy, xx = np.mgrid[0:pitch, 0:pitch]
    c = (pitch - 1) / 2
    dot = (yy - c) ** 2 + (xx - c) ** 2 <= (pitch * 0.42) ** 2
    big = upscale(frame, pitch)
    mask = np.tile(dot, (frame.shape[0], frame.shape[1]))[..., None]
    return np.where(mask, big, np.asarray(off, np.uint8)).astype(np.uint8)


def write_gif(compiled, path: Path | str, scale: int = 4, max_fps: float = 25.0) -> int:
    """Frames at most ``max_fps`` (skipped frames' time goes to the one shown); returns frames written."""
    step = max(1.0 / max_fps, GIF_MIN_FRAME)
    images, durations = [], []
    for frame, seconds in zip(compiled.frames, compiled.durations):
        if images and durations[-1] < step:
            durations[-1] += float(seconds)  # too soon after the last frame written: skip this one
            continue
        images.append(Image.fromarray(upscale(frame, scale)))
        durations.append(float(seconds))
    # GIF counts in 10 ms steps: round the running total, not each frame, so no time is lost.
    ends = np.round(np.cumsum(durations) * 100).astype(int)
    ms = [max(20, 10 * int(c)) for c in np.diff(ends, prepend=0)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms, loop=0, optimize=False)
    return len(images)


def sample_times(compiled, count: int) -> list[float]:
    """The middle of every item, then evenly spaced times to fill ``count``."""
    ends = np.cumsum(compiled.durations)
    starts = ends - compiled.durations
    times = [float(starts[s.first] + s.seconds / 2) for s in compiled.items]
    total = compiled.total_duration
    extra = max(0, count - len(times))
    times += [total * (k + 0.5) / extra for k in range(extra)]
    return sorted(times)[:count]


def contact_sheet(compiled, path: Path | str, count: int = 12, columns: int = 3, pitch: int = 6) -> None:
    times = sample_times(compiled, count)
    tiles = [as_leds(compiled.frames[compiled.frame_at(t)], pitch) for t in times]
    th, tw = tiles[0].shape[:2]
    label_h, gap = 14, 8
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (tw + gap) + gap, rows * (th + label_h + gap) + gap), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for n, (t, tile) in enumerate(zip(times, tiles)):
        x = gap + (n % columns) * (tw + gap)
        y = gap + (n // columns) * (th + label_h + gap)
        sheet.paste(Image.fromarray(tile), (x, y))
        index = compiled.frame_at(t)
        item = next(s.label for s in compiled.items if s.first <= index < s.first + s.count)
        draw.text((x, y + th + 2), f"{t:5.1f}s  {item}", fill=(220, 220, 220), font=font)
    sheet.save(path)
