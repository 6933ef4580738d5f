"""One webhook, one transaction: find the call, replay a stored answer or run the step's
handler, store the answer with the call's new place, commit — and always answer TwiML.

A retried webhook (same CallSid, same step and turn, same input once trimmed) gets the stored
answer and changes nothing. The turn travels in every action URL (`?t=`), so a caller who
meets the same step twice is not mistaken for a retry. Anything else that is not where the
call is — another step, an earlier or later turn, or any step of a call that has ended — is
refused: it runs nothing (the live call is sent back to its own question; an ended one gets a
hang-up). Whatever fails inside, the caller hears an apology and is asked again, and after
repeated failures is put through to a person; a database that cannot serve the step — no
answer within `webhook_db_wait_seconds`, a connection dropped, a server restarting, a disk
full (`dispatch.db.unavailable`) — puts them through to a person at once, well inside
Twilio's 15 s, with nothing of the step written (its transaction rolled back). Twilio posting
the same step again once the database is back runs it as if for the first time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.calls import service as call_service
from dispatch.calls.models import CallSession
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import unavailable, write_session
from dispatch.states import service as state_service
from dispatch.states.models import State
from ivr import languages, steps
from ivr.flow import ANSWER, ASK, PERSON_KEY, Ctx, Said
from ivr.progress import Progress
from ivr.prompts import P, Prompts
from ivr.twiml import Enqueue, Hangup, Redirect, Reply

log = logging.getLogger(__name__)

#: Failed steps in one call before the caller is put through to a person.
MAX_ERRORS = 2
#: Steps where 0 is not "a person": the queue itself, and the field agents' own menu (0 and
#: hash for the citizens' menu, 0 to end the call).
_NO_PERSON_KEY = frozenset({"person", "queue_left", "agent_pin", "agent_menu"})

steps.register()


@dataclass
class Outcome:
    twiml: str
    outbox: list[int] = field(default_factory=list)


#: Steps Twilio posts to by itself whenever the caller leaves the queue, wherever the call is.
_ANYTIME = frozenset({"queue_left"})


def said_from(form: Mapping[str, str]) -> Said:
    return Said(digits=form.get("Digits", "").strip(), speech=form.get("SpeechResult", "").strip())


def input_hash(form: Mapping[str, str]) -> str:
    """What the caller (or Twilio) sent to a step, as the step reads it: a retry sends the
    same, and " 1" is the same answer as "1"."""
    keys = ("Digits", "SpeechResult", "QueueResult", "QueueTime")
    parts = [" ".join(form.get(k, "").split()) for k in keys]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def state_for(session: Session, settings: Settings, to_number: str) -> State:
    """The state whose toll-free number was called, else the default state."""
    digits = "".join(ch for ch in to_number if ch.isdigit())
    if digits:
        found = state_service.get_by_toll_free(session=session, number=digits)
        if found is not None:
            return found
        for state in state_service.list_all(session=session):
            if digits.endswith(state.toll_free):
                return state
    return state_service.get(session=session, code=settings.default_state)


def handle(
    *,
    engine: Engine,
    settings: Settings,
    prompts: Prompts,
    kind: str,
    step: str,
    turn: int,
    form: Mapping[str, str],
    now: dt.datetime,
) -> Outcome:
    """Answer the webhook `kind` ("incoming", "ask" or "answer") for `step`."""
    call_sid = form.get("CallSid", "")
    if not call_sid:
        return Outcome(_apology(settings, prompts, language="hi", redirect=None, person=False))
    if step not in (ANSWER if kind == "answer" else ASK):
        log.warning("call %s: unknown step %s/%s", call_sid, kind, step)
        return _failed(engine, settings, prompts, call_sid, step)
    try:
        with write_session(engine, wait_s=settings.webhook_db_wait_seconds) as session:
            if kind == "incoming":
                _open(session, settings, call_sid, form, now)
            call = call_service.get_for_update(session=session, call_sid=call_sid)
            key = f"{kind}/{step}"
            digest = input_hash(form)
            # Answers are stored with the turn they advanced the call past, so only a request
            # for an earlier turn can be a retry: a fresh one costs no lookup.
            if turn < call.turn:
                stored = call_service.stored_answer(
                    session=session, call_sid=call_sid, step=key, turn=turn, input_hash=digest
                )
                if stored is not None:
                    return Outcome(stored)
            if not _in_place(call, kind, step, turn):
                return Outcome(_refused(settings, call, kind, step, turn))
            ctx = Ctx(
                session=session,
                settings=settings,
                prompts=prompts,
                call=call,
                state=state_service.get(session=session, code=call.state_code),
                progress=Progress.from_json(call.data),
                now=now,
                step=step,
                form=dict(form),
            )
            reply = _run(ctx, kind, step, said_from(form))
            twiml = reply.to_xml()
            call_service.store_answer(
                session=session,
                call_sid=call_sid,
                step=key,
                turn=turn,
                input_hash=digest,
                answer=twiml,
                now=now,
            )
            call_service.advance(
                session=session,
                call=call,
                step=ctx.at or step,
                data=ctx.progress.to_json(),
                now=now,
            )
            return Outcome(twiml, ctx.outbox)
    except Exception as exc:
        if unavailable(exc):  # asking the database again would only wait or fail again
            log.error(
                "call %s: step %s/%s: the database is unavailable (%s)",
                call_sid,
                kind,
                step,
                type(exc).__name__,
            )
            return Outcome(_apology(settings, prompts, language="hi", redirect=None))
        log.exception("call %s: step %s/%s failed", call_sid, kind, step)
        return _failed(engine, settings, prompts, call_sid, step)


def _in_place(call: CallSession, kind: str, step: str, turn: int) -> bool:
    """Whether a webhook is the one the call is waiting for (retries were answered before)."""
    if call.ended_at is not None:
        return False
    if kind == "answer" and step in _ANYTIME:
        return True
    if kind == "incoming":
        return call.turn == 0
    return step == call.step and turn == call.turn


def _refused(settings: Settings, call: CallSession, kind: str, step: str, turn: int) -> str:
    """The answer to a webhook out of place: nothing runs. A live call is sent back to the
    question it is at; an ended call (or one in the queue, or saying goodbye) is hung up."""
    log.warning(
        "call %s: %s/%s at turn %s refused; the call is at %s, turn %s%s",
        call.call_sid,
        kind,
        step,
        turn,
        call.step,
        call.turn,
        " and has ended" if call.ended_at is not None else "",
    )
    if call.ended_at is None and call.step in ASK and call.step != "goodbye":
        base = settings.public_base_url.rstrip("/")
        return Reply((Redirect(f"{base}/ivr/voice/ask/{call.step}?t={call.turn}"),)).to_xml()
    return Reply((Hangup(),)).to_xml()


def _open(
    session: Session, settings: Settings, call_sid: str, form: Mapping[str, str], now: dt.datetime
) -> None:
    if call_service.find(session=session, call_sid=call_sid) is not None:
        return
    # A call the line placed (a feedback call) has the parties the other way round.
    outbound = form.get("Direction", "").startswith("outbound")
    ours, caller = (form.get("From", ""), form.get("To", ""))
    if not outbound:
        ours, caller = caller, ours
    state = state_for(session, settings, ours)
    citizen = citizen_service.find_by_phone(session=session, state_code=state.code, phone=caller)
    offered = languages.offered(
        state.languages, recorded_prompts=bool(settings.prompt_audio_base_url)
    )
    known = languages.for_caller(citizen.language, offered) if citizen else None
    language = (known or (offered[0] if offered else languages.LANGUAGES[languages.FALLBACK])).code
    call_service.start(
        session=session,
        call_sid=call_sid,
        state_code=state.code,
        from_number=caller,
        to_number=ours,
        language=language,
        citizen_id=citizen.id if citizen else None,
        now=now,
    )


def _run(ctx: Ctx, kind: str, step: str, said: Said) -> Reply:
    if kind == "incoming" or kind == "ask":
        return ASK[step](ctx)
    said = said.keyed()
    if said.digits == PERSON_KEY and step not in _NO_PERSON_KEY:
        ctx.progress.retries.pop(step, None)
        return ASK["person"](ctx)
    if said.acknowledgement and step in ASK:  # "haan" over a prompt: ask it again, no retry
        return ASK[step](ctx)
    return ANSWER[step](ctx, said)


def _failed(
    engine: Engine, settings: Settings, prompts: Prompts, call_sid: str, step: str
) -> Outcome:
    """The apology after a failed step: ask again, or after repeated failures, a person (or,
    if leaving the person queue failed, goodbye: never a loop back into the queue)."""
    language, at, turn, errors = "hi", None, 0, MAX_ERRORS + 1
    try:
        with write_session(engine, wait_s=settings.webhook_db_wait_seconds) as session:
            errors = call_service.count_error(session=session, call_sid=call_sid)
            call = call_service.find(session=session, call_sid=call_sid)
            if call is not None:
                language, at, turn = call.language, call.step, call.turn
    except Exception:
        log.exception("call %s: could not even count the failure", call_sid)
    base = settings.public_base_url.rstrip("/")
    if at is not None and at in ASK and at != "goodbye" and errors <= MAX_ERRORS:
        redirect = f"{base}/ivr/voice/ask/{at}?t={turn}"
        return Outcome(_apology(settings, prompts, language=language, redirect=redirect))
    person = step != "queue_left"
    return Outcome(_apology(settings, prompts, language=language, redirect=None, person=person))


def _apology(
    settings: Settings,
    prompts: Prompts,
    *,
    language: str,
    redirect: str | None,
    person: bool = True,
) -> str:
    """TwiML that needs no database: sorry, then ask again, a person, or goodbye."""
    reply = Reply.of(prompts.say(P.ERROR, language))
    base = settings.public_base_url.rstrip("/")
    if redirect is not None:
        reply += Reply((Redirect(redirect),))
    elif person:
        reply += Reply.of(prompts.say(P.TO_PERSON, language))
        reply += Reply(
            (
                Enqueue(
                    queue=settings.call_agent_queue,
                    action=f"{base}/ivr/voice/answer/queue_left?t=0",
                    wait_url=f"{base}/ivr/voice/queue/wait",
                ),
            )
        )
    else:
        reply += Reply((Hangup(),))
    return reply.to_xml()
