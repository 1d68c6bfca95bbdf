"""The dashboard's pages and downloads: each reads the query, asks ``queries`` (the report's
code) in a worker thread, and renders a template. Access is checked by ``auth.requires``."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from broker.campaigns.targets import quota_for, targets
from broker.report.build import chosen_campaigns
from broker.report.compliance import is_outdated, latest_version
from broker.store.campaigns import known_campaigns
from broker.web import auth, charts, exports, fmt, metrics, queries
from broker.web.auth import requires
from ihanoi.contract.registry import KIND_LABELS_VI, SCREEN_LABELS_VI

if TYPE_CHECKING:
    from broker.web.app import Web

log = logging.getLogger("broker.web")
VERBS_VI = {"play-now": "Phát ngay", "snapshot": "Chụp màn hình"}
DEFAULT_DAYS = 7
# The tab icon, here rather than a file: two white bars (a board) on the campaign's red.
FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
           'fill="#c8102e"/><path d="M5 3h2v10H5zM9 3h2v10H9z" fill="#fff"/></svg>')


def _page(request: Request, name: str, status: int = 200, **context) -> Response:
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


# --- query parameters -------------------------------------------------------------------------
def _campaign(request: Request, web: Web, unit=None):
    """The campaign asked for (``?campaign=ID``), by default the first active one; and the choice
    offered (the campaigns of the store, or those targeting ``unit``)."""
    known = [s.campaign for s in known_campaigns(web.store.campaigns, web.registry) if not s.withdrawn(web.tz)]
    if unit is not None:
        known = [c for c in known if targets(c, unit)]
    wanted = request.query_params.get("campaign")
    if wanted:
        chosen = next((c for c in known if c.id == wanted), None)
        if chosen is None:
            raise HTTPException(400, "Chiến dịch không hợp lệ; chọn: " + ", ".join(c.id for c in known) + ".")
        return chosen, known
    default = chosen_campaigns(web.store, web.registry, None, None, None, web.clock.now())
    ids = {s.id for s in default}
    chosen = next((c for c in known if c.id in ids), known[0] if known else None)
    if chosen is None:
        raise HTTPException(404, "Đơn vị này không thuộc chiến dịch nào.")
    return chosen, known


def _period(request: Request, web: Web, default_days: int | None = DEFAULT_DAYS, campaign=None) -> tuple[date, date]:
    first, last = queries.campaign_to_date(web.registry, web.clock.now(), campaign)
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
    try:
        user = await auth.login(request, str(form.get("username", "")).strip(), str(form.get("password", "")))
    except auth.LockedOut as exc:
        return _page(request, "login.html", status=429, next=auth.safe_next(form.get("next")), error=str(exc))
    if user is None:
        return _page(request, "login.html", status=401, next=auth.safe_next(form.get("next")),
                     error="Sai tên đăng nhập hoặc mật khẩu.")
    return RedirectResponse(auth.safe_next(form.get("next")), status_code=303)


async def logout(request: Request):
    await auth.check_csrf(request)
    auth.logout(request)
    return RedirectResponse("/login", status_code=303)


@requires("viewer")
async def home(request: Request):
    return RedirectResponse("/compliance", status_code=303)


def _compliance_data(web: Web, first: date, last: date, kind: str | None, campaign):
    c_first, c_last = queries.campaign_to_date(web.registry, web.clock.now(), campaign)
    return web.report(first, last, kind, campaign=campaign), web.report(c_first, c_last, kind, campaign=campaign)


@requires("viewer")
async def compliance_page(request: Request):
    web: Web = request.app.state.web
    chosen, choice = await run_in_threadpool(_campaign, request, web)
    first, last = _period(request, web, campaign=chosen)
    kind = _kind(request)
    report, campaign = await run_in_threadpool(_compliance_data, web, first, last, kind, chosen)
    return _page(request, "compliance.html", report=report, campaign_report=campaign, first=first, last=last,
                 kind=kind, query=request.url.query, chosen=chosen, choice=choice)


async def _compliance_export(request: Request, fmt_name: str):
    web: Web = request.app.state.web
    chosen, _ = await run_in_threadpool(_campaign, request, web)
    first, last = _period(request, web, campaign=chosen)
    kind = _kind(request)
    report = await run_in_threadpool(web.report, first, last, kind, None, chosen)
    name = f"tuan-thu-{chosen.id}-{first:%Y%m%d}-{last:%Y%m%d}" + (f"-{kind}" if kind else "")
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


def _unit_data(web: Web, unit_id: str, first: date, last: date, chosen):
    now = web.clock.now()
    c_first, c_last = queries.campaign_to_date(web.registry, now, chosen)
    report, campaign = (queries.of_unit(web.report(first, last, campaign=chosen), unit_id),
                        queries.of_unit(web.report(c_first, c_last, campaign=chosen), unit_id))
    profile = queries.hour_profile(web.store, web.registry, report, unit_id, chosen)
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
    chosen, choice = await run_in_threadpool(_campaign, request, web, unit)
    first, last = _period(request, web, default_days=None, campaign=chosen)
    report, campaign, profile, fleet = await run_in_threadpool(_unit_data, web, unit_id, first, last, chosen)
    many = len(unit.devices) > 1
    bars = [charts.DayBar(d.day, min(d.plays_by_device.values()) if d.plays_by_device else 0, d.quota, d.compliant)
            for d in campaign.days]
    hourly = charts.hourly(profile.hours, profile.onsets_per_day, profile.plays_per_day,
                           f"{unit.name}: người qua lại và số lần phát theo giờ")
    daily = charts.daily(bars, f"{unit.name}: số lần phát mỗi ngày so với định mức"
                         + (" (thiết bị phát ít nhất)" if many else ""))
    return _page(request, "unit.html", unit=unit, report=report, profile=profile, fleet=fleet, first=first,
                 last=last, hourly=hourly, daily=daily, many=many, quota=quota_for(web.registry, unit, chosen),
                 chosen=chosen, choice=choice)


@requires("viewer")
async def fleet_page(request: Request):
    web: Web = request.app.state.web
    kind = _kind(request)
    rows = await _fleet_rows(web)
    if kind:
        units = {u.id for u in web.registry.units if u.kind == kind}
        rows = [r for r in rows if r.note.unit in units]
    offline = sum(r.offline for r in rows)
    # LED boards and TVs play packs of their own: each is compared with the newest on its kind of screen
    newest = {screen: latest_version(r.note.content_version for r in rows if r.note.screen == screen)
              for screen in {r.note.screen for r in rows}}
    outdated = {r.note.device: newest[r.note.screen] for r in rows
                if is_outdated(r.note.content_version, newest[r.note.screen])}
    only_offline = request.query_params.get("offline") == "1"
    if only_offline:
        rows = [r for r in rows if r.offline]
    return _page(request, "fleet.html", rows=rows, offline=offline, kind=kind, only_offline=only_offline,
                 outdated=outdated, threshold=fmt.duration(web.offline_after.total_seconds()),
                 commands=web.board is not None, flash=request.session.pop("flash", None),
                 SCREENS=SCREEN_LABELS_VI, screen_days=queries.SCREEN_DAYS)


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
    user = request.state.user.name
    try:
        command_id = await run_in_threadpool(web.board.send, device, verb, web.clock.now())
    except RuntimeError as exc:
        log.warning("%s could not send %s to %s: %s", user, verb, device, exc)
        request.session["flash"] = {"ok": False, "text": f"Chưa gửi được lệnh «{VERBS_VI[verb]}» tới {device}: {exc}."}
    else:
        log.info("%s sent %s to %s (command %s)", user, verb, device, command_id)
        request.session["flash"] = {"ok": True, "text": f"Đã gửi lệnh «{VERBS_VI[verb]}» tới {device}."}
    return RedirectResponse(f"/fleet#{device}", status_code=303)


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
