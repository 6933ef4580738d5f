"""Inbound SMS: one message from a phone, read as a command and carried out, with the reply
queued to the sender. The SMS webhook (`ivr.sms_incoming`) is a thin adapter over `handle`.

Who sent it decides what it may do: an active agent's number may report on their own visits
(ARR / DONE / FAIL / NOSHOW, HELP); any number may say STOP / START or rate its last visit.
A command from a number that is neither gets no reply (no probing, no paid replies to strangers).
Each inbound message is handled once: the provider's message id keys the report and the reply,
so a retried webhook changes nothing and sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlmodel import Session, select

from dispatch import validation
from dispatch.audit import service as audit
from dispatch.audit.models import AuditEntry
from dispatch.config import Settings
from dispatch.errors import InvalidReference, InvalidTransition, NotFound
from dispatch.fieldwork import access, commands, day, notices, replies
from dispatch.fieldwork import service as field
from dispatch.requests.models import DoorstepRequest
from dispatch.visits.models import UseCase

log = logging.getLogger(__name__)

#: The audit entity noting a citizen's inbound SMS handled (its id is the provider's).
INBOUND = "inbound_sms"


def _handled(session: Session, message_id: str) -> bool:
    stmt = select(AuditEntry.id).where(
        AuditEntry.entity == INBOUND, AuditEntry.entity_id == message_id
    )
    return session.exec(stmt).first() is not None


def handle(
    *,
    session: Session,
    settings: Settings,
    sender: str,
    text: str,
    message_id: str,
    now: dt.datetime,
) -> list[int]:
    """Carry out one inbound SMS; returns the ids of the messages it queued (the reply, and
    whatever the report itself tells citizens)."""
    command = commands.parse(text, default_state=settings.default_state)
    agent = access.by_phone(session=session, phone=sender)
    citizens_command = isinstance(command, commands.Stop | commands.Start) or (
        isinstance(command, commands.Rating) and agent is None
    )
    if citizens_command and replies.citizens_with(session=session, phone=sender):
        # A citizen's STOP, START or rating keeps no record of its own: the message's id is
        # noted, so a retry (even after a later START, or a day later) changes nothing.
        if _handled(session, message_id):
            return []
        audit.record(
            session=session,
            actor="citizen:sms",
            entity=INBOUND,
            entity_id=message_id,
            action=type(command).__name__.lower(),
            at=now,
        )
    if isinstance(command, commands.Stop | commands.Start):
        sent = replies.set_opt_out(
            session=session,
            settings=settings,
            phone=sender,
            stop=isinstance(command, commands.Stop),
            now=now,
            key=message_id,
        )
        return [sent] if sent else []
    if isinstance(command, commands.Rating) and agent is None:
        sent = replies.rate(
            session=session,
            settings=settings,
            phone=sender,
            stars=command.stars,
            comment=command.comment,
            channel="sms",
            now=now,
        )
        return [sent] if sent else []
    if agent is None or agent.id is None:
        log.info("ignored an SMS command from %s: not an agent", validation.mask_phone(sender))
        return []
    key = f"sms:{message_id}"

    def reply(text_key: str, **values: object) -> list[int]:
        sent = notices.tell_agent(
            session=session,
            settings=settings,
            agent=agent,
            key=text_key,
            kind="agent_reply",
            idempotency_key=f"sms-reply:{message_id}",
            now=now,
            **values,
        )
        return [sent] if sent else []

    if isinstance(command, commands.Help):
        return reply("reply_help")
    if isinstance(command, commands.Malformed):
        return reply("reply_malformed", hint=command.hint)
    if isinstance(command, commands.Rating):
        return reply("reply_help")
    try:
        request = field.find_visit(
            session=session,
            agent_id=agent.id,
            reference=command.reference,
            default_state=settings.default_state,
        )
        assert request.id is not None
        report = field.report(
            session=session,
            settings=settings,
            idempotency_key=key,
            agent_id=agent.id,
            request_id=request.id,
            outcome=_outcome(command),
            now=now,
        )
    except (NotFound, InvalidReference):
        return reply("reply_not_found")
    except field.NotToday as exc:
        return reply("reply_not_today", reference=exc.reference)
    except field.WrongVisitCode as exc:
        return reply("reply_wrong_code", reference=exc.reference, left=exc.tries_left)
    except access.AgentLockedOut:
        return reply("reply_locked", minutes=settings.agent_lockout_minutes)
    except InvalidTransition as exc:
        return reply("reply_closed", reference=command.reference, status=str(exc.from_status))
    text_key, values = outcome_text(settings, report, now, session)
    return [*report.message_ids, *reply(text_key, **values)]


def _outcome(
    command: commands.Arrive | commands.Complete | commands.Fail | commands.NoShow,
) -> field.Outcome:
    """The report a parsed agent command asks for."""
    if isinstance(command, commands.Complete):
        return field.Outcome(
            UseCase.COMPLETE,
            visit_code=command.visit_code,
            upi_reference=command.upi_reference,
        )
    if isinstance(command, commands.Fail):
        return field.Outcome(UseCase.FAIL, reason=command.reason)
    if isinstance(command, commands.Arrive):
        return field.Outcome(UseCase.ARRIVE)
    return field.Outcome(UseCase.NO_SHOW)


def outcome_text(
    settings: Settings, report: field.Report, now: dt.datetime, session: Session
) -> tuple[str, dict[str, object]]:
    """The agent's reply to a report: its message key and values (what was recorded, what
    was collected, where to go next)."""
    nxt = (
        notices.agent_text(
            settings, "reply_next", reference=report.next_reference, time=report.next_eta
        )
        if report.next_reference
        else notices.agent_text(settings, "reply_last")
    )
    if report.use_case is UseCase.ARRIVE:
        return "reply_arrived", {
            "reference": report.reference,
            "time": _local(session, report, now),
        }
    if report.use_case is UseCase.COMPLETE:
        method = "method_upi" if report.method == "upi" else "method_cash"
        return "reply_done", {
            "reference": report.reference,
            "amount": notices.agent_money(settings, report.collected_paise),
            "method": notices.agent_text(settings, method),
            "next": nxt,
        }
    if report.use_case is UseCase.FAIL:
        return "reply_failed", {
            "reference": report.reference,
            "reason": _reason(session, report),
            "next": nxt,
        }
    return "reply_no_show", {"reference": report.reference, "next": nxt}


def _local(session: Session, report: field.Report, now: dt.datetime) -> str:
    request = session.get(DoorstepRequest, report.request_id)
    assert request is not None
    return notices.hhmm(now, day.timezone_of(session, request.district_id))


def _reason(session: Session, report: field.Report) -> str:
    request = session.get(DoorstepRequest, report.request_id)
    return (request.status_reason or "") if request else ""
