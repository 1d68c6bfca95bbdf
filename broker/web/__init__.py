"""The district's web dashboard (``ihanoi-broker serve``): compliance, charts, fleet, exports, metrics.

``add_arguments(parser)`` and ``serve(args)`` are the verb; ``broker.web.app.create_app`` is
the ASGI app. Starlette, Jinja2 and uvicorn come with the ``server`` extra and are imported
only when the dashboard runs.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("broker.web")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="server config (TOML): [dashboard], [database], [broker], "
                                                    "[collector]; see broker/web/dashboard.example.toml")
    p.add_argument("--database", metavar="URL", help="sqlite:///PATH or postgresql://USER@HOST/DB (overrides the config)")
    p.add_argument("--registry", metavar="FILE", help="units registry (overrides the config)")
    p.add_argument("--host", help="listen address (overrides dashboard.host)")
    p.add_argument("--port", type=int, help="listen port (overrides dashboard.port)")


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from broker.commands.common import open_existing_store
    from broker.web.app import create_app
    from broker.web.boards import BoardLink, SnapshotDir
    from broker.web.config import load_dashboard_config

    config = load_dashboard_config(args.config)
    updates = {}
    if args.database:
        updates["database"] = config.database.model_copy(update={"url": args.database})
    if args.registry:
        updates["registry"] = args.registry
    dashboard = config.dashboard.model_copy(update={k: v for k, v in (("host", args.host), ("port", args.port)) if v})
    config = config.model_copy(update={**updates, "dashboard": dashboard})
    board = None
    if dashboard.commands:
        board = BoardLink(config.broker, config.collector.topic_prefix, SnapshotDir(dashboard.snapshot_dir))
    store = open_existing_store(config.database.url)    # the dashboard only reads: it never makes a database
    app = create_app(config, store=store, board=board)  # checks the users file and the secret first
    if board:
        board.start()
    log.info("dashboard on http://%s:%s/ (auth: %s)", dashboard.host, dashboard.port, dashboard.auth)
    try:
        uvicorn.run(app, host=dashboard.host, port=dashboard.port, proxy_headers=True,
                    forwarded_allow_ips="127.0.0.1", log_level="info")
    finally:
        if board:
            board.stop()
    return 0


run = serve
