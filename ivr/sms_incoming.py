"""Inbound SMS: `POST /ivr/sms/incoming`, the number's messaging webhook.

Where the provider delivers SMS sent to the state's number, agents report from the door by
SMS (`ARR`, `DONE`, `FAIL`, `NOSHOW`, `HELP`) and citizens answer (`STOP`, `START`, a rating).
Every request must carry a valid X-Twilio-Signature over the public URL (the voice webhooks'
`twilio_form`; 403 otherwise). The reading and the doing are the domain's
(`dispatch.fieldwork.inbox.handle`, one transaction, keyed by MessageSid so a retried webhook
does nothing twice); the reply goes through the outbox like every other message (counted,
DLT-checked, retried), so the TwiML answer is empty. A busy database answers 503: the provider
tries again. Nothing here logs a phone number or a message's words.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import Response

from dispatch.db import write_session
from dispatch.fieldwork import inbox
from ivr.deps import LineDep
from ivr.twiml import Reply
from ivr.webhooks import XML, TwilioForm, deliver, twilio_form

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ivr/sms", tags=["ivr"], dependencies=[Depends(twilio_form)])


@router.post("/incoming")
def incoming(form: TwilioForm, line: LineDep, background: BackgroundTasks) -> Response:
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid:
        return Response(content=Reply().to_xml(), media_type=XML)
    try:
        with write_session(line.engine, wait_s=line.settings.webhook_db_wait_seconds) as session:
            queued = inbox.handle(
                session=session,
                settings=line.settings,
                sender=form.get("From", ""),
                text=form.get("Body", ""),
                message_id=sid,
                now=line.clock.now(),
            )
    except Exception:
        log.exception("could not handle inbound SMS %s", sid)
        return Response(content=Reply().to_xml(), media_type=XML, status_code=503)
    if queued:
        background.add_task(deliver, line.engine, line.sender, queued)
    return Response(content=Reply().to_xml(), media_type=XML)
