"""The dashboard: a Starlette app with server-side pages, exports and ``/metrics``.

``create_app(config)`` builds it from the dashboard's config; tests pass a store, a registry,
a clock and users of their own. Everything the page loads (style, charts, snapshots) is
served by the app itself: the server room may have no internet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from broker.campaigns import MqttAnnouncer, signing_key
from broker.store import Store
from broker.web import auth, campaign_pages, fmt, pages, queries
from broker.web.boards import BoardLink, SnapshotDir
from broker.web.config import DashboardConfig
from broker.web.users import Users
from ihanoi.contract.clock import Clock, RealClock
from ihanoi.contract.registry import KIND_LABELS_VI, Registry

HERE = Path(__file__).parent
STATE_VI = {"online": "Trực tuyến", "offline": "Mất kết nối", "never seen": "Chưa kết nối"}


@dataclass
class Web:
    config: DashboardConfig
    store: Store
    registry: Registry
    clock: Clock
    users: Users
    snapshots: SnapshotDir
    board: BoardLink | None
    reports: queries.Reports | None = None
    announcer: object | None = None          # broker.campaigns.MqttAnnouncer when a signing key is configured

    def __post_init__(self):
        self.reports = queries.Reports(self.store, self.registry, self.offline_after)

    def report(self, first: date, last: date, kind: str | None = None, unit: str | None = None, campaign=None):
        return self.reports.get(first, last, self.clock.now(), kind, unit, campaign)

    def signing_key(self):
        return signing_key(self.config.campaigns.signing_key, "the dashboard config")

    @property
    def tz(self):
        return self.registry.campaign.tz

    @property
    def offline_after(self) -> timedelta:
        return timedelta(seconds=self.config.collector.offline_after_s)


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.filters.update(num=fmt.number, pct=fmt.percent, day=fmt.day, weekday_day=fmt.weekday_day,
                       ago=fmt.duration)
    env.globals.update(KINDS=KIND_LABELS_VI, STATE_VI=STATE_VI, VERBS_VI=pages.VERBS_VI)
    return Jinja2Templates(env=env, context_processors=[_context])


def _context(request: Request) -> dict:
    web: Web = request.app.state.web
    return {"user": getattr(request.state, "user", None), "csrf": auth.csrf_token(request),
            "campaign": web.registry.campaign, "auth_mode": web.config.dashboard.auth,
            "moment": lambda t: fmt.moment(t, web.tz)}


class SecurityHeaders:
    """Every response forbids loading anything from elsewhere and being framed by another site."""

    HEADERS = [(b"content-security-policy", b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                            b"form-action 'self'; base-uri 'none'"),
               (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.HEADERS
            await send(message)
        await self.app(scope, receive, with_headers)


# --- assembly ---------------------------------------------------------------------------------
def create_app(config: DashboardConfig, *, store: Store | None = None, registry: Registry | None = None,
               clock: Clock | None = None, users: Users | None = None, board: BoardLink | None = None,
               secret: str | None = None, announcer=None) -> Starlette:
    from broker.store import open_store
    from broker.web.users import load_users
    from ihanoi.contract.registry import load_registry

    d = config.dashboard
    registry = registry or load_registry(config.registry)
    web = Web(config=config,
              store=store or open_store(config.database.url, first_campaign=registry.campaign.id),
              registry=registry,
              clock=clock or RealClock(tz=registry.campaign.tz),
              users=users if users is not None else load_users(d.users_file),
              snapshots=SnapshotDir(d.snapshot_dir), board=board)
    if announcer is None and config.campaigns.signing_key and d.commands:
        announcer = MqttAnnouncer(config.broker, config.collector.topic_prefix, client_id="ihanoi-dashboard-campaigns")
    web.announcer = announcer
    routes = [
        Route("/", pages.home),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login_submit, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/compliance", pages.compliance_page),
        Route("/compliance.csv", pages.compliance_csv),
        Route("/compliance.xlsx", pages.compliance_xlsx),
        Route("/units/{unit}", pages.unit_page),
        Route("/campaigns", campaign_pages.campaigns_page),
        Route("/campaigns", campaign_pages.campaign_add, methods=["POST"]),
        Route("/campaigns/{campaign}/end", campaign_pages.campaign_end, methods=["POST"]),
        Route("/fleet", pages.fleet_page),
        Route("/fleet.csv", pages.fleet_csv),
        Route("/fleet.xlsx", pages.fleet_xlsx),
        Route("/snapshots/{device}.png", pages.snapshot),
        Route("/devices/{device}/{verb}", pages.command, methods=["POST"]),
        Route("/metrics", pages.prometheus),
        Route("/favicon.ico", pages.favicon),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders),
                  Middleware(SessionMiddleware, secret_key=secret or config.session_secret(),
                             session_cookie="ihanoi_session", max_age=d.session_hours * 3600,
                             same_site="lax", https_only=d.secure_cookie)]
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={HTTPException: pages.error_page, SQLAlchemyError: pages.database_error})
    app.state.web = web
    app.state.login_guard = auth.LoginGuard(web.clock)
    app.state.sessions = auth.SessionBook(web.clock, d.session_hours * 3600)
    app.state.templates = _templates()
    return app
