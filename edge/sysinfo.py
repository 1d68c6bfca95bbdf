"""What a Raspberry Pi can tell about its own health: CPU temperature and throttling.

Each reader returns None where the machine does not expose the value (a PC, a container),
so health messages simply leave the field out.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")


def cpu_temp_c(path: Path = THERMAL) -> float | None:
    try:
        return round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def throttled() -> int | None:
    """``vcgencmd get_throttled`` bit field (under-voltage, frequency capped, throttled...)."""
    exe = shutil.which("vcgencmd")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "get_throttled"], capture_output=True, text=True, timeout=2).stdout
        return int(out.strip().split("=", 1)[1], 16)
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return None
