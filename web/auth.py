"""Who is at the console: the sign-in cookie, the permission every console route names, and
CSRF protection for every form.

- The cookie (`doorstep_session`) holds a random token; the account and its session live in the
  database (`dispatch.staff`). HttpOnly, SameSite=Lax, and Secure in production.
- Every console route depends on `require(Permission.X)`: without a session a page redirects to
  `/login?next=...` (an htmx or JSON request gets 401), without the permission it gets 403. The
  permission matrix test walks every route of the app and finds this dependency on each one that
  is not in `PUBLIC`.
- CSRF: `asgi-csrf` (double-submit cookie, signed with the secret key) checks every unsafe
  request that carries cookies, and the sign-in form even without one. Forms put
  `csrf_input(request)` in; htmx sends the `x-csrftoken` header set on `<body>`. Twilio's
  webhooks (signed), the agent's day page (a signed link) and the channels' API under
  `/api/v1/` (an API key in a header; no cookie is read there) have their own proof.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any
from urllib.parse import quote

from asgi_csrf import asgi_csrf
from fastapi import Depends, Request
from markupsafe import Markup, escape
from starlette.types import ASGIApp, Receive, Scope, Send

from dispatch.config import Settings
from dispatch.db import read_session, utcnow, write_session
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Permission, Role, allows
from web.deps import EngineDep, SettingsDep

COOKIE = "doorstep_session"
CSRF_COOKIE = "csrftoken"
CSRF_FIELD = "csrftoken"  # asgi-csrf's form field (fixed by the library)
#: Paths with a proof of their own (a Twilio signature, a signed link, an API key): no console
#: cookie.
CSRF_EXEMPT_PREFIXES = ("/ivr/", "/a/", "/api/v1/")
#: Routes anyone may open (path templates as FastAPI names them). Everything else names a
#: permission: the permission matrix test holds the app to that.
PUBLIC = frozenset(
    {
        "/",
        "/login",
        "/logout",
        "/static",
        "/simulator",  # development only: the phone, anyone may "call"
        "/openapi.json",  # development only (as are the two documentation pages)
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/healthz",  # operations: nothing personal or secret (`web.health`)
        "/readyz",
        "/metrics",  # its own proof: a bearer token, in production (`web.metrics`)
    }
)
#: Twilio's signed webhooks, the agents' signed day links, the phone simulator's own calls, the
#: channels' API (each call carries its API key: `web.api.access`).
PUBLIC_PREFIXES = ("/ivr/", "/a/", "/simulator/", "/api/v1/")
#: Routes pages poll by themselves: they do not count as the person being there (the idle
#: sign-out would never come while a tab is open otherwise).
POLLS = frozenset({"/callbacks/count", "/callbacks/list", "/board/routes", "/board/runs/{run_id}"})


class SignInNeeded(Exception):
    """No valid session: pages go to the sign-in form, others get 401."""


class Forbidden(Exception):
    """Signed in, but this role may not do this."""

    def __init__(self, user: StaffUser, permission: Permission) -> None:
        super().__init__(f"{user.role.label} may not {permission.value.replace('_', ' ')}")
        self.user = user
        self.permission = permission


def _current(request: Request, engine: EngineDep, settings: SettingsDep) -> StaffUser | None:
    if hasattr(request.state, "staff"):
        found: StaffUser | None = request.state.staff
        return found
    token = request.cookies.get(COOKIE)
    now = utcnow()
    with read_session(engine) as session:
        current = staff_service.current(session=session, settings=settings, token=token, now=now)
    user = current.user if current else None
    route = request.scope.get("route")
    polled = getattr(route, "path", None) in POLLS
    due = current is not None and current.last_seen_at + staff_service.TOUCH_EVERY <= now
    if due and token and not polled:
        with write_session(engine) as session:
            staff_service.touch(session=session, token=token, now=now)
    request.state.staff = user
    return user


OptionalStaff = Annotated[StaffUser | None, Depends(_current)]


@cache
def require(permission: Permission) -> Callable[..., StaffUser]:
    """The dependency that lets only a signed-in account whose role carries `permission` in.
    One callable per permission (cached), so FastAPI runs it once per request."""

    def dependency(user: OptionalStaff) -> StaffUser:
        if user is None:
            raise SignInNeeded()
        if not allows(user.role, permission):
            raise Forbidden(user, permission)
        return user

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{permission.value}"
    return dependency


# `user: IntakeStaff` in a route's signature: the signed-in account, its permission checked.
IntakeStaff = Annotated[StaffUser, Depends(require(Permission.INTAKE))]
CallbackStaff = Annotated[StaffUser, Depends(require(Permission.CALLBACKS))]
RequestViewer = Annotated[StaffUser, Depends(require(Permission.VIEW_REQUESTS))]
RequestChanger = Annotated[StaffUser, Depends(require(Permission.CHANGE_REQUESTS))]
Dispatcher = Annotated[StaffUser, Depends(require(Permission.DISPATCH))]
StaffAdmin = Annotated[StaffUser, Depends(require(Permission.MANAGE_STAFF))]
Supervisor = Annotated[StaffUser, Depends(require(Permission.SUPERVISE))]
Administrator = Annotated[StaffUser, Depends(require(Permission.ADMINISTER))]
Developer = Annotated[StaffUser, Depends(require(Permission.DEVELOPER_TOOLS))]


def safe_next(target: str | None) -> str | None:
    """A local path to go back to after signing in; nothing that leaves the site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def login_redirect_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def home_of(role: Role) -> str:
    """Where each role lands after signing in."""
    return {
        Role.CALL_AGENT: "/intake",
        Role.DISPATCHER: "/board",
        Role.SUPERVISOR: "/requests",
        Role.ADMIN: "/admin/staff",
    }[role]


def set_session_cookie(response: Any, token: str, settings: Settings) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.staff_session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.production,
        path="/",
    )


def clear_session_cookie(response: Any, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE, httponly=True, samesite="lax", secure=settings.production, path="/"
    )


def csrf_token(request: Request) -> str:
    token: str = request.scope["csrftoken"]()
    return token


def csrf_input(request: Request) -> Markup:
    """The hidden field every console form carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, escape(csrf_token(request))
    )


def can(request: Request, permission: str) -> bool:
    """For templates: whether the signed-in account may (navigation shows only what works)."""
    user: StaffUser | None = getattr(request.state, "staff", None)
    return user is not None and allows(user.role, Permission(permission))


def _skip_csrf(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return path.startswith(CSRF_EXEMPT_PREFIXES)


class CsrfMiddleware:
    """The CSRF check as a Starlette middleware (`app.add_middleware(CsrfMiddleware, ...)`)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = _protect(app, settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _protect(app: ASGIApp, settings: Settings) -> ASGIApp:
    wrapped: ASGIApp = asgi_csrf(
        app,
        signing_secret=settings.secret_key.get_secret_value(),
        cookie_name=CSRF_COOKIE,
        cookie_secure=settings.production,
        always_protect={"/login", "/logout"},
        skip_if_scope=_skip_csrf,
    )
    return wrapped
