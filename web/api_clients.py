"""The API clients of the admin's state (`Permission.ADMINISTER`): the channels that may call
`/api/v1`, each with its key's prefix, when it was made and last used, its rate, and whether
it was revoked; a new client (its key shown on the answer page once, never again: the table
keeps only a hash); a client revoked after a confirmation. Creating and revoking are audited
by `dispatch.channels.service`.

The create form carries a random token (`key`), kept with the creation: the same form sent
twice (a double click, a reload) finds the client it made and says so plainly. The API key is
not kept anywhere, so that answer cannot show it again: it says it was shown on the first
answer only, and offers to revoke the client if it was not copied. A name taken by another
client of the state is refused beside the field (names are unique per state). Revoking twice
changes nothing. The page with a key is never cached.

Routes: `GET /admin/api-clients`, `POST /admin/api-clients`,
`GET /admin/api-clients/{client_id}/revoke` (the confirmation), `POST` the same.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from dispatch.channels import rules as channel_rules
from dispatch.channels import service as channel_service
from dispatch.channels.models import ApiClient
from dispatch.errors import InvalidInput
from dispatch.staff import service as staff_service
from dispatch.states import service as state_service
from web.auth import Administrator
from web.deps import ReadSessionDep, RowId, WriteSessionDep
from web.templating import templates

router = APIRouter(tags=["api clients"])

PAGE = "/admin/api-clients"
DEFAULT_RATE = 60


def _when(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%d %b %Y %H:%M}" if moment else ""


def _page(
    request: Request,
    session: Session,
    state_code: str,
    *,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    state = state_service.get(session=session, code=state_code)
    tz = ZoneInfo(state.timezone)
    clients = channel_service.list_all(session=session, state_code=state_code)
    context: dict[str, Any] = {
        "clients": clients,
        "when": lambda moment: _when(moment, tz),
        "state": state,
        "form": {"name": "", "rate_per_minute": str(DEFAULT_RATE)},
        "form_key": str(uuid.uuid4()),
        "errors": {},
        "made": None,
        "again": None,
        "done": request.query_params.get("done", "")[:120],
        "rate_high": channel_rules.RATE_HIGH,
        **extra,
    }
    response = templates.TemplateResponse(
        request, "api_clients/index.html", context, status_code=status_code
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get(PAGE, response_class=HTMLResponse)
def clients_page(request: Request, user: Administrator, session: ReadSessionDep) -> HTMLResponse:
    return _page(request, session, user.state_code)


@router.post(PAGE, response_class=HTMLResponse)
def create_client(
    request: Request,
    user: Administrator,
    session: WriteSessionDep,
    name: Annotated[str, Form(max_length=200)] = "",
    rate_per_minute: Annotated[str, Form(max_length=20)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """A new client and its key, shown on this answer only (the same form sent again: what
    it made, without the key, which is kept nowhere)."""
    again = channel_service.made_by_form(
        session=session, state_code=user.state_code, name=name, form_key=key
    )
    if again is not None:
        return _page(request, session, user.state_code, again=again)
    form = {"name": name, "rate_per_minute": rate_per_minute}
    errors: dict[str, str] = {}
    rate = 0
    try:
        rate = int(rate_per_minute.strip())
    except ValueError:
        errors["rate_per_minute"] = "Enter a whole number of requests per minute."
    try:
        channel_rules.client_name(name)
    except InvalidInput as exc:
        errors["name"] = exc.reason.capitalize() + "."
    if not errors:
        try:
            made = channel_service.create(
                session=session,
                state_code=user.state_code,
                name=name,
                rate_per_minute=rate,
                actor=staff_service.actor_of(user),
                form_key=key or None,
            )
        except InvalidInput as exc:
            session.rollback()
            errors[exc.field] = _message(exc)
        else:
            return _page(request, session, user.state_code, made=made)
    return _page(
        request,
        session,
        user.state_code,
        form=form,
        form_key=key or str(uuid.uuid4()),
        errors=errors,
        status_code=422,
    )


def _message(exc: InvalidInput) -> str:
    if exc.field == "name" and "exists" in exc.reason:
        return (
            "This state has a client with this name already (revoked ones keep theirs): "
            "choose another name."
        )
    return exc.reason.capitalize() + "."


def _client(session: Session, client_id: int, state_code: str) -> ApiClient:
    return channel_service.get(session=session, client_id=client_id, state_code=state_code)


@router.get(PAGE + "/{client_id}/revoke", response_class=HTMLResponse)
def confirm_revoke(
    request: Request, client_id: RowId, user: Administrator, session: ReadSessionDep
) -> HTMLResponse:
    """Are you sure? (the channel's calls fail from the moment it is revoked)"""
    client = _client(session, client_id, user.state_code)
    state = state_service.get(session=session, code=user.state_code)
    tz = ZoneInfo(state.timezone)
    return templates.TemplateResponse(
        request,
        "api_clients/revoke.html",
        {"client": client, "last_used": _when(client.last_used_at, tz)},
    )


@router.post(PAGE + "/{client_id}/revoke", response_class=HTMLResponse)
def revoke_client(
    request: Request, client_id: RowId, user: Administrator, session: WriteSessionDep
) -> Response:
    client = _client(session, client_id, user.state_code)
    channel_service.revoke(
        session=session,
        client_id=client_id,
        state_code=user.state_code,
        actor=staff_service.actor_of(user),
    )
    return RedirectResponse(f"{PAGE}?done={quote_plus('revoked ' + client.name)}", status_code=303)
