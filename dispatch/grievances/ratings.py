"""Citizens' ratings over time, for the feedback page: the average and count per week (in the
state's local weeks, Monday first), by service, by agent and by district, the 1-5
distribution, the latest ratings with their comments, and the open grievances beside them.

The ratings of the chosen weeks are read once (a state rates a few thousand visits a week at
most) and counted by the pure rules (`rules.tally`, `rules.weekly`); open grievances are
counted whatever their age (one opened long ago and still open matters most). Ratings count
up to the moment asked about, as pendency does (a clock set back does not see later ones).

The agent of a rating is the one its feedback names (who did the visit), else the request's
agent (`rating_agent`): the same agent a grievance is opened against
(`service.open_for_rating`), so the agent filter and the by-agent table agree.

Not here: opening and closing grievances (`service`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.errors import NotFound
from dispatch.fieldwork.models import Feedback
from dispatch.geography.models import District
from dispatch.grievances import rules
from dispatch.grievances.models import Grievance, GrievanceStatus
from dispatch.requests.models import DoorstepRequest
from dispatch.states.models import State

#: How many of the latest ratings the page lists.
RECENT = 25
#: The name of ratings whose visit has no agent recorded.
NO_AGENT = "no agent recorded"


def rating_agent() -> sa.ColumnElement[int | None]:
    """The agent a rating is counted for and filtered by: the feedback's, else the
    request's."""
    return sa.func.coalesce(col(Feedback.agent_id), col(DoorstepRequest.agent_id))


@dataclass(frozen=True, slots=True)
class Filters:
    district_id: int | None = None
    service_id: int | None = None
    agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class Rated:
    """One answered feedback request."""

    answered_at: dt.datetime
    day: dt.date  # local
    rating: int
    comment: str
    channel: str
    request_id: int
    reference: str
    service_id: int
    agent_id: int | None  # `rating_agent`: the feedback's, else the request's
    district_id: int


@dataclass(frozen=True, slots=True)
class Group:
    """The ratings of one service, agent or district (`id` None: no agent recorded)."""

    id: int | None
    name: str
    tally: rules.Tally
    open_grievances: int


@dataclass(frozen=True, slots=True)
class Recent:
    rated: Rated
    service_name: str
    agent_name: str
    district_name: str


@dataclass(frozen=True)
class Report:
    weeks: list[dt.date]
    timezone: str
    overall: rules.Tally
    #: All ratings chosen, one tally per week of `weeks`.
    weekly: list[rules.Tally]
    by_service: list[Group]
    by_agent: list[Group]
    by_district: list[Group]
    #: Per district id, service id and agent id (None: no agent recorded), one tally per week
    #: of `weeks`.
    district_weekly: dict[int, list[rules.Tally]] = field(default_factory=dict)
    service_weekly: dict[int, list[rules.Tally]] = field(default_factory=dict)
    agent_weekly: dict[int | None, list[rules.Tally]] = field(default_factory=dict)
    recent: list[Recent] = field(default_factory=list)
    open_grievances: int = 0


def _zone(session: Session, state_code: str) -> ZoneInfo:
    state = session.get(State, state_code)
    if state is None:
        raise NotFound("state", state_code)
    return ZoneInfo(state.timezone)


def rated(
    *,
    session: Session,
    state_code: str,
    since: dt.datetime,
    until: dt.datetime,
    filters: Filters,
    tz: ZoneInfo,
) -> list[Rated]:
    """The state's ratings answered from `since` up to and including `until`, newest first,
    narrowed by `filters`."""
    agent = rating_agent()
    # Nine columns: past what SQLModel's `select` types, so SQLAlchemy's own.
    stmt = (
        sa.select(
            col(Feedback.answered_at),
            col(Feedback.rating),
            col(Feedback.comment),
            col(Feedback.channel),
            agent,
            col(DoorstepRequest.id),
            col(DoorstepRequest.reference),
            col(DoorstepRequest.service_id),
            col(DoorstepRequest.district_id),
        )
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(Feedback.request_id))
        .where(
            col(DoorstepRequest.state_code) == state_code,
            col(Feedback.rating).is_not(None),
            col(Feedback.answered_at) >= since,
            col(Feedback.answered_at) <= until,
        )
        .order_by(col(Feedback.answered_at).desc(), col(Feedback.id).desc())
    )
    if filters.district_id is not None:
        stmt = stmt.where(col(DoorstepRequest.district_id) == filters.district_id)
    if filters.service_id is not None:
        stmt = stmt.where(col(DoorstepRequest.service_id) == filters.service_id)
    if filters.agent_id is not None:
        stmt = stmt.where(agent == filters.agent_id)
    out = []
    for (
        at,
        rating,
        comment,
        channel,
        agent_id,
        rid,
        ref,
        sid,
        did,
    ) in session.execute(stmt):
        if at is None or rating is None or rid is None:
            continue
        out.append(
            Rated(
                answered_at=at,
                day=at.astimezone(tz).date(),
                rating=rating,
                comment=comment,
                channel=channel or "",
                request_id=rid,
                reference=ref,
                service_id=sid,
                agent_id=agent_id,
                district_id=did,
            )
        )
    return out


def _open_grievances(
    session: Session, state_code: str, filters: Filters
) -> list[tuple[int, int | None, int]]:
    """(service id, agent id, district id) of every open grievance narrowed by `filters`."""
    stmt = (
        select(DoorstepRequest.service_id, Grievance.agent_id, DoorstepRequest.district_id)
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(Grievance.request_id))
        .where(Grievance.state_code == state_code, Grievance.status == GrievanceStatus.OPEN)
    )
    if filters.district_id is not None:
        stmt = stmt.where(DoorstepRequest.district_id == filters.district_id)
    if filters.service_id is not None:
        stmt = stmt.where(DoorstepRequest.service_id == filters.service_id)
    if filters.agent_id is not None:
        stmt = stmt.where(Grievance.agent_id == filters.agent_id)
    return [(s, a, d) for s, a, d in session.exec(stmt)]


def _names(
    session: Session, kind: type[Service | Agent | District], ids: set[int]
) -> dict[int, str]:
    """Names by id: a service's English name, an agent's or a district's name."""
    if not ids:
        return {}
    name = Service.name_en if kind is Service else kind.name  # type: ignore[union-attr]
    rows = session.execute(sa.select(col(kind.id), col(name)).where(col(kind.id).in_(sorted(ids))))
    return {int(key): str(value) for key, value in rows}


def _groups(
    tallies: dict[int | None, rules.Tally], open_counts: Counter[int | None], names: dict[int, str]
) -> list[Group]:
    keys = set(tallies) | set(open_counts)
    groups = [
        Group(
            id=key,
            name=names.get(key, f"#{key}") if key is not None else NO_AGENT,
            tally=tallies.get(key, rules.Tally()),
            open_grievances=open_counts.get(key, 0),
        )
        for key in keys
    ]
    # The most rated first (their averages mean most); a name breaks ties.
    return sorted(groups, key=lambda g: (-g.tally.count, -g.open_grievances, g.name))


def report(
    *, session: Session, state_code: str, filters: Filters, weeks: int, now: dt.datetime
) -> Report:
    """Ratings of the last `weeks` weeks (the current one so far, up to `now`) narrowed by
    `filters`."""
    tz = _zone(session, state_code)
    mondays = rules.last_weeks(now.astimezone(tz).date(), weeks)
    since = dt.datetime.combine(mondays[0], dt.time(0), tz).astimezone(dt.UTC)
    rows = rated(
        session=session,
        state_code=state_code,
        since=since,
        until=now.astimezone(dt.UTC),
        filters=filters,
        tz=tz,
    )
    grievances = _open_grievances(session, state_code, filters)
    services = _names(session, Service, {r.service_id for r in rows} | {g[0] for g in grievances})
    agents = _names(
        session,
        Agent,
        {r.agent_id for r in rows if r.agent_id is not None}
        | {g[1] for g in grievances if g[1] is not None},
    )
    districts = _names(
        session, District, {r.district_id for r in rows} | {g[2] for g in grievances}
    )
    by_service = rules.tally_by((r.service_id, r.rating) for r in rows)
    by_agent = rules.tally_by((r.agent_id, r.rating) for r in rows)
    by_district = rules.tally_by((r.district_id, r.rating) for r in rows)
    every = rules.weekly((("all", r.day, r.rating) for r in rows), mondays)
    return Report(
        weeks=mondays,
        timezone=str(tz),
        overall=rules.tally(r.rating for r in rows),
        weekly=every.get("all", [rules.Tally() for _ in mondays]),
        by_service=_groups(dict(by_service.items()), Counter(g[0] for g in grievances), services),
        by_agent=_groups(dict(by_agent.items()), Counter(g[1] for g in grievances), agents),
        by_district=_groups(
            dict(by_district.items()), Counter(g[2] for g in grievances), districts
        ),
        district_weekly=rules.weekly(((r.district_id, r.day, r.rating) for r in rows), mondays),
        service_weekly=rules.weekly(((r.service_id, r.day, r.rating) for r in rows), mondays),
        agent_weekly=rules.weekly(((r.agent_id, r.day, r.rating) for r in rows), mondays),
        recent=[
            Recent(
                rated=r,
                service_name=services.get(r.service_id, ""),
                agent_name=agents.get(r.agent_id, "") if r.agent_id is not None else "",
                district_name=districts.get(r.district_id, ""),
            )
            for r in rows[:RECENT]
        ],
        open_grievances=len(grievances),
    )
