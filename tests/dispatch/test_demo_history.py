"""The demo history (`dispatch.demo.add_demo_history`): past weeks made by the real use cases,
so the supervision pages have something true to show on a fresh `make run`."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlmodel import Session, col, select

from dispatch import demo
from dispatch.config import Settings
from dispatch.fieldwork.models import Feedback
from dispatch.grievances.models import Grievance, GrievanceStatus
from dispatch.ledger.days import fee_days
from dispatch.ledger.models import EntryKind, LedgerEntry
from dispatch.ledger.reconcile import FlagKind
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus

NOW = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)


def _made(session: Session) -> list[DoorstepRequest]:
    return list(
        session.exec(
            select(DoorstepRequest).where(col(DoorstepRequest.idempotency_key).like("demo-%"))
        )
    )


def test_history_is_made_by_the_use_cases_at_past_times_and_only_once(
    session: Session, settings: Settings
) -> None:
    made = demo.add_demo_history(
        session=session, settings=settings, state_code="JK", now=NOW, weeks=2, per_week=15
    )
    requests = _made(session)
    assert made == len(requests) > 10
    assert all(r.logged_at < NOW for r in requests)
    statuses = Counter(r.status for r in requests)
    assert statuses[RequestStatus.COMPLETED] >= 10
    assert statuses[RequestStatus.FAILED] >= 1
    # never visited: still assigned, its promised window long gone
    missed = [r for r in requests if r.status is RequestStatus.ASSIGNED]
    assert missed and all(r.window_end is not None and r.window_end < NOW for r in missed)
    # waiting for a window since days ago (the oldest 40 days)
    waiting = [r for r in requests if r.status is RequestStatus.LOGGED]
    assert len(waiting) == 8
    assert min(r.logged_at for r in waiting) < NOW - dt.timedelta(days=39)
    completed = {r.id for r in requests if r.status is RequestStatus.COMPLETED}
    collected = session.exec(
        select(LedgerEntry).where(
            LedgerEntry.kind == EntryKind.COLLECT, col(LedgerEntry.request_id).in_(completed)
        )
    ).all()
    assert {e.request_id for e in collected} == {
        r.id for r in requests if r.status is RequestStatus.COMPLETED and r.fee_paise
    }
    assert {e.method for e in collected} == {"cash", "upi"}
    rated = session.exec(
        select(Feedback).where(
            col(Feedback.request_id).in_(completed), col(Feedback.rating).is_not(None)
        )
    ).all()
    assert rated and all(f.answered_at is not None and f.answered_at < NOW for f in rated)
    # the agents declared their takings: most match, one is short in cash, one left out UPI,
    # the latest day is not declared
    days = fee_days(
        session=session,
        state_code="JK",
        first=NOW.date() - dt.timedelta(days=14),
        last=NOW.date() - dt.timedelta(days=1),
        today=NOW.date(),
    )
    collecting = [d for d in days if d.money.collected_paise]
    assert len(collecting) >= 6
    assert collecting[0].money.declared is None
    assert all(d.money.declared is not None for d in collecting[1:])
    flagged = Counter(k for d in collecting for k in d.money.flag_kinds)
    assert flagged[FlagKind.CASH_DIFFERS] == 1 and flagged[FlagKind.UPI_DIFFERS] == 1
    assert flagged[FlagKind.NOT_DECLARED] == 1
    # poor ratings opened grievances; the supervisor closed all but the two newest
    grievances = session.exec(
        select(Grievance).where(col(Grievance.request_id).in_([r.id for r in requests]))
    ).all()
    poor = [f for f in rated if f.rating is not None and f.rating <= 2]
    assert len(grievances) == len(poor) >= 3
    still_open = [g for g in grievances if g.status is GrievanceStatus.OPEN]
    assert len(still_open) == 2
    assert all(g.note and g.closed_by == "staff:supervisor" for g in grievances if g.closed_at)
    # its SMS went out at their time and its feedback requests were called about: nothing of
    # the past is sent or called on the first minute of `make run`
    ids = [r.id for r in requests]
    assert not session.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.request_id).in_(ids), OutboxMessage.status == MessageStatus.QUEUED
        )
    ).all()
    assert not session.exec(
        select(Feedback).where(
            col(Feedback.request_id).in_(ids),
            col(Feedback.rating).is_(None),
            col(Feedback.call_placed_at).is_(None),
        )
    ).all()
    again = demo.add_demo_history(
        session=session, settings=settings, state_code="JK", now=NOW, weeks=2, per_week=15
    )
    assert again == 0 and len(_made(session)) == len(requests)
