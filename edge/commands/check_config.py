"""Validate a device config: every key, the unit and device in the registry, the screen section the
registry's ``screen`` needs ([panel] for an LED board, [hdmi] for an LCD/TV), the panel profile,
and the PIR pin against the pins the HUB75 hardware mapping drives. Exits 0 when all is well."""

from __future__ import annotations

import argparse
import sys

from edge.config import check_config
from ihanoi.contract.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="FILE", help="device config (TOML)")
    p.add_argument("--skip-files", action="store_true",
                   help="do not require the password and TLS files to exist here (checking on a PC)")


def run(args: argparse.Namespace) -> int:
    try:
        config, registry, profile = check_config(args.config, check_files=not args.skip_files)
    except ConfigError as exc:
        print(f"{exc.path}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for key, msg in exc.problems:
            print(f"  {exc.path}: {key}: {msg}" if key else f"  {exc.path}: {msg}", file=sys.stderr)
        return 1
    unit = registry.unit(config.unit)
    if config.hdmi is not None:
        hdmi = config.hdmi
        cec = f"HDMI-CEC on {hdmi.cec.device}" if hdmi.cec.enabled else "no HDMI-CEC (power not managed)"
        screen = f"TV over HDMI (mpv {hdmi.output}, {hdmi.board}, {hdmi.mode}, volume {hdmi.volume}, {cec})"
    else:
        screen = f"panel {profile.name} {profile.width}x{profile.height} ({profile.hardware_mapping})"
    print(f"{config.source}: OK — device {config.device} of {unit.name} ({unit.id}), {screen}, "
          f"PIR on GPIO {config.pir.pin}, quota {max(config.planner.quota or 0, registry.quota_of(unit))}/day")
    return 0
