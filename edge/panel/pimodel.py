"""Which Raspberry Pi this is: the one list of models the panel profiles, the device config and
the panel outputs share, and how a model is read from the board itself.

The device tree's model string (``/proc/device-tree/model``, e.g. "Raspberry Pi 5 Model B
Rev 1.0") names the board; the revision code in ``/proc/cpuinfo`` (new-style codes, bit 23
set) names its type even where the string is unfamiliar. rpi-rgb-led-matrix reads the same
revision code (``lib/gpio.cc``) and falls back to a Pi 3 when it finds none, which on a Pi 5
means a NULL matrix: the panel outputs therefore refuse a board whose model is unknown.
"""

from __future__ import annotations

import re
from pathlib import Path

# Slowdown and backend are chosen per model; the names are what profiles and configs use.
PI_MODELS = ("pi1", "pi2", "pi3", "pi4", "pi5", "pi-zero", "pi-zero-2")

# The Pi 5 family (Pi 5, CM5, Pi 500) has the RP1 I/O chip: no BCM GPIO block to map, the
# panel is driven through RP1's PIO (/dev/pio0) or its registered I/O (/dev/gpiomem0).
RP1_MODELS = ("pi5",)

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
CPUINFO = Path("/proc/cpuinfo")

# Substrings of the device-tree model string, most specific first.
_BY_NAME = (
    ("Zero 2", "pi-zero-2"), ("Zero", "pi-zero"),
    ("Raspberry Pi 500", "pi5"), ("Raspberry Pi 5", "pi5"), ("Compute Module 5", "pi5"),
    ("Raspberry Pi 400", "pi4"), ("Raspberry Pi 4", "pi4"), ("Compute Module 4", "pi4"),
    ("Raspberry Pi 3", "pi3"), ("Compute Module 3", "pi3"),
    ("Raspberry Pi 2", "pi2"),
    ("Raspberry Pi Compute Module", "pi1"), ("Raspberry Pi Model", "pi1"),
)

# The "type" field of new-style revision codes (bits 4..11), from the Raspberry Pi
# documentation's table of revision codes; the same table lib/gpio.cc switches on.
_BY_TYPE = {
    0x00: "pi1", 0x01: "pi1", 0x02: "pi1", 0x03: "pi1", 0x06: "pi1",
    0x04: "pi2",
    0x08: "pi3", 0x0a: "pi3", 0x0d: "pi3", 0x0e: "pi3", 0x10: "pi3",
    0x09: "pi-zero", 0x0c: "pi-zero",
    0x12: "pi-zero-2",
    0x11: "pi4", 0x13: "pi4", 0x14: "pi4", 0x15: "pi4",
    0x17: "pi5", 0x18: "pi5", 0x19: "pi5", 0x1a: "pi5",
}


def model_from_name(text: str) -> str | None:
    """``pi5`` from "Raspberry Pi 5 Model B Rev 1.0"; None for a board that is not a Raspberry Pi."""
    text = text.strip("\0\n ")
    if "Raspberry Pi" not in text:
        return None
    for needle, model in _BY_NAME:
        if needle in text:
            return model
    return None


def model_from_revision(code: int) -> str | None:
    """The model of a new-style revision code (bit 23 set); None for old-style or unknown codes."""
    if not code & (1 << 23):
        return "pi1" if 0 < code <= 0x15 else None  # old-style codes are all first-generation boards
    return _BY_TYPE.get((code >> 4) & 0xFF)


def revision_from_cpuinfo(text: str) -> int | None:
    match = re.search(r"^Revision\s*:\s*([0-9a-fA-F]+)\s*$", text, re.M)
    return int(match.group(1), 16) if match else None


def pi_model(model_file: Path = DEVICE_TREE_MODEL, cpuinfo: Path = CPUINFO) -> str | None:
    """This board's model (one of ``PI_MODELS``), or None when it is not a Raspberry Pi we know."""
    try:
        model = model_from_name(model_file.read_text(errors="replace"))
    except OSError:
        model = None
    if model is not None:
        return model
    try:
        code = revision_from_cpuinfo(cpuinfo.read_text(errors="replace"))
    except OSError:
        return None
    return model_from_revision(code) if code is not None else None


def board_name(model_file: Path = DEVICE_TREE_MODEL) -> str:
    """The device tree's own words for the board, for messages ("" when there is none)."""
    try:
        return model_file.read_text(errors="replace").strip("\0\n ")
    except OSError:
        return ""
