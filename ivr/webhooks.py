"""The voice webhooks of the toll-free number, under /ivr/voice.

Entry points a Twilio number is configured with: `POST /ivr/voice/incoming` (Voice URL) and
`POST /ivr/voice/status` (status callback). Every other step is linked from the TwiML by
absolute URLs: `/ivr/voice/ask/<step>` (ask again, e.g. after an apology),
`/ivr/voice/answer/<step>` (a Gather's or Enqueue's action) and `/ivr/voice/queue/wait` (the
queue's hold answer). Every request must carry a valid X-Twilio-Signature for the configured
public URL (a router dependency; 403 otherwise). Handlers are plain `def`: they run in the
thread pool, never on the event loop. SMS queued by a step are sent after the response.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine

from dispatch.calls import service as call_service
from dispatch.db import write_session
from dispatch.notifications import service as notification_service
from dispatch.ports import SmsSender
from ivr import conversation, signature
from ivr.deps import Line, LineDep, SettingsDep
from ivr.numbers import seconds
from ivr.steps import person
from ivr.twiml import Reply

log = logging.getLogger(__name__)

XML = "text/xml"


async def twilio_form(request: Request, settings: SettingsDep) -> dict[str, str]:
    """The POSTed parameters, once the signature over the public URL checks out."""
    form = await request.form()
    params = {key: str(value) for key, value in form.multi_items()}
    url = signature.public_url(settings.public_base_url, request.url.path, request.url.query)
    given = request.headers.get(signature.HEADER, "")
    if not signature.is_valid(
        auth_token=settings.twilio_auth_token.get_secret_value(),
        url=url,
        params=params,
        signature=given,
    ):
        log.warning("rejected a webhook with a bad signature for %s", url)
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return params


TwilioForm = Annotated[dict[str, str], Depends(twilio_form)]

router = APIRouter(prefix="/ivr/voice", tags=["ivr"], dependencies=[Depends(twilio_form)])


def deliver(engine: Engine, sender: SmsSender, message_ids: list[int]) -> None:
    """Send the SMS a step queued, after its answer went out and its transaction committed;
    no transaction is open while the provider answers. A refused message stays in the outbox,
    queued for its next try with backoff (one that may have reached the provider is left
    uncertain, never sent blindly again); the call never waits for it."""
    for message_id in message_ids:
        try:
            notification_service.send(engine=engine, message_id=message_id, sender=sender)
        except Exception:
            log.exception("could not deliver SMS %s", message_id)


def _step(
    kind: str, step: str, turn: int, form: dict[str, str], line: Line, background: BackgroundTasks
) -> Response:
    outcome = conversation.handle(
        engine=line.engine,
        settings=line.settings,
        prompts=line.prompts,
        kind=kind,
        step=step,
        turn=turn,
        form=form,
        now=line.clock.now(),
    )
    if outcome.outbox:
        background.add_task(deliver, line.engine, line.sender, outcome.outbox)
    return Response(content=outcome.twiml, media_type=XML)


@router.post("/incoming")
def incoming(form: TwilioForm, line: LineDep, background: BackgroundTasks) -> Response:
    return _step("incoming", "incoming", 0, form, line, background)


@router.post("/ask/{step}")
def ask(
    step: str, form: TwilioForm, line: LineDep, background: BackgroundTasks, t: int = 0
) -> Response:
    return _step("ask", step, t, form, line, background)


@router.post("/answer/{step}")
def answer(
    step: str, form: TwilioForm, line: LineDep, background: BackgroundTasks, t: int = 0
) -> Response:
    return _step("answer", step, t, form, line, background)


@router.post("/status")
def status(form: TwilioForm, line: LineDep) -> Response:
    """The call is over (or changed state): an unsettled call is logged as abandoned at the
    step it reached. Only final statuses end a session."""
    if form.get("CallStatus") in {"completed", "busy", "failed", "no-answer", "canceled"}:
        try:
            with write_session(line.engine, wait_s=line.settings.webhook_db_wait_seconds) as s:
                call_service.end(
                    session=s,
                    call_sid=form.get("CallSid", ""),
                    duration_s=seconds(form.get("CallDuration")),
                    now=line.clock.now(),
                )
        except Exception:  # the call is not ended in our books: let Twilio try again
            log.exception("could not record the end of a call")
            return Response(content=Reply().to_xml(), media_type=XML, status_code=503)
    return Response(content=Reply().to_xml(), media_type=XML)


@router.post("/queue/wait")
def queue_wait(form: TwilioForm, line: LineDep) -> Response:
    reply = person.hold(engine=line.engine, settings=line.settings, prompts=line.prompts, form=form)
    return Response(content=reply.to_xml(), media_type=XML)
