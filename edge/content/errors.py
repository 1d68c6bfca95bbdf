"""``PackError``: a content pack that cannot be compiled, naming the pack file, the item and the problem."""

from __future__ import annotations

from pathlib import Path

from edge.errors import ConfigError


class PackError(ConfigError):
    """A pack's manifest or one of its items is wrong; ``item`` names it (``items[2] (qr "download")``)."""

    def __init__(self, path: Path | str, item: str, problem: str):
        self.item = item
        self.problem = problem
        super().__init__(path, [(item, problem)])


