"""What the API's commands share: the `Idempotency-Key` header, the SMS sender, the windows
handed out as signed `offer_id`s and read back, domain refusals named by the field of the
request (never its value), and the answer a command gives (`RequestOut`, with
`Idempotent-Replayed` on a retry; the SMS it queued sent after the commit).

Not here: the routes (`web.api.booking`, `web.api.existing`).
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import BackgroundTasks, Depends, Header, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.catalogue import service as catalogue_service
from dispatch.channels import rules as channel_rules
from dispatch.config import Settings
from dispatch.errors import InvalidInput
from dispatch.notifications import service as notification_service
from dispatch.planning.service import WindowOffer
from dispatch.ports import SmsSender
from dispatch.requests import service as request_service
from dispatch.states.models import State
from dispatch.visits import rules as visit_rules
from dispatch.visits.service import VisitResult
from ivr.deps import get_sms_sender
from web.api.problems import ApiProblem, FieldProblem
from web.api.schemas import (
    RequestOut,
    WindowOut,
)
from web.intake_page import window_label

log = logging.getLogger(__name__)

#: Windows offered at once (a channel can list more than the phone line can say).
OFFERED_WINDOWS = 6
BOOK, RESCHEDULE, CANCEL = "book", "reschedule", "cancel"

SenderDep = Annotated[SmsSender, Depends(get_sms_sender)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=channel_rules.IDEMPOTENCY_KEY.pattern,
        description="made by the channel for this command (a UUID), sent again unchanged on "
        "each retry: the command runs once; another body under the same key gets 409",
        examples=["6f1c2a1e-3c4b-4c55-9a57-1f0e8f6e2b10"],
    ),
]


# Beside the 401, 422 and 429 every route may give (`web.api.app.COMMON`).
COMMAND_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "no `Idempotency-Key` (`idempotency-key-missing`), or not JSON"},
    409: {"description": "`key-reused`, `window-taken`, `too-late` or `conflict`"},
}


# Where a domain check's field is in the request, to name it in a problem.
FIELDS = {
    "phone": "body.citizen.phone",
    "name": "body.citizen.name",
    "language": "body.citizen.language",
    "landmark": "body.address.landmark",
    "lat": "body.address.village_id",
    "lon": "body.address.village_id",
    "village": "body.address.village_id",
    "service": "body.service",
    "offer_id": "body.offer_id",
    "offer": "body.offer_id",
    "request": "body.offer_id",
    "reference": "path.reference",
    "X-Citizen-Phone": "header.x-citizen-phone",
}


def invalid(exc: InvalidInput) -> ApiProblem:
    """A domain check's refusal, naming the field in the request (never the value)."""
    field = FIELDS.get(exc.field, exc.field)
    return ApiProblem(
        "invalid-input",
        f"{field}: {exc.reason}.",
        errors=[FieldProblem(field=field, message=exc.reason)],
    )


def windows(found: list[WindowOffer], settings: Settings, state: State) -> list[WindowOut]:
    secret = settings.secret_key.get_secret_value()
    tz = ZoneInfo(state.timezone)
    return [
        WindowOut(
            offer_id=channel_rules.seal_offer(o.to_json(), secret),
            start=o.start,
            end=o.end,
            label=window_label(o.start, o.end, tz),
        )
        for o in found
    ]


def offer_from(
    offer_id: str, settings: Settings, now: dt.datetime, district_id: int
) -> WindowOffer:
    """The window an `offer_id` stands for: made by this server, for this district, not past."""
    data = channel_rules.open_offer(offer_id, settings.secret_key.get_secret_value())
    try:
        offer = WindowOffer.from_json(data)
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("offer_id", offer_id, "not an offer from /offers") from None
    if offer.district_id != district_id:
        raise InvalidInput(
            "offer_id", offer_id, "this window is for another district: ask for offers again"
        )
    if offer.start <= now:
        raise ApiProblem("window-taken", "That window has begun or passed: ask for offers again.")
    return offer


def key_reused() -> ApiProblem:
    return ApiProblem(
        "key-reused",
        "This Idempotency-Key was used for another command or another body: make a new key "
        "for a new command.",
    )


# --- answers ----------------------------------------------------------------------------------


def request_out(session: Session, result: VisitResult, *, verified: bool) -> RequestOut:
    request = request_service.get(session=session, request_id=result.request_id)
    service = catalogue_service.get(session=session, service_id=request.service_id)
    # The code goes to the channel only as the phone line speaks it: no SMS could carry it,
    # and the number that booked is the citizen's own (verified by the channel).
    code = result.visit_code if verified and result.message_id is None else None
    return RequestOut(
        reference=result.reference,
        service=service.code,
        status=result.status,
        window_start=result.window_start,
        window_end=result.window_end,
        fee_paise=result.fee_paise,
        changeable=result.status in visit_rules.CHANGEABLE,
        sms_queued=result.message_id is not None,
        visit_code=code,
    )


def answered(
    response: Response,
    background: BackgroundTasks,
    engine: Engine,
    sender: SmsSender,
    result: VisitResult,
) -> None:
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    elif result.message_id is not None:
        background.add_task(deliver, engine, sender, result.message_id)


def deliver(engine: Engine, sender: SmsSender, message_id: int) -> None:
    """Send the SMS once the answer is out and its transaction committed. A failure stays in
    the outbox for the scheduled retry."""
    try:
        notification_service.send(engine=engine, message_id=message_id, sender=sender)
    except Exception as exc:
        # The type and where, not the message: it may quote the citizen's number.
        trace = "".join(traceback.format_tb(exc.__traceback__))
        log.error("api: could not deliver SMS %s: %s\n%s", message_id, type(exc).__name__, trace)
