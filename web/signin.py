"""Signing in and out of the console (`/login`, `/logout`).

A wrong username or password gets the same answer, the form again with the username kept; past
the lockout limit the form says to wait. Signing in ends any earlier session of this browser.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

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

router = APIRouter()


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
    try:
        # The slow hash is checked in a read: no write lock is held meanwhile, so that a burst
        # of wrong passwords cannot hold up bookings.
        with read_session(engine) as session:
            attempt = staff_service.check(
                session=session, settings=settings, username=username, password=password
            )
    except staff_service.StaffLockedOut:
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
