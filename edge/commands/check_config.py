"""Validate a device config: every key, the unit and device in the registry, the panel profile,
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
    print(f"{config.source}: OK — device {config.device} of {unit.name} ({unit.id}), "
          f"panel {profile.name} {profile.width}x{profile.height} ({profile.hardware_mapping}), "
          f"PIR on GPIO {config.pir.pin}, quota {max(config.planner.quota or 0, registry.quota_of(unit))}/day")
    return 0
