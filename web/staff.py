"""Managing the console's staff (admins only): the accounts, a new account, a role changed, an
account switched off or given a new password. Each change is audited by `dispatch.staff` with
its fields before and after, and the latest changes are listed under the accounts. A refused
form comes back as typed (422) with the message beside the field it is about. Each form carries
a hidden random key drawn with the page: the same form sent again (a double click, a retried
request) answers as the first did and changes nothing again; an unlock only unlocks an account
locked out at that moment, so the unlock sent again audits nothing twice."""

from __future__ import annotations

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dispatch.errors import Conflict, DispatchError, InvalidInput, NotFound
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import PERMISSIONS, Role
from dispatch.states import service as state_service
from web import admin_history
from web.auth import StaffAdmin
from web.deps import ReadSessionDep, SettingsDep, WriteSessionDep
from web.templating import templates

router = APIRouter()

LABELS = {"role": "Role", "active": "Active", "password": "Password"}
FormKey = Annotated[str, Form(max_length=64)]


def _page(
    request: Request, session: ReadSessionDep | WriteSessionDep, state_code: str, **extra: object
) -> HTMLResponse:
    settings = request.app.state.settings
    users = staff_service.list_all(session=session, state_code=state_code)
    names = {str(u.id): u.username for u in users}
    tz = ZoneInfo(state_service.get(session=session, code=state_code).timezone)
    changes = staff_service.changes(session=session, state_code=state_code)
    context = {
        "users": users,
        "locked": {
            u.username
            for u in users
            if staff_service.locked(session=session, settings=settings, username=u.username)
        },
        "roles": list(Role),
        "permissions": PERMISSIONS,
        "done": request.query_params.get("done", ""),
        "error": "",
        "errors": {},
        "history": admin_history.rows(changes, tz, LABELS, lambda e: names.get(e.entity_id, "")),
        # A fresh key per form drawn: the new account's, and each account row's.
        "form_key": str(uuid.uuid4()),
        "row_keys": {u.id: str(uuid.uuid4()) for u in users},
        **extra,
    }
    status = 422 if context["error"] or context["errors"] else 200
    return templates.TemplateResponse(request, "staff/index.html", context, status_code=status)


@router.get("/admin/staff", response_class=HTMLResponse)
def staff_list(
    request: Request, user: StaffAdmin, session: ReadSessionDep, settings: SettingsDep
) -> HTMLResponse:
    return _page(request, session, user.state_code)


@router.post("/admin/staff", response_class=HTMLResponse)
def staff_create(
    request: Request,
    user: StaffAdmin,
    session: WriteSessionDep,
    role: Annotated[Role, Form()],
    username: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=120)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    key: FormKey = "",
) -> Response:
    again = staff_service.made_by_form(
        session=session, state_code=user.state_code, username=username, form_key=key
    )
    if again is not None:  # the same form sent again: the first one's answer
        return RedirectResponse(f"/admin/staff?done=created+{again.username}", status_code=303)
    try:
        made = staff_service.create(
            session=session,
            state_code=user.state_code,
            username=username,
            name=name,
            role=role,
            password=password,
            actor=staff_service.actor_of(user),
            form_key=key or None,
        )
    except DispatchError as exc:
        session.rollback()
        if isinstance(exc, InvalidInput):
            errors = {exc.field: exc.reason}
        elif isinstance(exc, Conflict):
            errors = {"username": "that username is taken"}
        else:
            errors = {"username": str(exc)}
        return _page(
            request,
            session,
            user.state_code,
            errors=errors,
            form={"username": username, "name": name, "role": role},
            form_key=key or str(uuid.uuid4()),
        )
    return RedirectResponse(f"/admin/staff?done=created+{made.username}", status_code=303)


@router.post("/admin/staff/{user_id}", response_class=HTMLResponse)
def staff_update(
    request: Request,
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: StaffAdmin,
    session: WriteSessionDep,
    role: Annotated[Role | None, Form()] = None,
    active: Annotated[str, Form()] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    unlock: Annotated[str, Form()] = "",
    key: FormKey = "",
) -> Response:
    target = session.get(StaffUser, user_id)
    if target is None or target.state_code != user.state_code:  # another state's: not ours
        raise NotFound(staff_service.STAFF, user_id)
    if unlock:
        # Only an account locked out now: the form sent again after the unlock (or a day
        # later) finds nothing to unlock and audits nothing a second time.
        settings = request.app.state.settings
        if staff_service.locked(session=session, settings=settings, username=target.username):
            actor = staff_service.actor_of(user)
            staff_service.unlock(session=session, user_id=user_id, actor=actor)
        return RedirectResponse(f"/admin/staff?done=unlocked+{target.username}", status_code=303)
    if user_id == user.id and (active == "off" or (role is not None and role is not user.role)):
        return _page(
            request, session, user.state_code, error="You cannot switch off or demote yourself."
        )
    switch = {"on": True, "off": False}.get(active)
    try:
        again = staff_service.updated_by_form(
            session=session,
            user_id=user_id,
            form_key=key,
            role=role,
            active=switch,
            password=password or None,
        )
        if again is not None:  # the same form sent again: the first one's answer
            return RedirectResponse(f"/admin/staff?done=updated+{again.username}", status_code=303)
        changed = staff_service.update(
            session=session,
            user_id=user_id,
            actor=staff_service.actor_of(user),
            role=role,
            active=switch,
            password=password or None,
            form_key=key or None,
        )
    except DispatchError as exc:
        session.rollback()
        what = f"{exc.field}: {exc.reason}" if isinstance(exc, InvalidInput) else str(exc)
        error = f"{target.username}: nothing changed — {what}"
        return _page(request, session, user.state_code, error=error)
    return RedirectResponse(f"/admin/staff?done=updated+{changed.username}", status_code=303)
