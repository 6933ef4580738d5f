"""Signing in and out of the console (`/login`, `/logout`).

A wrong username or password gets the same answer, the form again with the username kept; past
the lockout limit the form says to wait. Signing in ends any earlier session of this browser.

Two throttles come before the password is even checked (`SignInThrottle`), counted with the
`limits` library over a moving window of `Settings.staff_lockout_minutes` in the storage
`Settings.rate_limit_url` names (`memory://` per process, `redis://...` shared by every process
and machine): failed sign-ins from one client address (`sign_in_failures_per_address`: a guesser
trying many usernames, each below its own lockout) and attempts at one username
(`sign_in_attempts_per_username`, before the database's lockout has to count them). Either one
answers 429 without checking anything. When the storage cannot be reached, sign-in goes on (the
database's lockout per username still holds) and a warning is logged.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.staff import service as staff_service
from web.auth import (
    COOKIE,
    OptionalStaff,
    clear_session_cookie,
    home_of,
    safe_next,
    set_session_cookie,
)
from web.deps import EngineDep, SettingsDep, WriteSessionDep
from web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter()

NAMESPACE = "doorstep-sign-in"


class SignInThrottle:
    """The sign-in throttles of one application (its storage is made once, in `create_app`)."""

    def __init__(self, settings: Settings) -> None:
        self.strategy = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_url))
        minutes = settings.staff_lockout_minutes
        self.per_address = RateLimitItemPerMinute(
            settings.sign_in_failures_per_address, minutes, namespace=NAMESPACE
        )
        self.per_username = RateLimitItemPerMinute(
            settings.sign_in_attempts_per_username, minutes, namespace=NAMESPACE
        )

    def attempt(self, *, address: str, username: str) -> int:
        """Count an attempt at `username` from `address`; 0 if it may go on, else the seconds
        until one may (nothing counted then)."""
        checks = [(self.per_address, "address", address), (self.per_username, "user", username)]
        try:
            for item, *key in checks:
                if not self.strategy.test(item, *key):
                    return self._wait(item, key)
            self.strategy.hit(self.per_username, "user", username)
        except Exception as exc:  # the storage is down: the database's lockout still holds
            log.warning("sign-in throttle not counted (%s): let through", type(exc).__name__)
        return 0

    def failed(self, *, address: str) -> None:
        """Count a failed sign-in from `address`."""
        try:
            self.strategy.hit(self.per_address, "address", address)
        except Exception as exc:
            log.warning("sign-in failure not counted (%s)", type(exc).__name__)

    def _wait(self, item: RateLimitItem, key: list[str]) -> int:
        stats = self.strategy.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))


def _throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    return throttle


def _address(request: Request) -> str:
    """The client's address as the server saw it (behind a proxy, the one uvicorn's
    `--forwarded-allow-ips` lets it read from X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


def _form(
    request: Request,
    *,
    next_url: str | None,
    username: str = "",
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    context = {"next": next_url or "", "username": username, "error": error}
    return templates.TemplateResponse(request, "signin/login.html", context, status_code=status)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, user: OptionalStaff, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next) or home_of(user.role), status_code=303)
    return _form(request, next_url=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    target = safe_next(next)
    throttle, address = _throttle(request), _address(request)
    if wait := throttle.attempt(address=address, username=username.strip().lower()):
        refused = _form(
            request,
            next_url=target,
            username=username,
            error=f"Too many sign-in attempts. Try again in {math.ceil(wait / 60)} minutes.",
            status=429,
        )
        refused.headers["Retry-After"] = str(wait)
        return refused
    try:
        # The slow hash is checked in a read: no write lock is held meanwhile, so that a burst
        # of wrong passwords cannot hold up bookings.
        with read_session(engine) as session:
            attempt = staff_service.check(
                session=session, settings=settings, username=username, password=password
            )
    except staff_service.StaffLockedOut:
        throttle.failed(address=address)
        return _form(
            request,
            next_url=target,
            username=username,
            error="Too many wrong passwords for this username. Wait "
            f"{settings.staff_lockout_minutes} minutes, or ask an admin to unlock it.",
            status=429,
        )
    with write_session(engine) as session:
        if old := request.cookies.get(COOKIE):  # a new sign-in ends this browser's old session
            staff_service.sign_out(session=session, token=old)
        signed = staff_service.record(session=session, settings=settings, attempt=attempt)
    if signed is None:
        throttle.failed(address=address)
        return _form(
            request,
            next_url=target,
            username=username,
            error="That username and password do not match an active account.",
            status=401,
        )
    response = RedirectResponse(target or home_of(signed.user.role), status_code=303)
    set_session_cookie(response, signed.token, settings)
    return response


@router.post("/logout")
def logout(request: Request, session: WriteSessionDep, settings: SettingsDep) -> Response:
    if token := request.cookies.get(COOKIE):
        staff_service.sign_out(session=session, token=token)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, settings)
    return response
