"""Draw the iHanoi promo pack's small pixel-art assets (title.png, phone.gif); run after editing it.

    python edge/packs/make_promo_assets.py

The assets are drawn at the 128x32 board's native pixels with the same pixel font the
compiler uses, so they stay sharp (integer scaling only) on every board.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from edge.content import fonts

HERE = Path(__file__).resolve().parent / "ihanoi-promo"
RED, YELLOW, WHITE, BLUE = (218, 37, 29), (255, 210, 0), (255, 255, 255), (0, 120, 215)


def stamp(canvas: np.ndarray, text: str, font: str, x: int, y: int, color) -> int:
    mask = fonts.render_mask(text, fonts.FONTS[font])
    h, w = mask.shape
    canvas[y:y + h, x:x + w][mask] = color
    return w


def star(canvas: np.ndarray, cx: int, cy: int, r: float, color) -> None:
    yy, xx = np.mgrid[0:canvas.shape[0], 0:canvas.shape[1]]
    angle = np.arctan2(yy - cy, xx - cx) + np.pi / 2
    dist = np.hypot(yy - cy, xx - cx)
    # a five-pointed star: the radius swings between r and r * 0.4 five times round
    edge = r * (0.4 + 0.6 * np.abs(np.cos(2.5 * angle)) ** 3)
    canvas[dist <= edge] = color


def title() -> Image.Image:
    canvas = np.zeros((32, 128, 3), np.uint8)
    canvas[:] = RED
    star(canvas, 15, 16, 12, YELLOW)
    width = len("iHanoi") * 10
    stamp(canvas, "iHanoi", "fixed-10x20", 32 + (96 - width) // 2, 0, WHITE)
    sub = "Thủ đô số"
    stamp(canvas, sub, "fixed-6x13", 32 + (96 - 6 * len(sub)) // 2, 19, YELLOW)
    return Image.fromarray(canvas)


def phone() -> list[tuple[Image.Image, int]]:
    frames = []
    for step in range(6):
        canvas = np.zeros((32, 32, 3), np.uint8)
        canvas[3:29, 9:23] = WHITE          # the phone's body
        canvas[5:25, 10:22] = BLUE          # its screen
        canvas[26:28, 15:17] = 0            # the home button
        top = 7 + step * 2                  # a download arrow sliding down the screen
        canvas[top:top + 6, 15:17] = YELLOW
        canvas[top + 4, 13:19] = YELLOW
        canvas[top + 5, 14:18] = YELLOW
        frames.append((Image.fromarray(canvas), 400 if step == 5 else 120))
    return frames


def main() -> None:
    title().save(HERE / "title.png", optimize=True)
    frames = phone()
    first, *rest = [f.convert("P", palette=Image.Palette.ADAPTIVE, colors=8) for f, _ in frames]
    first.save(HERE / "phone.gif", save_all=True, append_images=rest, loop=0,
               duration=[ms for _, ms in frames], optimize=False, disposal=1)


if __name__ == "__main__":
    main()
