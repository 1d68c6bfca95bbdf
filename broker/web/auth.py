"""Who is looking: a login form against the users file, or the reverse proxy's word.

Roles: ``viewer`` (the Culture and Information office: every page and export) and
``operator`` (district IT: also the buttons that send commands to boards). Every form
carries a per-session token, so another site cannot post to the dashboard on a user's behalf.
"""

from __future__ import annotations

import functools
import secrets
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse

from broker.web.users import User

ROLES = ("viewer", "operator")


def current_user(request: Request) -> User | None:
    web = request.app.state.web
    if web.config.dashboard.auth == "proxy":
        name = request.headers.get(web.config.dashboard.proxy_user_header)
    else:
        name = request.session.get("user")
    return web.users.get(name) if name else None


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


async def check_csrf(request: Request) -> dict:
    form = await request.form()
    sent = form.get("csrf", "")
    if not sent or not secrets.compare_digest(str(sent), request.session.get("csrf", "")):
        raise HTTPException(403, "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ; hãy tải lại trang.")
    return form


def requires(role: str = "viewer"):
    """Decorator for an endpoint: a signed-in user of at least ``role``, as ``request.state.user``."""
    assert role in ROLES

    def wrap(endpoint):
        @functools.wraps(endpoint)
        async def guarded(request: Request):
            user = current_user(request)
            if user is None:
                if request.app.state.web.config.dashboard.auth == "proxy":
                    raise HTTPException(403, "Tài khoản này chưa được cấp quyền xem bảng điều khiển.")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            if role == "operator" and not user.can_operate:
                raise HTTPException(403, "Chức năng này chỉ dành cho cán bộ kỹ thuật (vai trò operator).")
            request.state.user = user
            return await endpoint(request)
        return guarded
    return wrap


async def login(request: Request, username: str, password: str) -> User | None:
    web = request.app.state.web
    # scrypt takes tens of milliseconds on purpose: keep it off the event loop.
    user = await run_in_threadpool(web.users.authenticate, username, password)
    if user is not None:
        request.session.clear()
        request.session["user"] = user.name
        csrf_token(request)
    return user


def safe_next(target: str | None) -> str:
    """Only paths on this site: never a redirect to somewhere else after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/compliance"
    return target
