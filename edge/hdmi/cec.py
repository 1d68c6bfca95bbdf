"""The TV's power over HDMI-CEC, through ``cec-ctl`` (Debian's v4l-utils): on, standby, and what it says it is.

    screen = open_screen(settings.cec)      # CecScreen, or NoCec for a screen without CEC
    screen.power_on()                       # <Image View On> + <Active Source> (our HDMI input)
    status = screen.status()                # <Give Device Power Status>, then <Request Active Source>
    status.power, status.input, status.counts
    screen.standby()

A play counts only on a screen that said it is ``on`` and not showing another input
(``status.counts``): a unit cannot comply with a TV switched off or left on the set-top box.
Silence is not "off": a TV that does not answer is ``no-reply`` (not counted, shown as such).
A screen configured without CEC is ``unmanaged``: nothing is asked, its plays count, and
the status says that nobody could check.

The parsing (``parse_*``) is pure and reads cec-ctl's own output format (v4l-utils 1.22,
Bookworm's): the transmit path of utils/cec-ctl/cec-ctl.cpp and the message names that
utils/libcecutil/cec-gen.pl makes from include/linux/cec-funcs.h.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge.hdmi.settings import CecSettings
from ihanoi.contract.errors import ScreenError

log = logging.getLogger("ihanoi.hdmi.cec")

POWER_STATES = ("on", "standby", "to-on", "to-standby")
_PWR = re.compile(r"pwr-state:\s*([a-z-]+|\d+)?\s*\(0x([0-9a-f]+)\)", re.I)
_ACTIVE = re.compile(r"ACTIVE_SOURCE \(0x82\):\s*\n\s*phys-addr:\s*([0-9a-f]\.[0-9a-f]\.[0-9a-f]\.[0-9a-f])", re.I)
_OURS = re.compile(r"^\s*Physical Address\s*:\s*([0-9a-f]\.[0-9a-f]\.[0-9a-f]\.[0-9a-f])\s*$", re.I | re.M)
_STATUS = re.compile(r"^\s*(Tx, .*)$", re.M)
INVALID_ADDRESS = "f.f.f.f"


@dataclass(frozen=True)
class ScreenStatus:
    """What the screen said before a play.

    ``power``: on | standby | to-on | to-standby (the TV's own answer), no-reply (it did not
    answer), not-acknowledged (nothing on the CEC line: TV unplugged or CEC off in its menu),
    error (cec-ctl failed), unmanaged (configured without CEC).
    ``input``: ours | other (another device is the active source) | unknown.
    """

    power: str
    input: str = "unknown"
    detail: str = ""

    @property
    def counts(self) -> bool:
        """Whether a play shown now may count toward the quota."""
        if self.power == "unmanaged":
            return True
        return self.power == "on" and self.input != "other"

    def describe(self) -> str:
        text = {"on": "on", "standby": "in standby", "to-on": "switching on", "to-standby": "switching off",
                "no-reply": "not answering over HDMI-CEC", "not-acknowledged": "not on the CEC line",
                "error": "not readable", "unmanaged": "not managed (no HDMI-CEC)"}.get(self.power, self.power)
        if self.input == "other":
            text += ", showing another input"
        return f"screen {text}" + (f" ({self.detail})" if self.detail else "")

    def as_dict(self) -> dict:
        return {"power": self.power, "input": self.input, "counts": self.counts, "detail": self.detail}


# --- reading cec-ctl's output (pure) -----------------------------------------------------------
def parse_power_status(output: str) -> tuple[str, str]:
    """(power, detail) from ``cec-ctl --to 0 --give-device-power-status``."""
    match = _PWR.search(output)
    if match:
        code = int(match.group(2), 16)
        name = (match.group(1) or "").lower()
        if name not in POWER_STATES:
            name = POWER_STATES[code] if code < len(POWER_STATES) else f"unknown-{code}"
        return name, ""
    status = _tx_status(output)
    if "Not Acknowledged" in status:
        return "not-acknowledged", status
    if "Feature Abort" in status or "FEATURE_ABORT" in output:
        return "no-reply", "the TV refused the power-status question"
    if status:
        return "no-reply", status
    return "error", "cec-ctl printed no answer"


def parse_active_source(output: str) -> str | None:
    """The physical address of the active source from ``--request-active-source``; None when nobody answered."""
    match = _ACTIVE.search(output)
    return match.group(1).lower() if match else None


def parse_physical_address(output: str) -> str | None:
    """Our own physical address from cec-ctl's driver info (``f.f.f.f`` when the TV is unplugged)."""
    match = _OURS.search(output)
    return match.group(1).lower() if match else None


def _tx_status(output: str) -> str:
    match = _STATUS.search(output)
    return match.group(1).strip() if match else ""


def desired_power(now: datetime, is_open: Callable[[datetime], bool], warmup: timedelta,
                  cool_down: timedelta) -> str:
    """``on`` from ``warmup`` before opening until ``cool_down`` after closing, ``standby`` otherwise.

    ``is_open(t)`` is the unit's opening hours and open days (the planner's rules).
    """
    if is_open(now) or is_open(now + warmup) or is_open(now - cool_down):
        return "on"
    return "standby"


# --- the adapter ---------------------------------------------------------------------------------
Runner = Callable[[list[str], float], tuple[int, str, str]]


def run_command(args: list[str], timeout: float) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ScreenError(f"{args[0]} is not installed: apt-get install -y v4l-utils "
                          f"(or set hdmi.cec.enabled = false for a screen without HDMI-CEC)") from None
    except subprocess.TimeoutExpired:
        return 124, "", f"{args[0]} did not finish within {timeout:g} s"
    return proc.returncode, proc.stdout, proc.stderr


class CecScreen:
    """A TV on one HDMI port, driven with cec-ctl as a CEC playback device."""

    def __init__(self, settings: CecSettings, run: Runner = run_command):
        self.settings = settings
        self.run = run
        self.physical_address: str | None = None
        self.last_error: str | None = None

    def _cec(self, *args: str, configured: bool = False) -> str:
        command = [self.settings.command, "-d", self.settings.device, *args]
        code, out, err = self.run(command, self.settings.timeout_s)
        if code != 0:
            last = (err or out).strip().splitlines()
            self.last_error = f"{' '.join(command)}: {last[-1] if last else f'exit status {code}'}"
            raise ScreenError(self.last_error)
        if "Adapter is unconfigured" in err and not configured:
            # the adapter lost its address (TV unplugged and back, or cec-ctl -C): claim it again, once
            self.configure()
            return self._cec(*args, configured=True)
        return out

    def configure(self) -> str | None:
        """Claim a playback-device address on the CEC bus; returns our physical address (None: no TV)."""
        out = self._cec("--playback", "--osd-name", self.settings.osd_name, configured=True)
        address = parse_physical_address(out)
        self.physical_address = None if address in (None, INVALID_ADDRESS) else address
        if self.physical_address is None:
            log.warning("HDMI-CEC on %s: no physical address (is the TV plugged in and on this port?)",
                        self.settings.device)
        return self.physical_address

    def _ensure(self) -> None:
        if self.physical_address is None:
            self.configure()

    def power_on(self) -> None:
        """Wake the TV and make it show our input."""
        self._ensure()
        self._cec("--skip-info", "--to", "0", "--image-view-on")
        if self.physical_address:
            self._cec("--skip-info", "--to", "0", "--active-source", f"phys-addr={self.physical_address}")

    def standby(self) -> None:
        self._ensure()
        self._cec("--skip-info", "--to", "0", "--standby")

    def status(self) -> ScreenStatus:
        """Ask the TV (never raises: a failure is a status that does not count, with its reason)."""
        try:
            self._ensure()
            power, detail = parse_power_status(self._cec("--skip-info", "--to", "0", "--give-device-power-status"))
            source = "unknown"
            if power == "on":
                active = parse_active_source(self._cec("--skip-info", "--request-active-source"))
                if active is not None and self.physical_address is not None:
                    source = "ours" if active == self.physical_address else "other"
                    if source == "other":
                        detail = f"active source {active}, this board is {self.physical_address}"
            return ScreenStatus(power, source, detail)
        except ScreenError as exc:
            return ScreenStatus("error", "unknown", str(exc))

    def follow(self, wanted: str, current: str | None) -> str:
        """Switch to ``wanted`` (on | standby) when it differs from ``current``; returns what was set."""
        if wanted != current:
            (self.power_on if wanted == "on" else self.standby)()
            log.info("screen on %s: %s", self.settings.device, wanted)
        return wanted


class NoCec:
    """A screen without HDMI-CEC (configured ``hdmi.cec.enabled = false``): nothing to ask or switch."""

    physical_address = None
    last_error = None

    def configure(self) -> None:
        return None

    def power_on(self) -> None:
        pass

    def standby(self) -> None:
        pass

    def status(self) -> ScreenStatus:
        return ScreenStatus("unmanaged", "unknown", "configured without HDMI-CEC")

    def follow(self, wanted: str, current: str | None) -> str:
        return wanted


def open_screen(settings: CecSettings, run: Runner = run_command) -> CecScreen | NoCec:
    return CecScreen(settings, run) if settings.enabled else NoCec()


__all__ = ["CecScreen", "NoCec", "ScreenStatus", "desired_power", "open_screen", "parse_active_source",
           "parse_physical_address", "parse_power_status"]
