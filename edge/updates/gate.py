"""The clip gate of ``ihanoi-content build``: a bundle for TV boards carries only clips they play smoothly.

Every ``video`` item of the pack is probed with PyAV (edge/hdmi/probe.py: codec, profile,
size, frame rate, length, sound; every packet read and every frame decoded, so a truncated
or damaged file is caught here, not on a lobby TV) and checked against the decode table of
each target board model (edge/hdmi/boards.py). The first clip a board cannot play is
refused with ``ClipRefused`` naming the pack, the item, the file and why; a clean pack
returns what was found, for the technician to read.

Which boards: the ones named (``--board pi4 --board pi5``); otherwise, when the bundle's
targets include an LCD board of the registry, every model (a clip that plays on all of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.content.manifest import item_label, load_manifest, manifest_path
from edge.hdmi.boards import BOARDS, Board
from edge.hdmi.pack import check_clip
from edge.hdmi.probe import ClipInfo, probe
from ihanoi.contract.errors import ClipRefused, PackError


@dataclass(frozen=True)
class CheckedClip:
    label: str
    info: ClipInfo
    boards: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.label} {Path(self.info.file).name}: {self.info.describe()}; plays on {', '.join(self.boards)}"


def check_pack_clips(pack: Path | str, boards: list[Board] | None = None) -> list[CheckedClip]:
    """Probe and check every video item of the pack; ``ClipRefused`` at the first that will not play."""
    targets = list(boards) if boards else list(BOARDS.values())
    manifest_file = manifest_path(pack)
    manifest = load_manifest(manifest_file)
    checked = []
    for n, item in enumerate(manifest.items):
        if item.kind != "video":
            continue
        label = item_label(n, item)
        path = (manifest_file.parent / item.file).resolve()
        if manifest_file.parent.resolve() not in path.parents or not path.is_file():
            raise PackError(manifest_file, label, f"file {item.file!r} not found in the pack folder")
        try:
            info = probe(path)
        except ClipRefused as exc:
            raise ClipRefused(manifest_file, label, exc.file, exc.reason, exc.problem) from None
        check_clip(manifest_file, label, info, targets)
        checked.append(CheckedClip(label, info, tuple(b.label for b in targets)))
    return checked


def lcd_targets(registry, units: list[str] | str, devices: list[str]) -> list[str]:
    """The LCD devices of the registry among a bundle's targets (``units`` may be ``"all"``)."""
    found = []
    for unit, device in registry.screens("lcd"):
        if units == "all" or unit.id in units or device.id in devices:
            found.append(device.id)
    return found


__all__ = ["CheckedClip", "check_pack_clips", "lcd_targets"]
