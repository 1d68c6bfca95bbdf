"""The dashboard's campaigns page: every campaign and the summary across the active ones (viewers),
and for operators the same add and end as ``ihanoi-broker campaign`` (a campaign file pasted in,
refused with the fit rule's arithmetic), each announced to the boards it concerns."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse

from broker.campaigns import announce
from broker.campaigns.files import load_campaign_text
from broker.campaigns.manage import add_campaign, end_campaign, units_of
from broker.report.render import across_rows
from broker.store.campaigns import known_campaigns
from broker.web import auth, fmt, queries
from broker.web.auth import requires
from ihanoi.contract.errors import ConfigError, SignageError

if TYPE_CHECKING:
    from broker.web.app import Web

log = logging.getLogger("broker.web")
STATES_VI = {"planned": "Sắp diễn ra", "active": "Đang diễn ra", "over": "Đã kết thúc",
             "ended early": "Đã dừng sớm", "withdrawn": "Đã hủy"}
PASTED = "chiến dịch dán vào"        # how a pasted campaign file is named in its errors
EXAMPLE = """id = "tuan-le-y-te"
title = "Tuần lễ y tế"
first_day = 2024-09-09
last_day = 2024-09-13
content_id = "y-te-promo"
quota = 4
min_gap_minutes = 30
play_seconds = 45

[directive]
number = "15/KH-UBND"
date = 2024-09-01
issuer = "UBND quận Hai Bà Trưng"

[target]
kinds = ["health"]
"""


def _data(web: Web):
    now = web.clock.now()
    stored = known_campaigns(web.store.campaigns, web.registry)
    reports, summary = queries.across_to_date(web.store, web.registry, now, web.reports)
    columns, rows = across_rows(summary)
    return stored, reports, summary, columns, rows, now


def _page(request: Request, status: int = 200, error: str | None = None, text: str = EXAMPLE):
    web: Web = request.app.state.web
    stored, reports, summary, columns, rows, now = _data(web)
    return request.app.state.templates.TemplateResponse(
        request, "campaigns.html",
        {"stored": stored, "state": lambda s: STATES_VI[s.state(now, web.tz)], "ended": lambda s: s.state(
            now, web.tz) in ("over", "ended early", "withdrawn"), "reports": reports, "summary": summary,
         "columns": columns, "rows": rows, "error": error, "text": text, "flash": request.session.pop("flash", None),
         "can_announce": web.announcer is not None},
        status_code=status)


@requires("viewer")
async def campaigns_page(request: Request):
    return await run_in_threadpool(_page, request)


def _announce(web: Web, units: set[str]) -> str:
    """Announce to ``units``; a sentence for the operator either way."""
    if web.announcer is None:
        return ("Chưa gửi tới các bảng: máy chủ chưa có khóa ký (campaigns.signing_key) hoặc không kết nối MQTT; "
                "hãy chạy ihanoi-broker campaign announce.")
    try:
        done = announce(web.store, web.registry, web.announcer, web.signing_key(), web.clock.now(), units)
    except (SignageError, OSError) as exc:
        log.warning("campaign announcement failed: %s", exc)
        return f"Chưa gửi được tới các bảng ({exc}); hãy thử lại bằng ihanoi-broker campaign announce."
    return f"Đã gửi tới {len(done)} đơn vị ({sum(a.changed for a in done)} có thay đổi)."


@requires("operator")
async def campaign_add(request: Request):
    web: Web = request.app.state.web
    form = await auth.check_csrf(request)
    text = str(form.get("campaign", ""))
    user = request.state.user.name

    def add():
        campaign, play_seconds = load_campaign_text(text, PASTED, web.registry)
        add_campaign(web.store, web.registry, campaign, play_seconds, web.clock.now(), PASTED)
        return campaign, _announce(web, units_of(web.registry, campaign))
    try:
        campaign, sent = await run_in_threadpool(add)
    except (ConfigError, SignageError) as exc:
        return await run_in_threadpool(_page, request, 400, str(exc), text)
    log.info("%s added campaign %s", user, campaign.id)
    request.session["flash"] = {"ok": True, "text": f"Đã thêm chiến dịch {campaign.id}. {sent}"}
    return RedirectResponse("/campaigns", status_code=303)


@requires("operator")
async def campaign_end(request: Request):
    web: Web = request.app.state.web
    form = await auth.check_csrf(request)
    campaign_id = request.path_params["campaign"]
    try:
        last_day = fmt.parse_day(form["on"]) if form.get("on") else None
    except ValueError:
        raise HTTPException(400, "Ngày không hợp lệ: hãy nhập theo dạng dd/mm/yyyy.") from None

    def end():
        ended = end_campaign(web.store, web.registry, campaign_id, last_day, web.clock.now())
        return ended, _announce(web, units_of(web.registry, ended.campaign))
    try:
        ended, sent = await run_in_threadpool(end)
    except SignageError as exc:
        request.session["flash"] = {"ok": False, "text": f"Chưa dừng được chiến dịch {campaign_id}: {exc}"}
    else:
        log.info("%s ended campaign %s", request.state.user.name, campaign_id)
        request.session["flash"] = {"ok": True, "text": f"Đã dừng chiến dịch {ended.id}. {sent}"}
    return RedirectResponse("/campaigns", status_code=303)
