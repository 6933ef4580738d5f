"""Saving a plan: a new version of a zone-day's stops, and the requests updated to match.

A plan computed from version v is saved only if v is still the current version (a
conditional update of `zone_plan`), so a slow re-plan never overwrites a booking made
meanwhile: it gets `PlanOutdated` and is computed again. What a plan must respect changing
without its stops changing (a route locked or unlocked, `dispatch.planning.locks`) makes a
new version too (`restamp`: the same stops), so a plan computed before it is outdated alike.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from dispatch.audit import service as audit
from dispatch.db import utcnow
from dispatch.errors import Conflict
from dispatch.planning import changes, loop, zone
from dispatch.planning.models import PlanStop, ZonePlan
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from routing.plan import Plan, Stop

S = RequestStatus
ACTOR = "planner"
#: Older versions are kept this long for the board's "what changed"; then pruned.
KEEP_VERSIONS = 20


class PlanOutdated(Conflict):
    """The plan was computed from a version that is no longer current."""

    def __init__(self, district_id: int, day: dt.date, based_on: int) -> None:
        super().__init__("plan", f"{district_id}/{day}", f"version {based_on} is no longer current")
        self.based_on = based_on


def bump_version(
    session: Session, district_id: int, day: dt.date, based_on: int, *, improved: bool = False
) -> int:
    """Claim version `based_on + 1` of the zone-day, or raise `PlanOutdated`."""
    table = ZonePlan.__table__  # type: ignore[attr-defined]
    if based_on == 0 and session.get(ZonePlan, (district_id, day)) is None:
        try:
            with session.begin_nested():
                session.execute(
                    sa.insert(table).values(
                        district_id=district_id,
                        day=day,
                        version=1,
                        updated_at=utcnow(),
                        improved_version=1 if improved else 0,
                        pending_since=None if improved else utcnow(),
                    )
                )
            return 1
        except sa.exc.IntegrityError as exc:
            raise PlanOutdated(district_id, day, based_on) from exc
    result = session.execute(
        sa.update(table)
        .where(table.c.district_id == district_id, table.c.day == day, table.c.version == based_on)
        .values(
            version=based_on + 1,
            updated_at=utcnow(),
            **(
                # Improved: nothing waits for the solver, and its lease is over.
                {
                    "improved_version": based_on + 1,
                    "pending_since": None,
                    "solve_claimed_at": None,
                    "solve_token": None,
                    "solve_attempts": 0,
                }
                if improved
                # The first change the solver has not seen starts the debounce.
                # Every change starts the count of attempts again.
                else {
                    "pending_since": sa.func.coalesce(table.c.pending_since, utcnow()),
                    "solve_attempts": 0,
                }
            ),
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise PlanOutdated(district_id, day, based_on)
    loop.forget_loaded(session, district_id, day)
    return based_on + 1


def save(
    *,
    session: Session,
    district_id: int,
    day: dt.date,
    based_on: int,
    plan: Plan,
    clock: zone.Clock,
    requests: dict[str, int],
    actor: str = ACTOR,
    improved: bool = False,
    cause: str | None = None,
) -> int:
    """Persist `plan` as the next version and bring request statuses in line with it; what it
    changed for each request is kept as a `PlanChange` with `cause` (the actor if not given).

    `improved` marks a plan the solver has improved: the zone-day needs no improvement until
    the next booking or change; any other save marks it pending (`ZonePlan.pending_since`).
    """
    version = bump_version(session, district_id, day, based_on, improved=improved)
    change = changes.Recorder(session, district_id, day, version, cause or actor, actor)
    for route in plan.routes:
        agent_id = zone.agent_id_of(route.agent_id)
        for position, stop in enumerate(route.stops):
            session.add(
                PlanStop(
                    district_id=district_id,
                    day=day,
                    version=version,
                    agent_id=agent_id,
                    request_id=zone.request_id_of(stop.visit_id),
                    position=position,
                    planned_arrival=clock.at(stop.start),
                )
            )
    placed = {s.visit_id: (r.agent_id, s) for r in plan.routes for s in r.stops}
    for vid, request_id in requests.items():
        _align(session, request_id, placed.get(vid), clock, actor, change)
    audit.record(
        session=session,
        actor=actor,
        entity="plan",
        entity_id=f"{district_id}/{day}",
        action="save",
        version=version,
        visits=len(placed),
    )
    _prune(session, district_id, day, version)
    session.flush()
    return version


def restamp(*, session: Session, district_id: int, day: dt.date) -> int:
    """Make the zone-day's current plan its next version, stops unchanged: what plans must
    respect has changed (a route locked or unlocked), so a plan computed from the version
    before — a re-plan searching, a booking's insertion — is outdated (`PlanOutdated`) and
    computed again rather than saved. A zone-day without a plan gets an empty version 1.
    Whether the plan still waits for the solver's improvement stays as it was."""
    based_on = 0
    for _attempt in range(3):  # a save that lands between the read and the bump: read again
        row = session.get(ZonePlan, (district_id, day), populate_existing=True)
        based_on = row.version if row is not None else 0
        improved = row is None or row.improved_version >= row.version
        try:
            version = bump_version(session, district_id, day, based_on, improved=improved)
        except PlanOutdated:
            continue
        table = PlanStop.__table__  # type: ignore[attr-defined]
        copied = ("district_id", "day", "agent_id", "request_id", "position", "planned_arrival")
        session.execute(
            sa.insert(table).from_select(
                [*copied, "version", "created_at"],
                sa.select(
                    *(table.c[name] for name in copied),
                    sa.literal(version, sa.Integer),
                    table.c.created_at,
                ).where(
                    table.c.district_id == district_id,
                    table.c.day == day,
                    table.c.version == based_on,
                ),
            )
        )
        _prune(session, district_id, day, version)
        session.flush()
        return version
    raise PlanOutdated(district_id, day, based_on)


def _prune(session: Session, district_id: int, day: dt.date, version: int) -> None:
    session.execute(
        delete(PlanStop).where(
            col(PlanStop.district_id) == district_id,
            col(PlanStop.day) == day,
            col(PlanStop.version) <= version - KEEP_VERSIONS,
        )
    )


def _align(
    session: Session,
    rid: int,
    placed: tuple[str, Stop] | None,
    clock: zone.Clock,
    actor: str,
    change: changes.Recorder,
) -> None:
    """Set a request's agent and ETA from the plan; `scheduled` <-> `assigned` as needed."""
    current = session.get(DoorstepRequest, rid)
    assert current is not None
    agent_id = zone.agent_id_of(placed[0]) if placed is not None else None
    change.saw(current, agent_id, clock.at(placed[1].start) if placed is not None else None)
    if placed is None:
        if current.status is S.ASSIGNED:
            request_service.transition(
                session=session,
                request_id=rid,
                to=S.SCHEDULED,
                actor=actor,
                reason="not in the new plan",
                agent_id=None,
                planned_arrival=None,
            )
        return
    stop = placed[1]
    arrival = clock.at(stop.start)
    if current.status is S.SCHEDULED:
        request_service.transition(
            session=session,
            request_id=rid,
            to=S.ASSIGNED,
            actor=actor,
            agent_id=agent_id,
            planned_arrival=arrival,
        )
    elif current.agent_id != agent_id or current.planned_arrival != arrival:
        if current.status is S.ASSIGNED:
            request_service.update(
                session=session,
                request_id=rid,
                actor=actor,
                agent_id=agent_id,
                planned_arrival=arrival,
            )
        else:  # en route or arrived: pinned, only the estimate moves
            request_service.update(
                session=session, request_id=rid, actor=actor, planned_arrival=arrival
            )


def current_stops(*, session: Session, district_id: int, day: dt.date) -> list[PlanStop]:
    row = session.get(ZonePlan, (district_id, day))
    if row is None:
        return []
    stmt = (
        select(PlanStop)
        .where(
            PlanStop.district_id == district_id,
            PlanStop.day == day,
            PlanStop.version == row.version,
        )
        .order_by(col(PlanStop.agent_id), col(PlanStop.position))
    )
    return list(session.exec(stmt))
