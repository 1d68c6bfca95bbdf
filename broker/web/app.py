"""The dashboard: a Starlette app with server-side pages, exports and ``/metrics``.

``create_app(config)`` builds it from the dashboard's config; tests pass a store, a registry,
a clock and users of their own. Everything the page loads (style, charts, snapshots) is
served by the app itself: the server room may have no internet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from broker.registry import KIND_LABELS_VI, Registry
from broker.store import Store
from broker.web import auth, charts, exports, fmt, metrics, queries
from broker.web.auth import requires
from broker.web.boards import BoardLink, SnapshotDir
from broker.web.config import DashboardConfig
from broker.web.users import Users
from edge.clock import Clock, RealClock

log = logging.getLogger("broker.web")
HERE = Path(__file__).parent
STATE_VI = {"online": "Trực tuyến", "offline": "Mất kết nối", "never seen": "Chưa kết nối"}
VERBS_VI = {"play-now": "Phát ngay", "snapshot": "Chụp màn hình"}
DEFAULT_DAYS = 7
# The tab icon, here rather than a file: two white bars (a board) on the campaign's red.
FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
           'fill="#c8102e"/><path d="M5 3h2v10H5zM9 3h2v10H9z" fill="#fff"/></svg>')


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

    def __post_init__(self):
        self.reports = queries.Reports(self.store, self.registry, self.offline_after)

    def report(self, first: date, last: date, kind: str | None = None, unit: str | None = None):
        return self.reports.get(first, last, self.clock.now(), kind, unit)

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
    env.globals.update(KINDS=KIND_LABELS_VI, STATE_VI=STATE_VI, VERBS_VI=VERBS_VI)
    return Jinja2Templates(env=env, context_processors=[_context])


def _context(request: Request) -> dict:
    web: Web = request.app.state.web
    return {"user": getattr(request.state, "user", None), "csrf": auth.csrf_token(request),
            "campaign": web.registry.campaign, "auth_mode": web.config.dashboard.auth,
            "moment": lambda t: fmt.moment(t, web.tz)}


def _page(request: Request, name: str, status: int = 200, **context) -> Response:
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


# --- query parameters -------------------------------------------------------------------------
def _period(request: Request, web: Web, default_days: int | None = DEFAULT_DAYS) -> tuple[date, date]:
    first, last = queries.campaign_to_date(web.registry, web.clock.now())
    if default_days:
        first = max(first, last - timedelta(days=default_days - 1))
    q = request.query_params
    try:
        if q.get("from"):
            first = fmt.parse_day(q["from"])
        if q.get("to"):
            last = fmt.parse_day(q["to"])
    except ValueError:
        raise HTTPException(400, "Ngày không hợp lệ: hãy nhập theo dạng dd/mm/yyyy.") from None
    if last < first:
        raise HTTPException(400, f"Ngày kết thúc {fmt.day(last)} trước ngày bắt đầu {fmt.day(first)}.")
    if (last - first).days > 400:
        raise HTTPException(400, "Khoảng thời gian tối đa là 400 ngày.")
    return first, last


def _kind(request: Request) -> str | None:
    kind = request.query_params.get("kind") or None
    if kind is not None and kind not in KIND_LABELS_VI:
        raise HTTPException(400, "Loại đơn vị không hợp lệ; chọn: " + ", ".join(KIND_LABELS_VI.values()) + ".")
    return kind


def _download(data: bytes, media_type: str, filename: str) -> Response:
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- pages ------------------------------------------------------------------------------------
async def login_page(request: Request):
    if auth.current_user(request) is not None:
        return RedirectResponse(auth.safe_next(request.query_params.get("next")), status_code=303)
    return _page(request, "login.html", next=auth.safe_next(request.query_params.get("next")), error=None)


async def login_submit(request: Request):
    form = await auth.check_csrf(request)
    user = await auth.login(request, str(form.get("username", "")).strip(), str(form.get("password", "")))
    if user is None:
        return _page(request, "login.html", status=401, next=auth.safe_next(form.get("next")),
                     error="Sai tên đăng nhập hoặc mật khẩu.")
    return RedirectResponse(auth.safe_next(form.get("next")), status_code=303)


async def logout(request: Request):
    await auth.check_csrf(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request):
    return RedirectResponse("/compliance", status_code=303)


def _compliance_data(web: Web, first: date, last: date, kind: str | None):
    c_first, c_last = queries.campaign_to_date(web.registry, web.clock.now())
    return web.report(first, last, kind), web.report(c_first, c_last, kind)


@requires("viewer")
async def compliance_page(request: Request):
    web: Web = request.app.state.web
    first, last = _period(request, web)
    kind = _kind(request)
    report, campaign = await run_in_threadpool(_compliance_data, web, first, last, kind)
    return _page(request, "compliance.html", report=report, campaign_report=campaign, first=first, last=last,
                 kind=kind, query=request.url.query)


async def _compliance_export(request: Request, fmt_name: str):
    web: Web = request.app.state.web
    first, last = _period(request, web)
    kind = _kind(request)
    report = await run_in_threadpool(web.report, first, last, kind)
    name = f"tuan-thu-{first:%Y%m%d}-{last:%Y%m%d}" + (f"-{kind}" if kind else "")
    if fmt_name == "csv":
        return _download(exports.compliance_csv(report), exports.CSV, name + ".csv")
    data = await run_in_threadpool(exports.compliance_xlsx, report)
    return _download(data, exports.XLSX, name + ".xlsx")


@requires("viewer")
async def compliance_csv(request: Request):
    return await _compliance_export(request, "csv")


@requires("viewer")
async def compliance_xlsx(request: Request):
    return await _compliance_export(request, "xlsx")


def _unit_data(web: Web, unit_id: str, first: date, last: date):
    now = web.clock.now()
    c_first, c_last = queries.campaign_to_date(web.registry, now)
    report, campaign = (queries.of_unit(web.report(first, last), unit_id),
                        queries.of_unit(web.report(c_first, c_last), unit_id))
    profile = queries.hour_profile(web.store, web.registry, report, unit_id)
    fleet = [r for r in queries.fleet(web.store, web.registry, now, web.offline_after, web.snapshots)
             if r.note.unit == unit_id]
    return report, campaign, profile, fleet


@requires("viewer")
async def unit_page(request: Request):
    web: Web = request.app.state.web
    unit_id = request.path_params["unit"]
    try:
        unit = web.registry.unit(unit_id)
    except KeyError:
        raise HTTPException(404, "Không có đơn vị này trong danh sách.") from None
    first, last = _period(request, web, default_days=None)
    report, campaign, profile, fleet = await run_in_threadpool(_unit_data, web, unit_id, first, last)
    many = len(unit.devices) > 1
    bars = [charts.DayBar(d.day, min(d.plays_by_device.values()) if d.plays_by_device else 0, d.quota, d.compliant)
            for d in campaign.days]
    hourly = charts.hourly(profile.hours, profile.onsets_per_day, profile.plays_per_day,
                           f"{unit.name}: người qua lại và số lần phát theo giờ")
    daily = charts.daily(bars, f"{unit.name}: số lần phát mỗi ngày so với định mức"
                         + (" (thiết bị phát ít nhất)" if many else ""))
    return _page(request, "unit.html", unit=unit, report=report, profile=profile, fleet=fleet, first=first,
                 last=last, hourly=hourly, daily=daily, many=many, quota=web.registry.quota_of(unit))


@requires("viewer")
async def fleet_page(request: Request):
    web: Web = request.app.state.web
    kind = _kind(request)
    rows = await run_in_threadpool(queries.fleet, web.store, web.registry, web.clock.now(), web.offline_after,
                                   web.snapshots)
    if kind:
        units = {u.id for u in web.registry.units if u.kind == kind}
        rows = [r for r in rows if r.note.unit in units]
    offline = sum(r.offline for r in rows)
    only_offline = request.query_params.get("offline") == "1"
    if only_offline:
        rows = [r for r in rows if r.offline]
    return _page(request, "fleet.html", rows=rows, offline=offline, kind=kind, only_offline=only_offline,
                 threshold=fmt.duration(web.offline_after.total_seconds()),
                 commands=web.board is not None, notice=request.query_params.get("sent"),
                 failure=request.query_params.get("failed"))


async def _fleet_rows(web: Web):
    return await run_in_threadpool(queries.fleet, web.store, web.registry, web.clock.now(), web.offline_after,
                                   web.snapshots)


@requires("viewer")
async def fleet_csv(request: Request):
    web: Web = request.app.state.web
    return _download(exports.fleet_csv(await _fleet_rows(web), web.tz), exports.CSV, "thiet-bi.csv")


@requires("viewer")
async def fleet_xlsx(request: Request):
    web: Web = request.app.state.web
    return _download(exports.fleet_xlsx(await _fleet_rows(web), web.tz), exports.XLSX, "thiet-bi.xlsx")


@requires("viewer")
async def snapshot(request: Request):
    web: Web = request.app.state.web
    png = web.snapshots.read(request.path_params["device"])
    if png is None:
        raise HTTPException(404, "Chưa có ảnh chụp màn hình của thiết bị này.")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})


@requires("operator")
async def command(request: Request):
    web: Web = request.app.state.web
    await auth.check_csrf(request)
    device, verb = request.path_params["device"], request.path_params["verb"]
    if not web.registry.knows_device(device):
        raise HTTPException(404, "Không có thiết bị này trong danh sách.")
    if verb not in VERBS_VI:
        raise HTTPException(404, "Lệnh không được hỗ trợ.")
    if web.board is None:
        raise HTTPException(503, "Bảng điều khiển chưa được cấu hình để gửi lệnh (dashboard.commands).")
    try:
        await run_in_threadpool(web.board.send, device, verb, web.clock.now())
    except RuntimeError:
        return RedirectResponse(f"/fleet?failed={device}:{verb}#{device}", status_code=303)
    return RedirectResponse(f"/fleet?sent={device}:{verb}#{device}", status_code=303)


async def favicon(request: Request):
    return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


async def prometheus(request: Request):
    web: Web = request.app.state.web
    body = await run_in_threadpool(metrics.render, web)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def error_page(request: Request, exc: HTTPException):
    request.state.user = auth.current_user(request)
    return _page(request, "error.html", status=exc.status_code, status_code=exc.status_code, message=exc.detail)


async def database_error(request: Request, exc: SQLAlchemyError):
    log.error("the store cannot be read (%s): %s", request.url.path, exc)
    return await error_page(request, HTTPException(
        503, "Không đọc được cơ sở dữ liệu; hãy thử lại sau ít phút hoặc báo cho tổ kỹ thuật."))


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
               secret: str | None = None) -> Starlette:
    from broker.registry import load_registry
    from broker.store import open_store
    from broker.web.users import load_users

    d = config.dashboard
    registry = registry or load_registry(config.registry)
    web = Web(config=config,
              store=store or open_store(config.database.url),
              registry=registry,
              clock=clock or RealClock(tz=registry.campaign.tz),
              users=users if users is not None else load_users(d.users_file),
              snapshots=SnapshotDir(d.snapshot_dir), board=board)
    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/compliance", compliance_page),
        Route("/compliance.csv", compliance_csv),
        Route("/compliance.xlsx", compliance_xlsx),
        Route("/units/{unit}", unit_page),
        Route("/fleet", fleet_page),
        Route("/fleet.csv", fleet_csv),
        Route("/fleet.xlsx", fleet_xlsx),
        Route("/snapshots/{device}.png", snapshot),
        Route("/devices/{device}/{verb}", command, methods=["POST"]),
        Route("/metrics", prometheus),
        Route("/favicon.ico", favicon),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders), Middleware(SessionMiddleware, secret_key=secret or config.session_secret(),
                             session_cookie="ihanoi_session", max_age=d.session_hours * 3600,
                             same_site="lax", https_only=d.secure_cookie)]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: error_page, SQLAlchemyError: database_error})
    app.state.web = web
    app.state.templates = _templates()
    return app
