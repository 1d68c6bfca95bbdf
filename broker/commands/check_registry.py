"""Validate the units registry (ids, hours, quotas, devices listed once) and summarise it."""

from __future__ import annotations

import argparse
import sys

from ihanoi.contract.errors import ConfigError
from ihanoi.contract.registry import KIND_LABELS_VI, load_registry, registry_path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("registry", nargs="?", metavar="FILE", help="default: $IHANOI_REGISTRY or ihanoi/contract/units.toml")


def run(args: argparse.Namespace) -> int:
    path = registry_path(args.registry)
    try:
        registry = load_registry(path)
    except ConfigError as exc:
        print(f"{exc.path}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for key, msg in exc.problems:
            print(f"  {exc.path}: {key}: {msg}" if key else f"  {exc.path}: {msg}", file=sys.stderr)
        return 1
    c = registry.campaign
    kinds = {}
    for u in registry.units:
        kinds[u.kind] = kinds.get(u.kind, 0) + 1
    print(f"{path}: OK — {len(registry.units)} units, {len(registry.devices())} devices; campaign "
          f"{c.first_day:%d/%m/%Y}–{c.last_day:%d/%m/%Y}, {c.district_quota} plays/day")
    for kind, n in kinds.items():
        print(f"  {KIND_LABELS_VI[kind]}: {n}")
    return 0
