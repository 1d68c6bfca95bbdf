"""Who is looking: a login form against the users file, or the reverse proxy's word.

Roles: ``viewer`` (the Culture and Information office: every page and export) and
``operator`` (district IT: also the buttons that send commands to boards). Every form
carries a per-session token, so another site cannot post to the dashboard on a user's behalf.

A signed-in session lives on the server (``SessionBook``); the signed cookie carries only its
random id. So logging out ends the session for a copy of the cookie too, and a session ends
when its user's password changes or the user leaves the users file (read again when it
changes). A restart of the dashboard signs everyone out.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse

from broker.web.users import User

ROLES = ("viewer", "operator")


@dataclass(frozen=True)
class _Session:
    user: str
    password: str          # the user's password hash when the session began
    opened: float          # the clock's monotonic seconds


class SessionBook:
    """The signed-in sessions, by random id: opened at login, closed at logout, ended after
    ``lifetime_s`` or as soon as the user's password hash differs from the one they signed in
    with. At most ``limit`` are kept (the oldest go first)."""

    def __init__(self, clock, lifetime_s: float, limit: int = 10_000):
        self.clock, self.lifetime_s, self.limit = clock, lifetime_s, limit
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def open(self, user: User) -> str:
        sid = secrets.token_urlsafe(32)
        now = self.clock.monotonic()
        with self._lock:
            if len(self._sessions) >= self.limit:
                self._sessions = {k: v for k, v in self._sessions.items() if now - v.opened < self.lifetime_s}
                while len(self._sessions) >= self.limit:
                    self._sessions.pop(next(iter(self._sessions)))
            self._sessions[sid] = _Session(user.name, user.password or "", now)
        return sid

    def user(self, sid: object, users) -> User | None:
        """The user of a live session ``sid``, or None."""
        if not isinstance(sid, str):
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if self.clock.monotonic() - session.opened >= self.lifetime_s:
                del self._sessions[sid]
                return None
        user = users.get(session.user)
        # Removed from the users file, or a new password: this session is over for good (the
        # same user put back, or the old password restored, does not bring it back).
        if user is None or not hmac.compare_digest(user.password or "", session.password):
            self.close(sid)
            return None
        return user

    def close(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._sessions.pop(sid, None)

    def __len__(self) -> int:
        return len(self._sessions)


def current_user(request: Request) -> User | None:
    web = request.app.state.web
    if web.config.dashboard.auth == "proxy":
        name = request.headers.get(web.config.dashboard.proxy_user_header)
        return web.users.get(name) if name else None
    return request.app.state.sessions.user(request.session.get("sid"), web.users)


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
        logout(request)            # a new session id: never one that was set before the login
        request.session["sid"] = request.app.state.sessions.open(user)
        csrf_token(request)
    return user


def logout(request: Request) -> None:
    """End this browser's session on the server, so that no copy of its cookie works again."""
    if "sid" in request.session:
        request.app.state.sessions.close(request.session["sid"])
    request.session.clear()


def safe_next(target: str | None) -> str:
    """Only paths on this site: never a redirect to somewhere else after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/compliance"
    return target
