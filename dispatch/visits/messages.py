"""The SMS a citizen gets about their request: which ones, in their language, to whom.

Every message to a citizen is queued here, in the transaction of the change that causes it
(sent after the commit by `dispatch.notifications.service.send`). Messages go only to numbers
the state allows; a citizen who replied STOP still gets the essential ones — about their
request's state and their money — and nothing else. The words are data
(`seed_data/messages/`); this module only picks the key and fills in the request's details.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.notifications import service as notification_service
from dispatch.notifications import texts as message_texts
from dispatch.requests.models import DoorstepRequest
from dispatch.states import service as state_service

#: Messages that go even to a citizen who replied STOP: what happened to their request and
#: their money. Reminders, "on the way", the agent's name and feedback requests do not.
ESSENTIAL = frozenset(
    {
        "booked",
        "logged",
        "rescheduled",
        "reoffered",
        "reoffer_waiting",
        "cancelled",
        "receipt",
        "failed",
        "no_show",
        "stopped",
    }
)


def tell_citizen(
    *,
    session: Session,
    settings: Settings,
    request: DoorstepRequest,
    key: str,
    kind: str,
    now: dt.datetime,
    idempotency_key: str | None = None,
    **details: object,
) -> int | None:
    """Queue message `key` about `request` to its citizen; None when none may go (a number the
    state does not message, or a non-essential message to a citizen who replied STOP).
    Without `idempotency_key`, one message of this kind per version of the request."""
    citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
    state = state_service.get(session=session, code=request.state_code)
    if not state.may_message(citizen.phone):
        return None
    if citizen.sms_opt_out and key not in ESSENTIAL:
        return None
    body = message_body(session=session, settings=settings, request=request, key=key, **details)
    assert request.id is not None
    texts = message_texts.load(settings.seed_dir / "messages")
    message = notification_service.queue(
        session=session,
        to=citizen.phone,
        body=body,
        kind=kind,
        template=key,
        language=texts.language(request.language),
        request_id=request.id,
        idempotency_key=idempotency_key or f"sms:{kind}:{request.id}:{request.version}",
        now=now,
    )
    return message.id


def message_body(
    *,
    session: Session,
    settings: Settings,
    request: DoorstepRequest,
    key: str,
    **details: object,
) -> str:
    """The words of message `key` about `request`, in the request's language: its reference,
    service, window, fee, documents and visit code, and any `details` the message names."""
    texts = message_texts.load(settings.seed_dir / "messages")
    language = texts.language(request.language)
    state = state_service.get(session=session, code=request.state_code)
    service = catalogue_service.get(session=session, service_id=request.service_id)
    window = ""
    if request.window_start is not None and request.window_end is not None:
        window = texts.window(request.window_start, request.window_end, language, state.timezone)
    return texts.text(
        key,
        language,
        service_name=state.service_name,
        line=state.toll_free,
        reference=request.reference,
        service=service.name_in(language),
        window=window,
        total=texts.money(request.fee_paise, language),
        documents=texts.listing(service.documents_in(language), language),
        code=request.visit_code or "",
        **details,
    )
