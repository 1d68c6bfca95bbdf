"""``CompiledPack``: a pack's frames for one board, memory-mapped from the frame cache.

``frames[i]`` is a read-only view (a still in ``stills.npy`` or a window into a text strip)
and ``durations[i]`` its time on the board in seconds; nothing is decoded or drawn while
playing. ``content`` is the {id, version, sha256} that play events carry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

META = "meta.json"


@dataclass(frozen=True)
class ItemSpan:
    label: str
    first: int
    count: int
    seconds: float


class CompiledPack:
    def __init__(self, folder: Path):
        self.path = Path(folder)
        meta = json.loads((self.path / META).read_text("utf-8"))
        self.meta = meta
        self.id: str = meta["id"]
        self.version: str = meta["version"]
        self.sha256: str = meta["sha256"]
        self.profile: str = meta["profile"]
        self.width: int = meta["width"]
        self.height: int = meta["height"]
        self.fps: int = meta["fps"]
        self.sources = [np.load(self.path / name, mmap_mode="r") for name in meta["sources"]]
        w = self.width
        plain = [np.asarray(src) for src in self.sources]  # plain ndarray views: cheaper to slice and copy
        self.frames: list[np.ndarray] = [
            src[i] if src.ndim == 4 else src[:, i:i + w]
            for src, i in ((plain[s], i) for s, i in meta["timeline"])
        ]
        self.durations = np.asarray(meta["durations"], dtype=np.float64)
        self.items = [ItemSpan(**span) for span in meta["items"]]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def total_duration(self) -> float:
        return float(self.durations.sum())

    @property
    def content(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    @property
    def cache_bytes(self) -> int:
        return sum(int(src.nbytes) for src in self.sources)

    def frame_at(self, seconds: float) -> int:
        ends = np.cumsum(self.durations)
        return min(int(np.searchsorted(ends, seconds, side="right")), len(ends) - 1)

    def __repr__(self) -> str:
        return (f"CompiledPack({self.id} {self.version}, {self.width}x{self.height}, {len(self)} frames, "
                f"{self.total_duration:.1f} s)")
