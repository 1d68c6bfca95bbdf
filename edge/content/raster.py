"""Pixels for LEDs: colours, the gamma/level table, resizing that keeps text sharp, and ``Clip``.

A ``Clip`` is what every item kind compiles to: either a stack of full frames (``stills``)
or one wide ``strip`` played through views at increasing x offsets (scrolling text), each
frame with its own duration in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image, ImageColor

RGB = tuple[int, int, int]


def parse_color(value) -> RGB:
    """``"#ffcc00"``, ``"red"`` or ``[255, 204, 0]``."""
    if isinstance(value, (list, tuple)):
        if len(value) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in value):
            raise ValueError("a colour list needs three integers 0..255, e.g. [255, 204, 0]")
        return (value[0], value[1], value[2])
    if not isinstance(value, str):
        # ValueError, not TypeError: pydantic turns only ValueError into a validation message
        raise ValueError("a colour is '#rrggbb', a CSS name like 'yellow', or [r, g, b]")  # noqa: TRY004
    try:
        rgb = ImageColor.getrgb(value)
    except ValueError:
        raise ValueError(f"unknown colour {value!r}: use '#rrggbb', a CSS name like 'yellow', or [r, g, b]") from None
    return (rgb[0], rgb[1], rgb[2])


def level_table(gamma: float = 1.0, level: int = 100) -> np.ndarray:
    """256-entry uint8 table applied once at compile time.

    rpi-rgb-led-matrix already corrects luminance (CIE 1931) on the Pi, so the default is the
    identity; ``gamma`` > 1 darkens mid-tones for panels that look washed out, ``level``
    scales the content itself (the panel's hardware brightness is separate and free).
    """
    x = np.arange(256, dtype=np.float64) / 255.0
    return np.clip(np.round(255.0 * (x ** gamma) * (level / 100.0)), 0, 255).astype(np.uint8)


Fit = Literal["contain", "cover", "stretch", "center"]
Resample = Literal["auto", "nearest", "box", "lanczos"]


def fit_image(img: Image.Image, width: int, height: int, fit: Fit = "contain",
              resample: Resample = "auto", background: RGB = (0, 0, 0)) -> np.ndarray:
    """Place ``img`` on a ``width`` x ``height`` board.

    ``auto`` picks nearest-neighbour when the scale is an integer factor (pixel art and text
    drawn at a multiple of the board's size stay crisp) and Lanczos otherwise (photos).
    """
    img = _flatten(img, background)
    sw, sh = img.size
    if fit == "stretch":
        tw, th = width, height
    elif fit == "center":
        tw, th = sw, sh
    else:
        scale = (min if fit == "contain" else max)(width / sw, height / sh)
        tw, th = max(1, round(sw * scale)), max(1, round(sh * scale))
    if (tw, th) != (sw, sh):
        img = img.resize((tw, th), _resample(resample, sw, sh, tw, th))
    board = Image.new("RGB", (width, height), background)
    board.paste(img, ((width - tw) // 2, (height - th) // 2))
    return np.asarray(board, dtype=np.uint8).copy()


def _flatten(img: Image.Image, background: RGB) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return img.convert("RGB")


def _resample(choice: Resample, sw: int, sh: int, tw: int, th: int) -> Image.Resampling:
    if choice == "nearest":
        return Image.Resampling.NEAREST
    if choice == "box":
        return Image.Resampling.BOX
    if choice == "lanczos":
        return Image.Resampling.LANCZOS
    integer = (sw % tw == 0 and sh % th == 0) or (tw % sw == 0 and th % sh == 0)
    return Image.Resampling.NEAREST if integer else Image.Resampling.LANCZOS


@dataclass
class Clip:
    """Frames of one item at one geometry.

    ``stills`` (n, h, w, 3) with ``index`` = which still each frame shows (a loop repeats
    indices, not pixels); or ``strip`` (h, W, 3) with ``index`` = each frame's x offset.
    """

    height: int
    width: int
    durations: list[float]
    stills: np.ndarray | None = None
    strip: np.ndarray | None = None
    index: list[int] = field(default_factory=list)

    def __post_init__(self):
        if self.stills is not None and not self.index:
            self.index = list(range(len(self.stills)))
        if len(self.index) != len(self.durations) or not self.index:
            raise ValueError(f"clip has {len(self.index)} frames but {len(self.durations)} durations")

    def __len__(self) -> int:
        return len(self.durations)

    @property
    def total(self) -> float:
        return float(sum(self.durations))

    def frame(self, i: int) -> np.ndarray:
        if self.stills is not None:
            return self.stills[self.index[i]]
        x = self.index[i]
        return self.strip[:, x:x + self.width]

    def index_at(self, t: float) -> int:
        """The frame on show ``t`` seconds after the clip started (looping)."""
        ends = np.cumsum(self.durations)
        t = t % ends[-1]
        return min(int(np.searchsorted(ends, t, side="right")), len(ends) - 1)

    def lut(self, table: np.ndarray) -> Clip:
        if self.stills is not None:
            self.stills = table[self.stills]
        else:
            self.strip = table[self.strip]
        return self
