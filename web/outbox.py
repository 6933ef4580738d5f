"""The SMS outbox page (development only, for signed-in staff: it shows message bodies): every
message, newest first, with its masked recipient, kind, language,
segments and encoding, status, attempts, next try, provider id, DLT template and words;
filtered by status. A message given up on (`failed`), `uncertain` or `undelivered` has a
re-send button: a plain form POST (no JavaScript), which queues it again
(`dispatch.notifications.service.resend`, audited) and hands it to the SMS sender after the
answer has gone.
"""

from __future__ import annotations

import logging
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine

from dispatch import validation
from dispatch.db import write_session
from dispatch.notifications import rules
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus
from dispatch.ports import SmsSender
from dispatch.staff import service as staff_service
from dispatch.states import service as state_service
from ivr.deps import get_sms_sender
from web.auth import Developer
from web.deps import EngineDep, ReadSessionDep, SettingsDep
from web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter()

SHOWN = 200


@router.get("/outbox", response_class=HTMLResponse)
def outbox(
    request: Request,
    user: Developer,
    session: ReadSessionDep,
    settings: SettingsDep,
    status: str = "",
    resent: int | None = None,
) -> HTMLResponse:
    chosen = MessageStatus(status) if status in set(MessageStatus) else None
    state = state_service.get(session=session, code=settings.default_state)
    context = {
        "messages": notification_service.recent(session=session, status=chosen, limit=SHOWN),
        "counts": notification_service.counts(session=session),
        "statuses": list(MessageStatus),
        "status": chosen,
        "resendable": rules.RESENDABLE,
        "resent": resent,
        "shown": SHOWN,
        "tz": ZoneInfo(state.timezone),
        "mask": validation.mask_phone,
        "dlt_entity_id": settings.dlt_entity_id,
        "dlt_header": settings.dlt_header,
    }
    return templates.TemplateResponse(request, "outbox/index.html", context)


@router.post("/outbox/{message_id}/resend")
def resend(
    request: Request,
    message_id: int,
    user: Developer,
    engine: EngineDep,
    settings: SettingsDep,
    background: BackgroundTasks,
    status: Annotated[str, Form()] = "",
) -> Response:
    """Queue the message again and send it after answering; back to the list it came from."""
    with write_session(engine) as session:
        notification_service.resend(
            session=session, message_id=message_id, actor=staff_service.actor_of(user)
        )
    background.add_task(_send, engine, get_sms_sender(request, settings), message_id)
    query = f"status={status}&" if status in set(MessageStatus) else ""
    return RedirectResponse(f"/outbox?{query}resent={message_id}", status_code=303)


def _send(engine: Engine, sender: SmsSender, message_id: int) -> None:
    """A failure stays in the outbox with its status; the scheduled sender retries if it may."""
    try:
        notification_service.send(engine=engine, message_id=message_id, sender=sender)
    except Exception:
        log.exception("could not send re-sent SMS %s", message_id)
