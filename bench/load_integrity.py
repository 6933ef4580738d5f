"""After a load run: is anything half-written, doubled or lost? Read from the database alone.

`check(engine, since)` looks at every request logged from `since` and every zone-day their
windows fall on, and lists what is wrong (an empty list: nothing):

- each request has its audit trail (the `logged` event, and the `scheduled` one if it has a
  window), exactly one charge of its fee, at most one booking SMS, and, if it has a window,
  exactly one stop in the current plan of its zone-day (its visit; none if the plan left it
  out and it waits at risk for other windows);
- no charge belongs to no request;
- each zone-day's current plan holds no request twice, only requests that are planned, and
  passes the independent checker (`routing.checker`: windows, shifts, breaks, daily caps),
  so no window holds more visits than the agents can make.

It also counts what it looked at (`Counts`). Not here: the load itself (`bench.load`,
`bench.load_bookings`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.db import read_session
from dispatch.ledger.models import EntryKind, LedgerEntry
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning_service
from dispatch.planning import zone
from dispatch.planning.models import PlanStop
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import PLANNED, RequestStatus
from routing.checker import check as check_plan

#: The kind of outbox message a booking queues (`dispatch.visits.service.book_visit`).
BOOKING_SMS = "booking"


@dataclass
class Counts:
    """What the check looked at."""

    requests: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    scheduled: int = 0
    charges: int = 0
    booking_sms: int = 0
    zone_days: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(engine: Engine, since: dt.datetime) -> Counts:
    """Every request logged from `since`, and the zone-days of their windows, checked."""
    counts = Counts()
    with read_session(engine) as session:
        requests = list(
            session.exec(
                select(DoorstepRequest)
                .where(DoorstepRequest.logged_at >= since)
                .order_by(col(DoorstepRequest.id))
            )
        )
        counts.requests = len(requests)
        counts.by_channel = dict(Counter(str(r.channel) for r in requests))
        events = _events(session, since)
        charges = _charges(session, since)
        sms = _booking_sms(session, since)
        counts.charges = sum(len(v) for v in charges.values())
        counts.booking_sms = sum(sms.values())
        zone_days: set[tuple[int, dt.date]] = set()
        for request in requests:
            assert request.id is not None
            problems = _request_problems(request, events[request.id], charges[request.id])
            if sms[request.id] > 1:
                problems.append(f"{sms[request.id]} booking SMS")
            if request.window_start is not None:
                counts.scheduled += request.status in PLANNED
                zone_days.add(
                    (
                        request.district_id,
                        planning_service.local_day(session=session, request=request),
                    )
                )
            counts.problems += [f"{request.reference}: {p}" for p in problems]
        counts.problems += _orphan_charges(session, since)
        stops = {zd: _current_stops(session, *zd) for zd in zone_days}
        for request in requests:
            if request.window_start is None or request.status not in PLANNED:
                continue
            day = planning_service.local_day(session=session, request=request)
            placed = stops[(request.district_id, day)][request.id or 0]
            # A visit the plan left out waits, at risk, to be offered other windows.
            if placed != 1 and not (placed == 0 and request.at_risk):
                counts.problems.append(
                    f"{request.reference}: {placed} stops in its zone-day's current plan"
                )
        for (district_id, day), found in sorted(stops.items()):
            counts.problems += _zone_day_problems(session, district_id, day, found)
        counts.zone_days = len(zone_days)
    return counts


def _events(session: Session, since: dt.datetime) -> dict[int, list[RequestStatus]]:
    rows = session.exec(
        select(RequestEvent.request_id, RequestEvent.to_status)
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(RequestEvent.request_id))
        .where(DoorstepRequest.logged_at >= since)
    )
    out: dict[int, list[RequestStatus]] = defaultdict(list)
    for request_id, to_status in rows:
        out[request_id].append(RequestStatus(to_status))
    return out


def _charges(session: Session, since: dt.datetime) -> dict[int, list[int]]:
    rows = session.exec(
        select(LedgerEntry.request_id, LedgerEntry.amount_paise)
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(LedgerEntry.request_id))
        .where(DoorstepRequest.logged_at >= since, LedgerEntry.kind == EntryKind.CHARGE)
    )
    out: dict[int, list[int]] = defaultdict(list)
    for request_id, amount in rows:
        out[request_id].append(amount)
    return out


def _booking_sms(session: Session, since: dt.datetime) -> Counter[int]:
    rows = session.exec(
        select(OutboxMessage.request_id)
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(OutboxMessage.request_id))
        .where(DoorstepRequest.logged_at >= since, OutboxMessage.kind == BOOKING_SMS)
    )
    return Counter(request_id for request_id in rows if request_id is not None)


def _request_problems(
    request: DoorstepRequest, events: list[RequestStatus], charges: list[int]
) -> list[str]:
    problems = []
    if RequestStatus.LOGGED not in events:
        problems.append("no 'logged' event in its audit trail")
    if request.window_start is not None and RequestStatus.SCHEDULED not in events:
        problems.append("a window but no 'scheduled' event in its audit trail")
    if request.status in PLANNED and request.window_start is None:
        problems.append(f"{request.status} without a window")
    expected = [request.fee_paise] if request.fee_paise else []
    if sorted(charges) != expected:
        problems.append(f"charges {charges} paise, expected {expected}")
    return problems


def _orphan_charges(session: Session, since: dt.datetime) -> list[str]:
    """Charges from `since` whose request does not exist (a foreign key should make this
    impossible; SQLite enforces one only when asked)."""
    rows = session.exec(
        select(LedgerEntry.id, LedgerEntry.request_id)
        .outerjoin(DoorstepRequest, col(DoorstepRequest.id) == col(LedgerEntry.request_id))
        .where(
            LedgerEntry.at >= since,
            LedgerEntry.kind == EntryKind.CHARGE,
            col(DoorstepRequest.id).is_(None),
        )
    )
    return [f"charge {entry} for request {request} that does not exist" for entry, request in rows]


def _current_stops(session: Session, district_id: int, day: dt.date) -> Counter[int]:
    """How many stops each request has in the zone-day's current plan."""
    version = zone.current_version(session, district_id, day)
    rows = session.exec(
        select(PlanStop.request_id).where(
            PlanStop.district_id == district_id, PlanStop.day == day, PlanStop.version == version
        )
    )
    return Counter(rows)


def _zone_day_problems(
    session: Session, district_id: int, day: dt.date, stops: Counter[int]
) -> list[str]:
    where = f"zone-day {district_id}/{day}"
    problems = [f"{where}: request {r} {n} times" for r, n in sorted(stops.items()) if n > 1]
    if stops:
        statuses = session.exec(
            select(DoorstepRequest.id, DoorstepRequest.status).where(
                col(DoorstepRequest.id).in_(list(stops))
            )
        )
        problems += [
            f"{where}: request {r} is in the plan but {status}"
            for r, status in statuses
            if status not in PLANNED
        ]
    zd = zone.load(session, district_id, day)
    problems += [
        f"{where}: {v}" for v in check_plan(zd.problem, zd.plan, require_all_accounted=False)
    ]
    return problems
