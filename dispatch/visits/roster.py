"""The roster's use cases: an agent put on leave (their visits moved to other agents or to a
new time), leave taken back, and a change to an agent who has visits planned.

Leave spans three concepts — the agent's record (`dispatch.agents`), the live plans
(`dispatch.planning`) and the citizen's visit (`dispatch.visits.service`) — so it has this home
of its own, beside the other visit use cases it calls, rather than in `agents` (which must not
know the plans) or `planning` (which must not tell citizens).

`put_on_leave` is one call and one all-or-nothing unit (a savepoint of the caller's
transaction; the caller commits):

1. the leave is recorded (`agent_service.add_leave_days`); from then on the planner does not
   see the agent on those days (`agent_service.available`);
2. each day's plan that holds the agent's visits is saved again without them (the visits wait
   in the plan, unassigned);
3. each of the agent's planned visits of those days (scheduled or assigned: the agent is not on
   the way yet), earliest first, goes to the nearest agent of the district who can take it
   within its window (`dispatch.planning.reassign.move_visit`, the dispatcher's own move, by
   the same exact insertion; the citizen's window is kept, and so no SMS is needed), audited on
   the request as a reassignment;
4. a visit nobody can take is re-offered (`dispatch.visits.reoffer`): moved to the earliest
   window the live plans offer, the citizen told by SMS with the other windows they may have by
   calling, and a call-back opened for the console; a visit for which no window is left in the
   horizon stays in the plan unassigned, its citizen told we will call (the board lists it);
5. visits the agent is already on the way to or at are not touched;
6. the outcome is audited on the agent (`leave_visits`) with the idempotency key: a retry with
   the same key returns it and changes nothing again; the same key for other days is refused.
   Two submits at the same moment cannot both act either: the second's leave rows collide on
   their unique (agent, day) and it returns the first's outcome.

The agents' notices follow by themselves: each move saves a new plan version, and the
scheduled itinerary task (`dispatch.fieldwork.itinerary.send_changes`) tells an agent who had
their day what was added to or taken from it — the agent on leave included — as after any
dispatcher's reassignment.

`end_leave` takes leave back (the visits already moved stay where they went) and has those
days re-planned, so the agent can be given visits again. `update_agent` changes an agent and,
when the change touches planning (shift, days, skills, block...), makes the plans of the days
they have visits outdated and has them re-planned; it refuses to switch off an agent who still
has visits planned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.agents import rules as agent_rules
from dispatch.agents import service as agent_service
from dispatch.agents.models import Agent
from dispatch.agents.rules import InvalidAgent
from dispatch.audit import service as audit
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import utcnow
from dispatch.errors import Conflict
from dispatch.planning import reassign as planning_reassign
from dispatch.planning import service as planning
from dispatch.planning import store, zone
from dispatch.planning.reassign import AgentCannotTake
from dispatch.planning.store import PlanOutdated
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PINNED, RequestStatus
from dispatch.states import service as state_service
from dispatch.visits import reoffer
from dispatch.visits import rules as visit_rules
from dispatch.visits.once import KeyReused
from routing.travel import haversine_m

#: The audit action on the agent that holds a leave's outcome under its key.
LEAVE_VISITS = "leave_visits"
#: The request's audit action for a visit moved off an agent on leave (the desk's word).
REASSIGN = "reassign"
ON_LEAVE = "agent on leave"
#: Statuses of a visit leave moves: planned, the agent not yet on the way.
MOVABLE = frozenset({RequestStatus.SCHEDULED, RequestStatus.ASSIGNED})
#: Agents tried, nearest first, before a visit is given a new time instead.
TRIES = 3
ATTEMPTS = 3

__all__ = [
    "KeyReused",
    "LeaveResult",
    "Moved",
    "NewTime",
    "Untouched",
    "end_leave",
    "leave_result",
    "planned_visits",
    "put_on_leave",
    "update_agent",
]


# --- the outcome --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moved:
    """A visit now with another agent, in the window it had."""

    request_id: int
    reference: str
    agent_id: int
    agent_name: str
    window_start: dt.datetime
    window_end: dt.datetime


@dataclass(frozen=True)
class NewTime:
    """A visit nobody could take in its window: moved to a new one (the citizen told), or,
    with no window left in the horizon (`window_start` None), waiting for a dispatcher."""

    request_id: int
    reference: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    message_id: int | None


@dataclass(frozen=True)
class Untouched:
    """A visit the agent is on the way to or at: left with them."""

    request_id: int
    reference: str
    status: RequestStatus


@dataclass(frozen=True)
class LeaveResult:
    agent_id: int
    first: dt.date
    last: dt.date
    days_added: list[dt.date]
    moved: list[Moved] = field(default_factory=list)
    new_time: list[NewTime] = field(default_factory=list)
    under_way: list[Untouched] = field(default_factory=list)
    replayed: bool = False

    @property
    def waiting(self) -> list[NewTime]:
        """Visits for which no new window could be found: a dispatcher must call."""
        return [v for v in self.new_time if v.window_start is None]

    @property
    def message_ids(self) -> list[int]:
        return [v.message_id for v in self.new_time if v.message_id is not None]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _plain(asdict(self))
        data.pop("replayed")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeaveResult:
        def when(value: object) -> dt.datetime | None:
            return dt.datetime.fromisoformat(str(value)) if value else None

        def day(value: object) -> dt.date:
            return dt.date.fromisoformat(str(value))

        return cls(
            agent_id=int(data["agent_id"]),
            first=day(data["first"]),
            last=day(data["last"]),
            days_added=[day(d) for d in data["days_added"]],
            moved=[
                Moved(
                    request_id=int(m["request_id"]),
                    reference=str(m["reference"]),
                    agent_id=int(m["agent_id"]),
                    agent_name=str(m["agent_name"]),
                    window_start=dt.datetime.fromisoformat(m["window_start"]),
                    window_end=dt.datetime.fromisoformat(m["window_end"]),
                )
                for m in data["moved"]
            ],
            new_time=[
                NewTime(
                    request_id=int(n["request_id"]),
                    reference=str(n["reference"]),
                    window_start=when(n["window_start"]),
                    window_end=when(n["window_end"]),
                    message_id=n["message_id"],
                )
                for n in data["new_time"]
            ],
            under_way=[
                Untouched(int(u["request_id"]), str(u["reference"]), RequestStatus(u["status"]))
                for u in data["under_way"]
            ],
            replayed=True,
        )


def _plain(value: Any) -> Any:
    """Dates and times as ISO text, for the audit log's JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    return value


# --- putting an agent on leave --------------------------------------------------------------------


def put_on_leave(
    *,
    session: Session,
    settings: Settings,
    idempotency_key: str,
    actor: str,
    agent_id: int,
    first: dt.date | None,
    last: dt.date | None,
    reason: str,
    now: dt.datetime | None = None,
) -> LeaveResult:
    """Put the agent on leave from `first` to `last` (one day when `last` is None) and move
    their planned visits of those days: to another agent within the same window, else to a
    new window, re-offered to the citizen (`dispatch.visits.reoffer`). `InvalidAgent` for bad
    days or no reason (nothing written), `KeyReused` for a key already used for other days."""
    now = now or utcnow()
    agent = agent_service.get(session=session, agent_id=agent_id)
    tz = ZoneInfo(state_service.get(session=session, code=agent.state_code).timezone)
    asked = visit_rules.fingerprint(
        "leave", agent=agent_id, first=first, last=last or first, reason=" ".join(reason.split())
    )
    if (done := _stored(session, agent_id, idempotency_key, asked)) is not None:
        return done  # before the checks: a retry the next day is still the same leave
    leave = agent_rules.check_leave(first, last, reason, today=now.astimezone(tz).date())
    try:
        with session.begin_nested():
            result = _leave(session, settings, actor, agent, leave, tz, now)
            audit.record(
                session=session,
                actor=actor,
                entity=agent_service.ENTITY,
                entity_id=agent_id,
                action=LEAVE_VISITS,
                at=now,
                key=idempotency_key,
                fingerprint=asked,
                outcome=result.to_json(),
            )
            session.flush()
    except sa.exc.IntegrityError:
        # A twin submitted at the same moment recorded the same days first: its outcome.
        session.expire_all()
        if (done := _stored(session, agent_id, idempotency_key, asked)) is not None:
            return done
        raise Conflict("leave", agent_id, "was being recorded by someone else") from None
    except Exception:
        session.expire_all()  # what the rolled-back savepoint loaded is stale
        raise
    return result


def leave_result(*, session: Session, agent_id: int, key: str) -> LeaveResult | None:
    """What the leave put in under `key` for this agent did (for the page that shows it)."""
    for entry in agent_service.history(session=session, agent_id=agent_id):
        if entry.action == LEAVE_VISITS and entry.detail.get("key") == key:
            return LeaveResult.from_json(entry.detail["outcome"])
    return None


def _stored(session: Session, agent_id: int, key: str, asked: str) -> LeaveResult | None:
    """The outcome recorded under `key` for this agent, if any; `KeyReused` for other days."""
    for entry in agent_service.history(session=session, agent_id=agent_id):
        if entry.action == LEAVE_VISITS and entry.detail.get("key") == key:
            if entry.detail.get("fingerprint") != asked:
                raise KeyReused(key)
            return LeaveResult.from_json(entry.detail["outcome"])
    return None


def _leave(
    session: Session,
    settings: Settings,
    actor: str,
    agent: Agent,
    leave: agent_rules.LeaveDays,
    tz: ZoneInfo,
    now: dt.datetime,
) -> LeaveResult:
    assert agent.id is not None
    agent_id = agent.id
    start = dt.datetime.combine(leave.first, dt.time(), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(leave.last + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    theirs = planned_visits(session=session, agent_id=agent_id, start=start, end=end)
    added = agent_service.add_leave_days(
        session=session, agent_id=agent_id, leave=leave, actor=actor, at=now
    )
    to_move = [r for r in theirs if r.status in MOVABLE]
    under_way = [Untouched(r.id or 0, r.reference, r.status) for r in theirs if r.status in PINNED]
    days: dict[tuple[int, dt.date], None] = {}
    for request in to_move:
        assert request.window_start is not None
        days[(request.district_id, request.window_start.astimezone(tz).date())] = None
    for district_id, day in days:
        _take_out(session, district_id, day, actor)
    moved: list[Moved] = []
    new_time: list[NewTime] = []
    for request in to_move:
        assert request.id is not None and request.window_start and request.window_end
        taken = None
        if request.window_end > now:
            taken = _to_another_agent(session, request.id, agent_id, actor, now)
        if taken is not None:
            moved.append(
                Moved(
                    request.id,
                    request.reference,
                    taken.id or 0,
                    taken.name,
                    request.window_start,
                    request.window_end,
                )
            )
        else:
            new_time.append(_to_new_time(session, settings, actor, request.id, now))
    return LeaveResult(
        agent_id=agent_id,
        first=leave.first,
        last=leave.last,
        days_added=added,
        moved=moved,
        new_time=new_time,
        under_way=under_way,
    )


def planned_visits(
    *, session: Session, agent_id: int, start: dt.datetime, end: dt.datetime
) -> list[DoorstepRequest]:
    """The agent's visits with a window starting in [start, end), earliest first: those
    planned for them (assigned, or kept with them by a dispatcher while waiting for a place)
    and those they are on the way to or at."""
    stmt = (
        select(DoorstepRequest)
        .where(
            (col(DoorstepRequest.agent_id) == agent_id)
            | (col(DoorstepRequest.pinned_agent_id) == agent_id),
            col(DoorstepRequest.status).in_([s.value for s in MOVABLE | PINNED]),
            col(DoorstepRequest.window_start) >= start,
            col(DoorstepRequest.window_start) < end,
        )
        .order_by(col(DoorstepRequest.window_start), col(DoorstepRequest.id))
    )
    found = list(session.exec(stmt))
    # Under way means with this agent: a visit only kept for them but on its way with
    # someone else is not theirs.
    return [r for r in found if r.status not in PINNED or r.agent_id == agent_id]


def _take_out(session: Session, district_id: int, day: dt.date, actor: str) -> None:
    """Save the zone-day's plan as the planner now sees it, without the agent on leave: their
    visits wait unassigned (their requests say so), the other routes as they were."""
    for _attempt in range(ATTEMPTS):
        try:
            with session.begin_nested():
                zd = zone.load(session, district_id, day)
                store.save(
                    session=session,
                    district_id=district_id,
                    day=day,
                    based_on=zd.version,
                    plan=zd.plan,
                    clock=zd.clock,
                    requests=zd.requests,
                    actor=actor,
                    cause=ON_LEAVE,
                )
                return
        except PlanOutdated:
            session.expire_all()
    raise Conflict("plan", f"{district_id}/{day}", "kept changing while the agent was taken out")


def _to_another_agent(
    session: Session, request_id: int, from_agent: int, actor: str, now: dt.datetime
) -> Agent | None:
    """Move the visit to the nearest agent on duty who can take it within its window; the
    agent it went to, or None when nobody could."""
    request = request_service.get(session=session, request_id=request_id)
    address = citizen_service.get_address(session=session, address_id=request.address_id)
    there = zone.address_location(session, address)
    fitting = [
        c.agent
        for c in planning_reassign.choices(session=session, request_id=request_id)
        if c.fits and not c.current and c.agent.id != from_agent
    ]
    fitting.sort(key=lambda a: (haversine_m(zone.agent_location(session, a), there), a.id or 0))
    for target in fitting[:TRIES]:
        assert target.id is not None
        try:
            planning_reassign.move_visit(
                session=session,
                request_id=request_id,
                agent_id=target.id,
                actor=actor,
                cause=ON_LEAVE,
            )
        except AgentCannotTake:
            continue
        # The planner chose this agent, not a dispatcher: later re-plans may improve on it.
        planning_reassign.unpin(session=session, request_id=request_id, actor=actor)
        audit.record(
            session=session,
            actor=actor,
            entity="request",
            entity_id=request_id,
            action=REASSIGN,
            at=now,
            from_agent=from_agent,
            to_agent=target.id,
            reason=ON_LEAVE,
        )
        return target
    return None


def _to_new_time(
    session: Session, settings: Settings, actor: str, request_id: int, now: dt.datetime
) -> NewTime:
    """Re-offer the visit (`dispatch.visits.reoffer`): the earliest window the live plans
    offer, the citizen told with the other windows they may have, a call-back opened for the
    console; or, with no window left in the horizon, the visit waiting for that call."""
    done = reoffer.reoffer(
        session=session,
        settings=settings,
        request_id=request_id,
        cause=ON_LEAVE,
        actor=actor,
        now=now,
    )
    return NewTime(request_id, done.reference, done.window_start, done.window_end, done.message_id)


# --- taking leave back --------------------------------------------------------------------------


def end_leave(*, session: Session, actor: str, agent_id: int, days: list[dt.date]) -> list[dt.date]:
    """Take back the agent's leave on `days` (nothing for days they do not have off): they are
    on duty again and those days are marked for the scheduled re-plan, which may give them
    visits; the visits moved away when the leave was put in stay where they went. The days
    given back, in order."""
    agent = agent_service.get(session=session, agent_id=agent_id)
    back = agent_service.remove_leave(session=session, agent_id=agent_id, days=days, actor=actor)
    district = agent_service.district_of(session=session, agent=agent)
    assert district.id is not None
    for day in back:
        planning_reassign.mark_for_replan(session=session, district_id=district.id, day=day)
    return back


# --- changing an agent ----------------------------------------------------------------------------


def update_agent(
    *, session: Session, actor: str, agent_id: int, now: dt.datetime | None = None, **changes: Any
) -> agent_service.Changes:
    """`agent_service.update` for an agent who may have visits planned: switching them off is
    refused while they have any from today on (`InvalidAgent` on `active`: put them on leave
    for those days first, which moves the visits), and a change that touches planning has the
    days they have visits marked for the scheduled re-plan (which re-times their routes, and
    places elsewhere what they can no longer do)."""
    now = now or utcnow()
    agent = agent_service.get(session=session, agent_id=agent_id)
    tz = ZoneInfo(state_service.get(session=session, code=agent.state_code).timezone)
    today = dt.datetime.combine(now.astimezone(tz).date(), dt.time(), tz).astimezone(dt.UTC)
    ahead = planned_visits(
        session=session, agent_id=agent_id, start=today, end=today + dt.timedelta(days=3650)
    )
    if changes.get("active") is False and agent.active and ahead:
        first = ahead[0].window_start
        assert first is not None
        raise InvalidAgent(
            {
                "active": f"{len(ahead)} visit(s) are planned for them from "
                f"{first.astimezone(tz):%a %d %b}: put them on leave for those days first "
                "(the visits move to other agents), then switch them off"
            }
        )
    days = _zone_days(ahead, tz)
    made = agent_service.update(session=session, agent_id=agent_id, actor=actor, **changes)
    if made.changes_plans:
        for district_id, day in days:
            # A new version (the same stops): a plan or an offer computed with the agent as
            # they were is outdated, then the scheduled re-plan looks at the day again.
            store.restamp(session=session, district_id=district_id, day=day)
            planning_reassign.mark_for_replan(session=session, district_id=district_id, day=day)
        planning.clear_cache()  # this process's offers for other days too
    return made


def _zone_days(requests: list[DoorstepRequest], tz: ZoneInfo) -> list[tuple[int, dt.date]]:
    found: dict[tuple[int, dt.date], None] = {}
    for r in requests:
        if r.window_start is not None:
            found[(r.district_id, r.window_start.astimezone(tz).date())] = None
    return list(found)
