"""Options several verbs share: the collector config, the database URL, the registry."""

from __future__ import annotations

import argparse

from broker.collector.config import CollectorConfig, load_collector_config
from ihanoi.contract.registry import load_registry


def add_store_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="collector config (TOML); its database and registry are used")
    p.add_argument("--database", metavar="URL", help="sqlite:///PATH or postgresql://USER@HOST/DB (overrides the config)")
    p.add_argument("--registry", metavar="FILE", help="units registry (default: the config's, $IHANOI_REGISTRY or "
                                                      "the packaged ihanoi/contract/units.toml)")


def resolve(args: argparse.Namespace) -> tuple[CollectorConfig, object]:
    config = load_collector_config(args.config)
    if args.database:
        config = config.model_copy(update={"database": config.database.model_copy(update={"url": args.database})})
    registry = load_registry(args.registry or config.registry)
    return config, registry
