"""Delivery reports of outgoing SMS: `POST /ivr/sms/status`, Twilio's StatusCallback.

The sender (`ivr.sms.TwilioSmsSender`) asks for reports at this URL with our reference for
the attempt in its query (`?ref=<message id>.<attempt>`), so a report can settle a message
whose SID never reached us (a timeout after sending). Every request must carry a valid
X-Twilio-Signature over the public URL, query included (the voice webhooks' `twilio_form`;
403 otherwise). The report itself is the domain's (`dispatch.notifications.delivery`): it only
moves a message forward, so a replayed or late report changes nothing, and a report about a
message we do not know is answered 200 and ignored. A busy database answers 503, so Twilio
may try again. Nothing here logs a phone number.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dispatch.db import write_session
from dispatch.notifications import delivery
from dispatch.ports import Clock
from ivr.deps import SettingsDep, get_clock, get_engine
from ivr.sms import REFERENCE_PARAMETER, STATUS_CALLBACK_PATH
from ivr.webhooks import TwilioForm, twilio_form

log = logging.getLogger(__name__)

router = APIRouter(tags=["ivr"], dependencies=[Depends(twilio_form)])


@router.post(STATUS_CALLBACK_PATH)
def status(
    request: Request,
    form: TwilioForm,
    settings: SettingsDep,
    clock: Annotated[Clock, Depends(get_clock)],
) -> Response:
    """Apply one delivery report (MessageSid, MessageStatus, ErrorCode) to its message."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    reported = form.get("MessageStatus") or form.get("SmsStatus") or ""
    try:
        with write_session(get_engine(request), wait_s=settings.webhook_db_wait_seconds) as session:
            message = delivery.report(
                session=session,
                provider_id=sid,
                status=reported,
                error_code=form.get("ErrorCode"),
                reference=request.query_params.get(REFERENCE_PARAMETER),
                now=clock.now(),
            )
    except Exception:
        log.exception("could not record the delivery report for %s", sid)
        return Response(status_code=503)
    if message is None:
        log.info("delivery report %s for %s: no such message", reported, sid)
    return Response(status_code=200)
