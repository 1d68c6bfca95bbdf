"""Content packs: a folder with ``pack.toml`` and assets, compiled once per board into a frame cache.

    from edge.content import compile_pack
    compiled = compile_pack("edge/packs/ihanoi-promo", profile, cache_dir)
    compiled.frames[i], compiled.durations[i], compiled.content  # {id, version, sha256}
    ChildCompiler()(pack, profile, cache_dir)     # the same, compiled in a short-lived process

``render_text_frame`` draws one line of text as a whole board frame (the agent's filler).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np

from edge.content.child import ChildCompiler
from edge.content.compiled import CompiledPack
from edge.content.compiler import compile_pack, default_cache_dir
from ihanoi.contract.errors import PackError

PACKS_DIR = Path(str(files("edge") / "packs"))   # packs shipped in the package (the iHanoi promo)


def builtin_pack(name: str) -> Path:
    """A pack shipped with the package, e.g. ``builtin_pack("ihanoi-promo")``."""
    return PACKS_DIR / name


def render_text_frame(text: str, profile, font: str = "auto", color=(255, 255, 255),
                      background=(0, 0, 0), align: str = "center") -> np.ndarray:
    """One (height, width, 3) frame with ``text`` in a pixel font; text wider than the board is cut.

    Raises ``PackError`` naming any character the font lacks.
    """
    from edge.content.kinds.base import Context
    from edge.content.kinds.text import TextItem, glyphs, paint

    item = TextItem(kind="text", text=text, font=font, color=color, background=background,
                    align=align, scroll="never")
    ctx = Context(Path("<text>"), "text", profile.fps)
    mask = glyphs(item, profile.height, ctx)
    width = profile.width
    x = {"left": 0, "center": (width - mask.shape[1]) // 2, "right": width - mask.shape[1]}[align]
    return paint(mask, width, profile.height, x, item)


__all__ = [
    "PACKS_DIR",
    "ChildCompiler",
    "CompiledPack",
    "PackError",
    "builtin_pack",
    "compile_pack",
    "default_cache_dir",
    "render_text_frame",
]
