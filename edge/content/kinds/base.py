"""What every item kind shares: the common manifest fields and the compile context.

A kind is a module with a pydantic model (``kind = "<name>"``) and
``compile(item, width, height, ctx) -> Clip``; it raises ``ctx.fail("...")`` for anything wrong
with the item, so the message names the pack file and the item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from edge.content.raster import RGB, parse_color
from ihanoi.contract.errors import PackError

Color = Annotated[RGB, BeforeValidator(parse_color)]


class ItemBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("", description="shown in error messages and previews")
    duration: float | None = Field(None, gt=0, le=3600, description="seconds; each kind has its own default")
    background: Color = (0, 0, 0)


@dataclass
class Context:
    manifest: Path
    label: str
    fps: int
    progress: Callable[[str, float], None] | None = None

    @property
    def pack_dir(self) -> Path:
        return self.manifest.parent

    def fail(self, problem: str) -> PackError:
        return PackError(self.manifest, self.label, problem)

    def asset(self, relative: str) -> Path:
        path = (self.pack_dir / relative).resolve()
        if self.pack_dir.resolve() not in path.parents:
            raise self.fail(f"file {relative!r} is outside the pack folder; keep assets inside it")
        if not path.is_file():
            raise self.fail(f"file {relative!r} not found in {self.pack_dir}")
        return path

    def report(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(self.label, fraction)

    def frames_for(self, seconds: float) -> int:
        return max(1, round(seconds * self.fps))
