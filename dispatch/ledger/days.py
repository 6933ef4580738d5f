"""Agents' days of money, read from the ledger: for each agent and local day, the visits they
closed at the door, the collections and refunds they recorded, and the declaration that
counts (a supervisor's count at a handover over the agent's own: `rules.counting`),
reconciled (`dispatch.ledger.reconcile`) into expected, collected, refunded, outstanding and
flags. `fee_days` gives the rows of a span of days (by state, district or agent);
`agent_day` one agent-day in full, with its entries, visits and declarations.

Days are the state's local days, midnight to midnight: an entry at 00:10 IST belongs to that
day, not to the UTC day before. Read-only.

Not here: recording money or declarations (`dispatch.ledger.service`), the arithmetic
(`reconcile`), the pages (`web.fees`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography.models import Block, District
from dispatch.ledger import reconcile, rules
from dispatch.ledger.models import EntryKind, FeeDeclaration, LedgerEntry, PaymentMethod
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import RequestStatus
from dispatch.states.models import State

#: The statuses an agent closes a visit with at the door.
CLOSED_AT_THE_DOOR = (RequestStatus.COMPLETED, RequestStatus.FAILED, RequestStatus.NO_SHOW)
#: The most days one table of agent-days spans (a quarter).
MOST_DAYS = 92


@dataclass(frozen=True)
class AgentRef:
    """An agent as the fee pages name them, with the district of their home block."""

    id: int
    name: str
    csc_id: str
    state_code: str
    district_id: int
    district: str


@dataclass(frozen=True)
class FeeDay:
    """One row of the fees table: an agent, a day, its money and flags."""

    agent: AgentRef
    money: reconcile.AgentDay


@dataclass(frozen=True)
class EntryLine:
    """One ledger entry of an agent's day, with its request's reference."""

    id: int
    at: dt.datetime
    agent_id: int
    request_id: int
    reference: str
    kind: EntryKind
    method: PaymentMethod | None
    amount_paise: int
    upi_reference: str | None
    actor: str


@dataclass(frozen=True)
class VisitLine:
    """One request's money on an agent's day, with what a supervisor needs to place it."""

    money: reconcile.VisitMoney
    service: str
    status: RequestStatus  # as it is now
    closed_at: dt.datetime | None  # when the agent closed it that day (None: not that day)


@dataclass(frozen=True)
class AgentDayDetail:
    agent: AgentRef
    day: dt.date
    money: reconcile.AgentDay
    visits: list[VisitLine]
    entries: list[EntryLine]
    declarations: list[FeeDeclaration]  # oldest first
    counts: FeeDeclaration | None  # the one of them that counts (`rules.counting`)


def _bounds(first: dt.date, last: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants from local midnight starting `first` to local midnight ending `last`."""
    start = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    return start, end


def _zone(session: Session, state_code: str) -> ZoneInfo:
    state = session.get(State, state_code)
    if state is None:
        raise NotFound("state", state_code)
    return ZoneInfo(state.timezone)


def _agents(
    session: Session, state_code: str, district_id: int | None, agent_id: int | None
) -> dict[int, AgentRef]:
    stmt = (
        sa.select(Agent, District)
        .join(Block, col(Block.id) == col(Agent.block_id))
        .join(District, col(District.id) == col(Block.district_id))
        .where(col(Agent.state_code) == state_code)
    )
    if district_id is not None:
        stmt = stmt.where(col(District.id) == district_id)
    if agent_id is not None:
        stmt = stmt.where(col(Agent.id) == agent_id)
    out = {}
    for agent, district in session.execute(stmt):
        assert agent.id is not None and district.id is not None
        out[agent.id] = AgentRef(
            id=agent.id,
            name=agent.name,
            csc_id=agent.csc_id,
            state_code=agent.state_code,
            district_id=district.id,
            district=district.name,
        )
    return out


def _entries(
    session: Session, agent_ids: list[int], start: dt.datetime, end: dt.datetime
) -> list[EntryLine]:
    """The agents' collections and refunds between `start` and `end`, in order."""
    stmt = (
        sa.select(LedgerEntry, col(DoorstepRequest.reference))
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(LedgerEntry.request_id))
        .where(
            col(LedgerEntry.agent_id).in_(agent_ids),
            col(LedgerEntry.kind).in_([EntryKind.COLLECT.value, EntryKind.REFUND.value]),
            col(LedgerEntry.at) >= start,
            col(LedgerEntry.at) < end,
        )
        .order_by(col(LedgerEntry.at), col(LedgerEntry.id))
    )
    out = []
    for entry, reference in session.execute(stmt):
        assert entry.id is not None and entry.agent_id is not None
        out.append(
            EntryLine(
                id=entry.id,
                at=entry.at,
                agent_id=entry.agent_id,
                request_id=entry.request_id,
                reference=reference,
                kind=entry.kind,
                method=entry.method,
                amount_paise=entry.amount_paise,
                upi_reference=entry.upi_reference,
                actor=entry.actor,
            )
        )
    return out


@dataclass(frozen=True)
class _Closing:
    agent_id: int
    day: dt.date
    at: dt.datetime
    request_id: int
    reference: str
    status: RequestStatus


def _agent_of(actor: str, fallback: int | None) -> int | None:
    """The agent who reported (the event's actor, `agent:<id>`), else the visit's agent."""
    head, _, rest = actor.partition(":")
    return int(rest) if head == "agent" and rest.isdigit() else fallback


def _closings(
    session: Session,
    state_code: str,
    agent_ids: set[int],
    start: dt.datetime,
    end: dt.datetime,
    tz: ZoneInfo,
) -> list[_Closing]:
    """The visits the agents closed at the door between `start` and `end`: one per agent, day
    and request (a visit failed and completed on one day counts as completed)."""
    stmt = (
        sa.select(RequestEvent, col(DoorstepRequest.reference), col(DoorstepRequest.agent_id))
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(RequestEvent.request_id))
        .where(
            col(DoorstepRequest.state_code) == state_code,
            col(RequestEvent.to_status).in_([s.value for s in CLOSED_AT_THE_DOOR]),
            col(RequestEvent.at) >= start,
            col(RequestEvent.at) < end,
        )
        .order_by(col(RequestEvent.at), col(RequestEvent.id))
    )
    found: dict[tuple[int, dt.date, int], _Closing] = {}
    for event, reference, request_agent in session.execute(stmt):
        agent_id = _agent_of(event.actor, request_agent)
        if agent_id not in agent_ids:
            continue
        closing = _Closing(
            agent_id=agent_id,
            day=event.at.astimezone(tz).date(),
            at=event.at,
            request_id=event.request_id,
            reference=reference,
            status=event.to_status,
        )
        key = (agent_id, closing.day, event.request_id)
        earlier = found.get(key)
        if earlier is None or earlier.status is not RequestStatus.COMPLETED:
            found[key] = closing
    return list(found.values())


def _dues(session: Session, request_ids: set[int]) -> dict[int, int]:
    """What the ledger says each request owes in all (charged less waived)."""
    dues: dict[int, int] = dict.fromkeys(request_ids, 0)
    ids = sorted(request_ids)
    for n in range(0, len(ids), 500):
        stmt = (
            sa.select(
                col(LedgerEntry.request_id),
                col(LedgerEntry.kind),
                sa.func.sum(col(LedgerEntry.amount_paise)),
            )
            .where(
                col(LedgerEntry.request_id).in_(ids[n : n + 500]),
                col(LedgerEntry.kind).in_([EntryKind.CHARGE.value, EntryKind.WAIVE.value]),
            )
            .group_by(col(LedgerEntry.request_id), col(LedgerEntry.kind))
        )
        for request_id, kind, total in session.execute(stmt):
            sign = 1 if EntryKind(kind) is EntryKind.CHARGE else -1
            dues[request_id] += sign * int(total)
    return dues


def _declarations(
    session: Session, agent_ids: list[int], first: dt.date, last: dt.date
) -> dict[tuple[int, dt.date], list[FeeDeclaration]]:
    stmt = (
        select(FeeDeclaration)
        .where(
            col(FeeDeclaration.agent_id).in_(agent_ids),
            col(FeeDeclaration.day) >= first,
            col(FeeDeclaration.day) <= last,
        )
        .order_by(col(FeeDeclaration.at), col(FeeDeclaration.id))
    )
    out: dict[tuple[int, dt.date], list[FeeDeclaration]] = defaultdict(list)
    for row in session.exec(stmt):
        out[(row.agent_id, row.day)].append(row)
    return out


def _declared(rows: list[FeeDeclaration]) -> reconcile.Declared | None:
    """The takings of the declaration that counts among a day's (oldest first), if any."""
    counts = rules.counting(rows)
    if counts is None:
        return None
    return reconcile.Declared(
        cash_paise=counts.cash_paise, upi_paise=counts.upi_paise, actor=counts.actor, at=counts.at
    )


@dataclass(frozen=True)
class _Read:
    """Everything the agent-days of a span are made of."""

    agents: dict[int, AgentRef]
    entries: list[EntryLine]
    closings: list[_Closing]
    dues: dict[int, int]
    declarations: dict[tuple[int, dt.date], list[FeeDeclaration]]
    tz: ZoneInfo


def _read(
    session: Session,
    state_code: str,
    first: dt.date,
    last: dt.date,
    district_id: int | None,
    agent_id: int | None,
) -> _Read:
    if last < first:
        raise InvalidInput("last", last, "the last day is before the first")
    if (last - first).days + 1 > MOST_DAYS:
        raise InvalidInput("last", last, f"at most {MOST_DAYS} days at once")
    tz = _zone(session, state_code)
    agents = _agents(session, state_code, district_id, agent_id)
    if not agents:
        return _Read(agents, [], [], {}, {}, tz)
    start, end = _bounds(first, last, tz)
    ids = sorted(agents)
    closings = _closings(session, state_code, set(ids), start, end, tz)
    return _Read(
        agents=agents,
        entries=_entries(session, ids, start, end),
        closings=closings,
        dues=_dues(session, {c.request_id for c in closings}),
        declarations=_declarations(session, ids, first, last),
        tz=tz,
    )


def _movement(line: EntryLine, tz: ZoneInfo) -> reconcile.Movement:
    return reconcile.Movement(
        kind=line.kind,
        amount_paise=line.amount_paise,
        method=line.method,
        agent_id=line.agent_id,
        request_id=line.request_id,
        reference=line.reference,
        day=line.at.astimezone(tz).date(),
    )


def _visit(closing: _Closing, dues: dict[int, int]) -> reconcile.ClosedVisit:
    return reconcile.ClosedVisit(
        request_id=closing.request_id,
        reference=closing.reference,
        status=closing.status,
        fee_paise=dues.get(closing.request_id, 0),
    )


def _agent_days(read: _Read, today: dt.date) -> dict[tuple[int, dt.date], reconcile.AgentDay]:
    movements: dict[tuple[int, dt.date], list[reconcile.Movement]] = defaultdict(list)
    for line in read.entries:
        m = _movement(line, read.tz)
        movements[(line.agent_id, m.day)].append(m)
    visits: dict[tuple[int, dt.date], list[reconcile.ClosedVisit]] = defaultdict(list)
    for closing in read.closings:
        visits[(closing.agent_id, closing.day)].append(_visit(closing, read.dues))
    keys = set(movements) | set(visits) | set(read.declarations)
    return {
        (agent_id, day): reconcile.reconcile(
            agent_id=agent_id,
            day=day,
            today=today,
            visits=visits.get((agent_id, day), []),
            movements=movements.get((agent_id, day), []),
            declaration=_declared(read.declarations.get((agent_id, day), [])),
        )
        for agent_id, day in keys
    }


def fee_days(
    *,
    session: Session,
    state_code: str,
    first: dt.date,
    last: dt.date,
    today: dt.date,
    district_id: int | None = None,
    agent_id: int | None = None,
) -> list[FeeDay]:
    """Every agent-day of the state's agents (of one district, or one agent) from the local
    day `first` to `last` that has a closed visit, a collection or refund, or a declaration:
    newest day first, then by agent name. `today` tells a late declaration from one not yet
    due. At most `MOST_DAYS` days (`InvalidInput` otherwise)."""
    read = _read(session, state_code, first, last, district_id, agent_id)
    days = _agent_days(read, today)
    rows = [FeeDay(agent=read.agents[a], money=money) for (a, _d), money in days.items()]
    rows.sort(key=lambda r: (-r.money.day.toordinal(), r.agent.name, r.agent.id))
    return rows


def agent_day(*, session: Session, agent_id: int, day: dt.date, today: dt.date) -> AgentDayDetail:
    """One agent's day in full: its money and flags, each request's line (visits closed that
    day and money moved for others), the ledger entries, and every declaration of the day."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent", agent_id)
    read = _read(session, agent.state_code, day, day, None, agent_id)
    ref = read.agents.get(agent_id)
    if ref is None:
        raise NotFound("agent", agent_id)
    money = _agent_days(read, today).get((agent_id, day)) or reconcile.reconcile(
        agent_id=agent_id, day=day, today=today, visits=[], movements=[], declaration=None
    )
    closed_at = {c.request_id: c.at for c in read.closings}
    request_ids = [line.request_id for line in money.lines]
    facts: dict[int, tuple[str, RequestStatus]] = {}
    if request_ids:
        stmt = (
            sa.select(col(DoorstepRequest.id), col(Service.name_en), col(DoorstepRequest.status))
            .join(Service, col(Service.id) == col(DoorstepRequest.service_id))
            .where(col(DoorstepRequest.id).in_(request_ids))
        )
        for request_id, service, status in session.execute(stmt):
            assert request_id is not None
            facts[request_id] = (service, RequestStatus(status))
    visits = [
        VisitLine(
            money=line,
            service=facts[line.request_id][0],
            status=facts[line.request_id][1],
            closed_at=closed_at.get(line.request_id),
        )
        for line in money.lines
    ]
    declarations = read.declarations.get((agent_id, day), [])
    return AgentDayDetail(
        agent=ref,
        day=day,
        money=money,
        visits=visits,
        entries=read.entries,
        declarations=declarations,
        counts=rules.counting(declarations),
    )
