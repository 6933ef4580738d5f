"""Talking to a person: the call-agent queue (`<Enqueue>`), or, when the expected wait is long,
a call-back instead; what happened in the queue feeds the next wait estimate."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from sqlalchemy.engine import Engine

from dispatch.calls import service as call_service
from dispatch.calls.models import CallbackReason, CallStatus
from dispatch.config import Settings
from dispatch.db import utcnow, write_session
from ivr.flow import Ctx, Said, answers, asks
from ivr.numbers import count, seconds
from ivr.prompts import P, Prompts
from ivr.twiml import Enqueue, Hangup, Pause, Reply

log = logging.getLogger(__name__)

#: Seconds of silence in each round of the hold answer (Twilio fetches it again when done).
HOLD_PAUSE = 20


@asks("person")
def ask_person(ctx: Ctx) -> Reply:
    wait = call_service.estimated_wait_seconds(
        session=ctx.session, queue=ctx.settings.call_agent_queue, now=ctx.now
    )
    if wait > ctx.settings.callback_wait_seconds and ctx.callback_phone() is not None:
        minutes = math.ceil(wait / 60)
        return ctx.gather("person", ctx.words(P.PERSON_WAIT_LONG, minutes=minutes))
    return enqueue(ctx)


@answers("person")
def on_person(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "1":
        return callback(ctx, CallbackReason.LONG_WAIT)
    return enqueue(ctx)  # waiting is what silence or any other key means here


def enqueue(ctx: Ctx) -> Reply:
    ctx.at = "queue"
    call_service.settle(session=ctx.session, call=ctx.call, status=CallStatus.TRANSFERRED)
    base = ctx.settings.public_base_url.rstrip("/")
    queue = Enqueue(
        queue=ctx.settings.call_agent_queue,
        action=ctx.url("answer", "queue_left"),
        wait_url=f"{base}/ivr/voice/queue/wait",
    )
    return ctx.say(P.PERSON_CONNECTING) + Reply((queue,))


def callback(ctx: Ctx, reason: CallbackReason) -> Reply:
    """A person will ring back (only a number the state may call: else, the queue)."""
    phone = ctx.callback_phone()
    if phone is None:
        return enqueue(ctx)
    call_service.request_callback(
        session=ctx.session,
        call=ctx.call,
        phone=phone,
        reason=reason,
        service_id=ctx.progress.service_id,
        address_id=ctx.progress.address_id,
        request_id=ctx.progress.change_request_id,
        now=ctx.now,
    )
    return ctx.say(P.CALLBACK_NOTED) + ctx.goodbye()


@answers("queue_left")
def on_queue_left(ctx: Ctx, said: Said) -> Reply:
    """Twilio tells how the caller left the queue (Enqueue's action)."""
    result = ctx.form.get("QueueResult", "")
    call_service.record_queue_wait(
        session=ctx.session,
        queue=ctx.settings.call_agent_queue,
        waited_s=seconds(ctx.form.get("QueueTime")) or 0,
        result=result or "unknown",
        call_sid=ctx.call.call_sid,
        now=ctx.now,
    )
    ctx.at = "ended"
    if result in ("bridged", "hangup"):  # talked to a person, or hung up waiting
        return Reply((Hangup(),))
    # leave, redirected, queue-full, error, system-error: nobody could take the call
    reply = ctx.say(P.QUEUE_FAILED)
    if ctx.callback_phone() is None:
        return reply + ctx.goodbye()
    return reply + callback(ctx, CallbackReason.NO_AGENT)


def hold(*, engine: Engine, settings: Settings, prompts: Prompts, form: Mapping[str, str]) -> Reply:
    """The answer to the queue's wait URL: where the caller is in the line, then a pause.
    Records Twilio's average wait as an observation; answers even if the database fails."""
    language = "hi"
    position, average = count(form.get("QueuePosition")), seconds(form.get("AvgQueueTime"))
    try:
        with write_session(engine, wait_s=settings.webhook_db_wait_seconds) as session:
            call = call_service.find(session=session, call_sid=form.get("CallSid", ""))
            if call is not None:
                language = call.language
            if average is not None:
                call_service.record_queue_wait(
                    session=session,
                    queue=settings.call_agent_queue,
                    waited_s=average,
                    result="reported",
                    call_sid=form.get("CallSid") or None,
                    now=utcnow(),
                )
    except Exception:  # the caller on hold must hear something regardless
        log.exception("queue wait: could not read or record the call")
    if position is not None:
        words = prompts.say(P.QUEUE_POSITION, language, position=position)
    else:
        words = prompts.say(P.QUEUE_HOLD, language)
    return Reply.of([*words, Pause(HOLD_PAUSE)])
