"""Helpers for tests that run whole agents: device configs, traces and their data dirs."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

from ihanoi.contract.registry import load_registry
from ihanoi.tools.tracegen import generate_onsets, write_trace


def device_config(folder: Path, device: str, port: int, *, output: str = "recorder", extra: str = "",
                  receipts: str = "broker") -> Path:
    """A device config for ``device`` (its unit from the registry) talking to 127.0.0.1:port.

    ``receipts="broker"`` (the default here) for tests where no collector answers; the district's
    boards wait for the collector's receipt (the config's default)."""
    return _write_config(folder, device, port, f"""
        [panel]
        profile = "p4-128x32"
        output = "{output}"
        off_hours = "dim"

        [pir]
        pin = 5
        """, receipts, extra)


def unit_trace(folder: Path, device: str, first: date, days: int, seed: int = 0) -> Path:
    registry = load_registry()
    hours = registry.hours_of(registry.unit_of(device))
    return write_trace(folder / f"{device}.csv", generate_onsets(first, days, hours=hours, seed=seed))


def tv_device_config(folder: Path, device: str, port: int, pack: Path, *, cec: bool = False, extra: str = "",
                     receipts: str = "broker") -> Path:
    """An LCD/TV board's device config (``[hdmi]``, mpv with no video output) playing ``pack``.

    With ``cec`` the TV's power goes through ``cec-ctl`` (the tests put the recorded stand-in on PATH)."""
    return _write_config(folder, device, port, f"""
        [hdmi]
        board = "pi4"
        output = "null"
        hang_seconds = 5

        [hdmi.cec]
        enabled = {"true" if cec else "false"}

        [content]
        pack = "{pack}"
        """, receipts, extra)


def _write_config(folder: Path, device: str, port: int, screen: str, receipts: str, extra: str) -> Path:
    """A device config: the device, its unit, the local broker, ``screen``'s sections, health, outbox."""
    unit = load_registry().unit_of(device)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{device}.toml"
    path.write_text(textwrap.dedent(f"""
        device = "{device}"
        unit = "{unit.id}"
        data_dir = "{device}"

        [broker]
        host = "127.0.0.1"
        port = {port}
        reconnect_min_s = 1
        reconnect_max_s = 2
        """) + textwrap.dedent(screen) + textwrap.dedent(f"""
        [health]
        interval_seconds = 600

        [outbox]
        receipts = "{receipts}"
        """) + extra, encoding="utf-8")
    return path
