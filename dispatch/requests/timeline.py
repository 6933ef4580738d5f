"""A request's whole history as one time-ordered list, for the people who look after it.

Merges five records kept by their own packages: the request's lifecycle events
(`request_event`: state changes, who and why), the phone calls about it (the call that booked
or changed it, and the citizen's other calls since it was logged that were about no other
request) and the call-backs promised for it, the SMS queued about it (their words with the
visit code hidden: the code is the citizen's proof), its fee ledger entries, and the audit
entries about it (planning changes, the console's reassignments and priorities) with the use
cases run on it (`visit_command`: booked, rescheduled, cancelled, reported, by whom). Each becomes
an `Entry` with a kind, a time, an actor where one is known, a title and a detail line.
Oldest first; ties keep the order things happened in (by kind, then by id).

A query only. Not here: what the records mean for the request (`dispatch.requests.service`,
`dispatch.ledger`), or how a page shows them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.audit import service as audit_service
from dispatch.calls.models import Callback, CallSession
from dispatch.ledger.models import LedgerEntry
from dispatch.notifications.models import OutboxMessage
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.visits.models import VisitCommand

HIDDEN_CODE = "••••"


class EntryKind(StrEnum):
    STATE = "state"
    CALL = "call"
    SMS = "sms"
    LEDGER = "ledger"
    AUDIT = "audit"

    @property
    def label(self) -> str:
        return {
            EntryKind.STATE: "state change",
            EntryKind.CALL: "call",
            EntryKind.SMS: "SMS",
            EntryKind.LEDGER: "ledger",
            EntryKind.AUDIT: "audit",
        }[self]


_ORDER = {kind: n for n, kind in enumerate(EntryKind)}


@dataclass(frozen=True)
class Entry:
    """One line of the history (`at` in UTC; `amount_paise` for ledger entries)."""

    at: dt.datetime
    kind: EntryKind
    title: str
    detail: str = ""
    actor: str | None = None
    amount_paise: int | None = None
    source_id: int = 0


def timeline(*, session: Session, request_id: int) -> list[Entry]:
    """Everything recorded about the request, oldest first. `NotFound` for no such request."""
    request = request_service.get(session=session, request_id=request_id)
    entries = [
        *_state_changes(session, request_id),
        *_calls(session, request),
        *_callbacks(session, request_id),
        *_messages(session, request),
        *_ledger(session, request_id),
        *_audit(session, request_id),
        *_commands(session, request_id),
    ]
    entries.sort(key=lambda e: (e.at, _ORDER[e.kind], e.source_id))
    return entries


def _state_changes(session: Session, request_id: int) -> list[Entry]:
    rows = session.exec(
        select(RequestEvent)
        .where(RequestEvent.request_id == request_id)
        .order_by(col(RequestEvent.id))
    )
    return [
        Entry(
            at=e.at,
            kind=EntryKind.STATE,
            title=f"{e.from_status} → {e.to_status}" if e.from_status else f"{e.to_status}",
            detail=e.reason or "",
            actor=e.actor,
            source_id=e.id or 0,
        )
        for e in rows
    ]


def _calls(session: Session, request: DoorstepRequest) -> list[Entry]:
    """Calls that settled on this request, and the citizen's calls since it was logged that
    settled on no request (a status check, a caller who hung up)."""
    about_it = col(CallSession.request_id) == request.id
    the_citizens = sa.and_(
        col(CallSession.citizen_id) == request.citizen_id,
        col(CallSession.request_id).is_(None),
        col(CallSession.started_at) >= request.logged_at,
    )
    rows = session.exec(
        select(CallSession).where(sa.or_(about_it, the_citizens)).order_by(col(CallSession.id))
    )
    out = []
    for call in rows:
        parts = [f"ended at step {call.ended_step}" if call.ended_step else f"at {call.step}"]
        if call.duration_s is not None:
            parts.append(f"{call.duration_s} s")
        parts.append(f"language {call.language}")
        out.append(
            Entry(
                at=call.started_at,
                kind=EntryKind.CALL,
                title=f"phone call: {call.status.value}",
                detail=", ".join(parts),
                actor="caller",
                source_id=call.id or 0,
            )
        )
    return out


def _callbacks(session: Session, request_id: int) -> list[Entry]:
    rows = session.exec(
        select(Callback).where(Callback.request_id == request_id).order_by(col(Callback.id))
    )
    out = []
    for cb in rows:
        detail = f"reason {cb.reason.value}, {cb.status.value}"
        if cb.outcome:
            detail += f", outcome {cb.outcome}"
        out.append(
            Entry(
                at=cb.created_at,
                kind=EntryKind.CALL,
                title="call-back promised",
                detail=detail,
                actor=cb.done_by or cb.claimed_by,
                source_id=cb.id or 0,
            )
        )
    return out


def hide_code(body: str, code: str | None) -> str:
    """The message's words with the visit code (a whole number of its own) hidden."""
    if not code:
        return body
    return re.sub(rf"(?<!\d){re.escape(code)}(?!\d)", HIDDEN_CODE, body)


def _messages(session: Session, request: DoorstepRequest) -> list[Entry]:
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.request_id == request.id)
        .order_by(col(OutboxMessage.id))
    )
    return [
        Entry(
            at=m.created_at,
            kind=EntryKind.SMS,
            title=f"SMS {m.template or m.kind}: {m.status.value}",
            detail=hide_code(m.body, request.visit_code),
            source_id=m.id or 0,
        )
        for m in rows
    ]


def _ledger(session: Session, request_id: int) -> list[Entry]:
    rows = session.exec(
        select(LedgerEntry)
        .where(LedgerEntry.request_id == request_id)
        .order_by(col(LedgerEntry.id))
    )
    out = []
    for e in rows:
        detail = [e.note] if e.note else []
        if e.method is not None:
            detail.append(e.method.value)
        if e.upi_reference:
            detail.append(f"UPI ref {e.upi_reference}")
        out.append(
            Entry(
                at=e.at,
                kind=EntryKind.LEDGER,
                title=e.kind.value,
                detail=", ".join(detail),
                actor=e.actor,
                amount_paise=e.amount_paise,
                source_id=e.id or 0,
            )
        )
    return out


#: Audit details not worth a line of their own (what made a retry safe, and its answer).
_QUIET = frozenset({"idempotency_key", "fingerprint", "outcome"})


def _audit(session: Session, request_id: int) -> list[Entry]:
    rows = audit_service.history(session=session, entity="request", entity_id=request_id)
    return [
        Entry(
            at=a.at,
            kind=EntryKind.AUDIT,
            title=a.action.replace("_", " "),
            detail=_describe(a.detail),
            actor=a.actor,
            source_id=a.id or 0,
        )
        for a in rows
    ]


def _commands(session: Session, request_id: int) -> list[Entry]:
    rows = session.exec(
        select(VisitCommand)
        .where(VisitCommand.request_id == request_id)
        .order_by(col(VisitCommand.id))
    )
    return [
        Entry(
            at=c.at,
            kind=EntryKind.AUDIT,
            title=f"use case {c.use_case.value.replace('_', ' ')}",
            actor=c.actor,
            source_id=c.id or 0,
        )
        for c in rows
    ]


def _describe(detail: dict[str, Any]) -> str:
    """`agent_id: 3 → 5; planned_arrival: …` for before/after pairs, `key: value` otherwise."""
    before, after = detail.get("before"), detail.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        return "; ".join(f"{k}: {before.get(k)} → {after.get(k)}" for k in after)
    return "; ".join(f"{k}: {v}" for k, v in detail.items() if k not in _QUIET)
