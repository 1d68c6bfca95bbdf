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


class LockedOut(Exception):
    """Too many wrong passwords for this name lately."""


class LoginGuard:
    """After ``limit`` wrong passwords for one name within ``window`` seconds, that name is
    refused for ``window`` seconds, right password or not: guessing costs hours, not minutes."""

    def __init__(self, clock, limit: int = 5, window: float = 900.0):
        self.clock, self.limit, self.window = clock, limit, window
        self._failures: dict[str, list[float]] = {}

    def _recent(self, name: str) -> list[float]:
        now = self.clock.monotonic()
        recent = [t for t in self._failures.get(name, []) if now - t < self.window]
        self._failures[name] = recent
        return recent

    def locked(self, name: str) -> bool:
        return len(self._recent(name)) >= self.limit

    def failed(self, name: str) -> None:
        self._recent(name).append(self.clock.monotonic())
        if len(self._failures) > 10_000:   # names are typed by anyone: keep the table bounded
            self._failures = {n: t for n, t in self._failures.items() if self._recent(n)}

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)


async def login(request: Request, username: str, password: str) -> User | None:
    """The user, signed in; None for a wrong name or password; LockedOut after too many."""
    web = request.app.state.web
    guard: LoginGuard = request.app.state.login_guard
    if guard.locked(username):
        raise LockedOut("Đăng nhập sai quá nhiều lần; tài khoản tạm khóa, hãy thử lại sau 15 phút.")
    # scrypt takes tens of milliseconds on purpose: keep it off the event loop.
    user = await run_in_threadpool(web.users.authenticate, username, password)
    if user is None:
        guard.failed(username)
    else:
        guard.succeeded(username)
        request.session.clear()
        request.session["user"] = user.name
        csrf_token(request)
    return user


def safe_next(target: str | None) -> str:
    """Only paths on this site: never a redirect to somewhere else after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/compliance"
    return target
